"""Store errors: each carries a one-line message meant for the writer (the CLI prints it, no traceback)."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The revision store cannot do what was asked: not a database, corrupt, locked, read-only, too new…"""


class ConflictError(StoreError):
    """`commit(..., base_revision=N)`: a node this commit changes was changed by someone else after N."""


class DocumentNotFound(StoreError):
    """No document matches the id, id prefix or file path."""


class ReadOnlyError(StoreError):
    """The database cannot be written here (a read-only file or folder); it can still be opened to read."""
