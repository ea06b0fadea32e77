"""The append-only revision store: SQLAlchemy 2.x on SQLite (WAL), schema managed by Alembic.

    from app.store import Store, StoreError, default_db_path
    with Store(default_db_path()) as store:
        info = store.import_document(text, path="essay.md")
        doc, rev = store.current(info.id)
        ...edit doc...
        store.commit(info.id, doc, author="writer", operation="edit", base_revision=rev)
        store.set_file_hash(info.id, digest)  # after writing the file; store.file_hash(info.id) reads it

See `repository.py` for the semantics (merging, conflicts) and `models.py` for the schema.
"""

from app.store.db import default_db_path
from app.store.errors import ConflictError, DocumentNotFound, ReadOnlyError, StoreError

__all__ = ["ConflictError", "DocInfo", "DocumentNotFound", "ReadOnlyError", "RevisionInfo", "Store", "StoreError",
           "default_db_path"]


def __getattr__(name: str):
    # Store & co. import engine.document (markdown-it, sentencex); load them only when asked for.
    if name in ("Store", "DocInfo", "RevisionInfo"):
        from app.store import repository

        return getattr(repository, name)
    raise AttributeError(name)
