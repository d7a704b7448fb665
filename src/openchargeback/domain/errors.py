"""Errors a user can cause. Each carries a message that names the object, what was
expected and what was found, and the HTTP status a web handler should answer with.
The CLI prints the message and exits 1; nothing here ever becomes a traceback.

A message that tells what to do next in command syntax (a flag, a command) also carries
``web``: the same advice in the web's own words, which the web and its jobs show."""

from __future__ import annotations

from collections.abc import Sequence


class OpenChargebackError(Exception):
    http_status = 400

    def __init__(self, message: str, *, web: str | None = None):
        super().__init__(message)
        self.message = message
        self.web = web or message  # the message as the web says it (no command syntax)

    def __str__(self) -> str:
        return self.message


class InvalidInput(OpenChargebackError):
    """Bad arguments or a bad file."""

    http_status = 422


class NotFound(OpenChargebackError):
    http_status = 404


class Conflict(OpenChargebackError):
    """The request is valid but the state forbids it (a closed period, a duplicate)."""

    http_status = 409


class ConfigError(OpenChargebackError):
    """The configuration file is missing or wrong."""

    http_status = 500


class DatabaseFault(OpenChargebackError):
    """The database could not do its part (disk full, read-only, damaged, locked too long,
    server unreachable): nothing was written; the message names the database and what
    to do."""

    http_status = 503


class FilesNotWritten(OpenChargebackError):
    """Documents stored in the database whose copies in an output folder could not all be
    written (disk full, permissions); the message names the folder, the cause and the
    command that writes them from the database."""

    http_status = 503


class FileRefused(InvalidInput):
    """A file that cannot be imported, with every problem found (file:line:column)."""

    def __init__(self, message: str, problems: Sequence[object] | None = None, *, web: str | None = None):
        super().__init__(message, web=web)
        # focus Problem records (an import) or text lines (registry, converters)
        self.problems: list[object] = list(problems or [])
