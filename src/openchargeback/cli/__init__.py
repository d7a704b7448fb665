"""Typer CLI: thin commands over the services."""
