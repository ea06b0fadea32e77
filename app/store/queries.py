"""What the document commands ask of the store (`scriba import | export | history | tree`), as functions
that return data; `app/cli/` prints it. No torch here (nor anywhere in app.store).

Refusals are exceptions with a one-line message: `InputRefused` for a file that cannot be imported,
`StoreError` (and its `DocumentNotFound`) for the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.store.db import default_db_path
from app.store.errors import ReadOnlyError, StoreError
from app.store.repository import DocInfo, RevisionInfo, Store
from engine.document import Document, InputRefused


def open_store(db: str | Path | None) -> Store:
    """The store at `db`, or at the default place ($SCRIBA_DB or the user data folder)."""
    return Store(Path(db).expanduser() if db else default_db_path())


def open_store_to_read(db: str | Path | None) -> Store:
    """`open_store` for commands that only read (export, history, tree): a database in a read-only
    file or folder is opened read-only instead of refused."""
    path = Path(db).expanduser() if db else default_db_path()
    if not path.exists():  # nothing to read: create nothing (no empty database, no folder)
        where = "" if path.parent.is_dir() else f"; the folder {path.parent} does not exist"
        raise StoreError(f"no database at {path} (nothing imported yet{where})")
    try:
        return Store(path)
    except ReadOnlyError:
        return Store(path, read_only=True)


def read_markdown(file: str | Path) -> str:
    """The text of a Markdown file, or InputRefused: unreadable, binary, or not UTF-8."""
    try:
        data = Path(file).expanduser().read_bytes()
    except OSError as exc:
        raise InputRefused(f"cannot read {file}: {exc.strerror or exc}") from None
    try:
        Document.from_bytes(data)  # refuses binary / invalid UTF-8 with a one-line message
        return data.decode("utf-8")
    except InputRefused as exc:
        raise InputRefused(f"{file}: {exc}") from None
    except UnicodeDecodeError:
        raise InputRefused(f"{file}: not UTF-8 text") from None


@dataclass(frozen=True)
class Imported:
    info: DocInfo
    outcome: str  # "new": a new document · "unchanged": as stored · "changed": an external revision of it


def import_markdown(store: Store, text: str, file: str | Path) -> Imported:
    """Import `text` (read from FILE with `read_markdown`). Again with the same path: unchanged -> the
    existing document; changed -> an `external` revision of it."""
    path = Path(file).expanduser()
    try:
        before = store.find_document(str(path.resolve()))
    except StoreError:
        before = None
    info = store.import_document(text, path=str(path))
    if before is None:
        return Imported(info, "new")
    return Imported(info, "unchanged" if before.revision == info.revision else "changed")


def document_markdown(store: Store, key: str, at: int | None = None) -> str:
    """The document (id, path or id prefix) as Markdown: as it is now, or right after revision `at`."""
    info = store.find_document(key)
    if at is not None and at > (last := store.last_revision()):
        raise StoreError(f"no revision {at} yet: the latest is {last} (see scriba history {key})")
    doc = store.at(info.id, at) if at is not None else store.current(info.id)[0]
    return doc.to_markdown()


def document_history(store: Store, key: str, node: str | None = None) -> list[RevisionInfo]:
    """The revisions of a document (or of one node: id or unique prefix), oldest first."""
    return store.history(store.find_document(key).id, node)


def current_document(store: Store, key: str) -> tuple[DocInfo, Document, int]:
    """(info, the document as it is now, its revision id)."""
    info = store.find_document(key)
    doc, revision = store.current(info.id)
    return info, doc, revision
