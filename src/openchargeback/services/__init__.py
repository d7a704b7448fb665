"""Use cases shared by the CLI and the web: each takes plain arguments, runs in one
transaction and returns frozen dataclasses."""
