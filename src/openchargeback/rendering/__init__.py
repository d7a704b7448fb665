"""Pure rendering: data in, bytes out."""
