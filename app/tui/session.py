"""The open document, without any UI: the file on disk, its Document tree and the revision store.

The store is the record of every change; the file is saved from the tree. If the store cannot be
opened (locked, corrupt) the session still works on the file alone and says so (`store_error`); if a
commit fails (database locked), the change stays in the tree and goes in with the next commit that
succeeds (a commit records the whole current state), so nothing written is lost.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from engine.document import Document, InputRefused, decode
from engine.document.nodes import paused_gc
from app.sync import atomic_write, content_hash

log = logging.getLogger("scriba.tui")

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo.md"


def demo_copy(data_dir: Path | None = None) -> Path:
    """The writer's own copy of the bundled demo (the package copy is never edited)."""
    if data_dir is None:
        from platformdirs import user_data_dir

        data_dir = Path(user_data_dir("scriba"))
    target = Path(data_dir) / "demo.md"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO, target)
    return target


def read_document_file(path: Path) -> str:
    """The file's text ("" if it does not exist yet); InputRefused for binary or invalid UTF-8."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    except IsADirectoryError:
        raise InputRefused(f"{path} is a folder, not a Markdown file") from None
    except OSError as exc:
        raise InputRefused(f"cannot read {path}: {exc.strerror or exc}") from None
    text = decode(data)  # refuses binary / invalid UTF-8 with a one-line reason
    if "\ufffe" in text[:1]:
        raise InputRefused(f"{path.name} looks like UTF-16, not UTF-8")
    return text


@dataclass
class Session:
    path: Path
    doc: Document
    store: object | None = None  # app.store.Store
    doc_id: str | None = None
    revision: int | None = None
    store_error: str | None = None  # why there is no store, or why the last commit failed
    disk_hash: str | None = None  # hash of what we last wrote to / read from the file
    unrecorded: bool = False  # a change is in the tree but not yet in the store
    notes: list[str] = field(default_factory=list)  # things to tell the writer after opening
    provisional: bool = False  # shown from the file while the store is still opening: read-only

    @classmethod
    def preview_of(cls, path: str | Path) -> "Session":
        """The file alone, parsed (fast): shown at once while `open` attaches the store."""
        path = Path(path).expanduser().resolve()
        text = read_document_file(path)
        return cls(path=path, doc=Document.from_markdown(text), disk_hash=content_hash(text), provisional=True)

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def open(cls, path: str | Path, db_path: str | Path | None = None,
             parsed: Document | None = None) -> "Session":
        """Open `path` (imported on first open, resumed from the store afterwards; an edit made to the
        file since is merged in as an `external` revision). Raises InputRefused for a file it won't take.
        `parsed`: the file already parsed (the provisional view's document): imported as it is, not parsed
        again, if the file still reads the same. No cyclic garbage collection meanwhile: all it allocates
        is the document (see `paused_gc`)."""
        with paused_gc():
            return cls._open(path, db_path, parsed)

    @classmethod
    def _open(cls, path: str | Path, db_path: str | Path | None, parsed: Document | None) -> "Session":
        path = Path(path).expanduser().resolve()
        text = read_document_file(path)
        if parsed is not None and parsed.to_markdown() != text:  # the file changed meanwhile
            parsed = None
        session = cls(path=path, doc=None, disk_hash=content_hash(text))
        if not path.exists():
            session.notes.append(f"new file {path.name}: it is written on the first save")
        try:
            session._open_store(text, db_path, parsed)
        except Exception as exc:  # noqa: BLE001 - StoreError, or anything else: work on the file alone
            session.store_error = f"history is off: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            session.notes.append(session.store_error)
            if session.store is not None:
                session.store.close()
            session.store = session.doc_id = session.revision = None
        if session.doc_id is None:
            session.doc = parsed or Document.from_markdown(text)
        session.doc.to_markdown()  # lay it out here (cached), not on the UI thread
        return session

    def _open_store(self, text: str, db_path, parsed: Document | None = None) -> None:
        """Resume the document from the store (merging an edit made to the file since as an `external`
        revision), or import it on first open."""
        from app.store import DocumentNotFound, Store, default_db_path

        self.store = Store(Path(db_path).expanduser() if db_path else default_db_path(), timeout=2.0)
        self.saved_index = Path(str(self.store.path) + ".saved.json")
        try:
            info = self.store.find_document(str(self.path))
        except DocumentNotFound:
            info = None
        if info is not None and info.path == str(self.path):
            doc, revision = self.store.current(info.id)
            if doc.to_markdown() == text:
                self.doc_id, self.doc, self.revision = info.id, doc, revision
                return
            if self.last_known_disk() == content_hash(text):  # the file is as we left it: the store is newer
                self.doc_id, self.doc, self.revision = info.id, doc, revision
                self.notes.append(f"kept the changes to {self.path.name} not saved last time (ctrl+s saves them)")
                return
            self.notes.append(f"{self.path.name} changed outside scriba; merged as an external revision")
        info, self.doc, self.revision = self.store.import_current(text, path=str(self.path), doc=parsed)
        self.remember_disk(content_hash(text))
        self.doc_id = info.id

    # -- the tree and the store ------------------------------------------------------------------

    def commit(self, new_doc: Document, *, author: str, operation: str, **meta) -> list:
        """Make `new_doc` the current document and record it. Returns the revisions written ([] when
        nothing changed or the store is unavailable: then `store_error` says why)."""
        self.doc = new_doc
        if self.store is None or self.doc_id is None:
            self.unrecorded = True
            return []
        from app.store import StoreError

        try:
            revisions = self.store.commit(self.doc_id, new_doc, author=author, operation=operation, **meta)
        except StoreError as exc:
            self.unrecorded = True
            self.store_error = str(exc)
            return []
        self.unrecorded = False
        self.store_error = None
        if revisions:
            self.revision = max(r.id for r in revisions)
        return revisions

    def history(self, node_id: str | None = None) -> list:
        if self.store is None or self.doc_id is None:
            return []
        try:
            return self.store.history(self.doc_id, node_id)
        except Exception as exc:  # noqa: BLE001 - a node with no history yet, a locked store
            log.info("history: %s", exc)
            return []

    def at(self, revision_id: int) -> Document:
        return self.store.at(self.doc_id, revision_id)

    def restore(self, revision_id: int, node_id: str | None = None) -> list:
        revisions = self.store.restore(self.doc_id, revision_id, node_id)
        self.doc, self.revision = self.store.current(self.doc_id)
        return revisions

    # -- the file ----------------------------------------------------------------------------------

    @property
    def markdown(self) -> str:
        return self.doc.to_markdown()

    @property
    def saved(self) -> bool:
        """The file on disk holds exactly the current document."""
        return self.disk_hash is not None and content_hash(self.markdown) == self.disk_hash

    def save(self) -> str:
        """Write the document to its file atomically; returns the content hash written."""
        self.disk_hash = atomic_write(self.path, self.markdown)
        self.remember_disk(self.disk_hash)
        return self.disk_hash

    # the hash of what scriba last wrote to each file, so that reopening can tell "the file was edited
    # elsewhere" (merge it) from "scriba quit with unsaved changes" (keep them)
    saved_index: Path | None = None

    def last_known_disk(self) -> str | None:
        try:
            return json.loads(self.saved_index.read_text()).get(str(self.path))
        except (OSError, ValueError, AttributeError):
            return None

    def remember_disk(self, digest: str) -> None:
        if self.saved_index is None:
            return
        try:
            index = json.loads(self.saved_index.read_text()) if self.saved_index.exists() else {}
            index[str(self.path)] = digest
            atomic_write(self.saved_index, json.dumps(index, indent=1))
        except (OSError, ValueError) as exc:
            log.info("could not note the saved state: %s", exc)

    def export(self, target: str | Path, doc: Document | None = None) -> Path:
        target = Path(target).expanduser()
        atomic_write(target, (doc or self.doc).to_markdown())
        return target

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
