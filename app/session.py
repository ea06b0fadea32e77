"""The open document, without any UI: the file on disk, its Document tree and the revision store.

The store is the record of every change; the file is saved from the tree. If the store cannot be
opened (locked, corrupt) the session still works on the file alone and says so (`store_error`); if a
commit fails (database locked), the change stays in the tree and goes in with the next commit that
succeeds (a commit records the whole current state), so nothing written is lost.

Every commit is made against the revision the session last had (or, for an accepted candidate, the
one it was proposed on): the store merges it with changes made since to other nodes (another window
on the same file), and the session then takes the merged document; a change to the same node is a
`ConflictError`, after which the session holds the store's document (without the refused change).
The content hash of what scriba last wrote to the file is store state (`Store.file_hash`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir

from app import writing
from app.store.errors import ConflictError, StoreError
from app.sync import atomic_write, content_hash
from engine.actions import changed_nodes
from engine.document import Document, InputRefused, decode
from engine.document.nodes import paused_gc
from engine.resources import demo_document

log = logging.getLogger("scriba.session")


def demo_copy(data_dir: Path | None = None) -> Path:
    """The writer's own copy of the bundled demo (the package copy is never edited)."""
    if data_dir is None:
        data_dir = Path(user_data_dir("scriba"))
    target = Path(data_dir) / "demo.md"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(demo_document(), target)
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
        # the store (SQLAlchemy, Alembic) loads here: `preview_of` shows the file before it is needed
        from app.store import DocumentNotFound, Store, default_db_path

        self.store = Store(Path(db_path).expanduser() if db_path else default_db_path(), timeout=2.0)
        try:
            info = self.store.find_document(str(self.path))
        except DocumentNotFound:
            info = None
        if info is not None and info.path == str(self.path):
            doc, revision = self.store.current(info.id)
            if doc.to_markdown() == text:
                self.doc_id, self.doc, self.revision = info.id, doc, revision
                return
            self.doc_id = info.id
            if self.last_known_disk() == content_hash(text):  # the file is as we left it: the store is newer
                self.doc, self.revision = doc, revision
                self.notes.append(f"kept the changes to {self.path.name} not saved last time (ctrl+s saves them)")
                return
            self.notes.append(f"{self.path.name} changed outside scriba; merged as an external revision")
        info, self.doc, self.revision = self.store.import_current(text, path=str(self.path), doc=parsed)
        self.doc_id = info.id
        self.remember_disk(content_hash(text))

    # -- the tree and the store ------------------------------------------------------------------

    def commit(self, new_doc: Document, *, author: str, operation: str, base_revision: int | None = None,
               **meta) -> list:
        """Make `new_doc` the current document and record it against `base_revision` (default: the
        session's revision). Returns the revisions written ([] when nothing changed or the store is
        unavailable: then `store_error` says why). After a merge with newer changes, `doc` is the
        store's merged document (a new object). ConflictError: a node it changes was changed since;
        `doc` is then the store's current document, without this change."""
        if self.store is None or self.doc_id is None:
            self.doc = new_doc
            self.unrecorded = True
            return []
        base = self.revision if base_revision is None else base_revision
        try:
            revisions = self.store.commit(self.doc_id, new_doc, author=author, operation=operation,
                                          base_revision=base, **meta)
        except ConflictError:
            self.doc, self.revision = self.store.current(self.doc_id)
            self.unrecorded = False
            raise
        except StoreError as exc:
            self.doc = new_doc
            self.unrecorded = True
            self.store_error = str(exc)
            return []
        self.unrecorded = False
        self.store_error = None
        if base == self.revision and (not revisions or min(r.id for r in revisions) == self.revision + 1):
            self.doc = new_doc  # nothing was written in between: the store holds exactly new_doc
            if revisions:
                self.revision = max(r.id for r in revisions)
        else:  # merged with newer changes (or made on an older revision): take the store's document
            self.doc, self.revision = self.store.current(self.doc_id)
        return revisions

    def accept(self, proposal, texts: list[str], index: int, model: str | None = None):
        """Apply candidate `index` of an app.writing.Proposal and commit it against the revision it was
        proposed on (see app.writing). Returns app.writing.Accepted; raises ConflictError, ActionRefused.
        Without a store there is nothing to merge with: the candidate goes into the document as it is now."""
        merged = self.store is not None and proposal.base_revision is not None
        new_doc, changed = writing.apply(proposal, texts, index, onto=None if merged else self.doc)
        revisions = self.commit(new_doc, base_revision=proposal.base_revision,
                                **writing.commit_meta(proposal, texts, index, model))
        return writing.Accepted(self.doc, self.revision, revisions, changed,
                                writing.focus_after(proposal, self.doc, changed))

    # -- the writer's changes ----------------------------------------------------------------------

    def edit_text(self, node_id: str, text: str) -> bool:
        """Put the writer's `text` for `node_id` into the tree and record it (author "writer"). A text
        that no longer reads as its kind (e.g. a heading without its '#') is taken as Markdown. Returns
        whether the tree changed shape (nodes added or removed, or merged with changes made elsewhere).
        InputRefused: not taken; KeyError: the node is gone; ConflictError: it was changed elsewhere
        since (the session then shows that version)."""
        doc = self.doc
        kind = str(doc.node(node_id).kind)
        before = {n.id for n in doc.walk()}
        try:
            doc.set_text(node_id, text)
        except InputRefused:
            md = doc.to_markdown()
            start, end = doc.span(node_id)
            doc.merge_markdown(md[:start] + text + md[end:])
        self.commit(doc, author="writer", operation="edit", level=kind)
        if self.doc is not doc:  # merged with another window's changes: a new tree
            return True
        return {n.id for n in doc.walk()} != before

    def insert_after(self, node_id: str, kind: str) -> str:
        """A new paragraph (or heading) right after `node_id` (after a heading: a paragraph at the top of
        its section, a heading after it at the same level). Returns the new node's id."""
        doc = self.doc
        node = doc.node(node_id)
        if node.kind.value == "sentence":
            node = node.parent
        if kind == "paragraph":
            parent, index = (node, 0) if node.kind.value == "heading" else \
                (node.parent, node.parent.children.index(node) + 1)
            new_id = doc.insert(parent.id, index, "paragraph", "New paragraph.")
        else:
            parent, index = node.parent, node.parent.children.index(node) + 1
            level = node.level if node.kind.value == "heading" else \
                (parent.level + 1 if parent.kind.value == "heading" else 1)
            new_id = doc.insert(parent.id, index, "heading", "#" * min(level, 6) + " New section")
        self.commit(doc, author="writer", operation="insert")
        return new_id

    def delete(self, node_id: str) -> str | None:
        """Delete `node_id` (a heading: its whole section); returns the node to show next."""
        doc = self.doc
        node = doc.node(node_id)
        siblings = node.parent.children
        i = siblings.index(node)
        after = siblings[i + 1] if i + 1 < len(siblings) else siblings[i - 1] if i else node.parent
        doc.delete(node_id)
        self.commit(doc, author="writer", operation="delete")
        return after.id if after.id in self.doc else None

    def move(self, node_id: str, delta: int) -> str:
        """Move `node_id` `delta` places among its siblings. ValueError at the edge of its section."""
        doc = self.doc
        node = doc.node(node_id)
        siblings = node.parent.children
        i = siblings.index(node) + delta
        if not 0 <= i < len(siblings):
            raise ValueError("already at the edge of its section")
        doc.move(node_id, node.parent.id, i)
        self.commit(doc, author="writer", operation="move")
        return node_id

    def changed_by(self, text: str) -> set[str]:
        """The ids of the nodes that merging `text` (the file as another editor left it) would change."""
        new = Document.from_records(self.doc.records())
        new.merge_markdown(text)
        return set(changed_nodes(self.doc, new))

    def merge_external(self, text: str) -> tuple[list[str], list]:
        """Merge `text` (the file as another editor left it) into the tree as an `external` revision.
        Returns (the ids of the nodes it changed, the revisions written)."""
        doc = Document.from_records(self.doc.records())
        changed = doc.merge_markdown(text)
        revisions = self.commit(doc, author="external", operation="edit", level="document")
        self.disk_hash = content_hash(text)
        self.remember_disk(self.disk_hash)
        return changed, revisions

    def node_history(self, node_id: str | None) -> list:
        """The revisions of `node_id` and of its sentences, oldest first (None: the whole document's)."""
        if node_id is None:
            return self.history(None)
        if node_id not in self.doc:
            return []
        ids = [node_id] + [c.id for c in self.doc.node(node_id).children if c.kind.value == "sentence"]
        return sorted((r for i in ids for r in self.history(i)), key=lambda r: r.id)

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

    # the hash of what scriba last wrote to the file (store state), so that reopening can tell "the file
    # was edited elsewhere" (merge it) from "scriba quit with unsaved changes" (keep them)
    def last_known_disk(self) -> str | None:
        if self.store is None or self.doc_id is None:
            return None
        try:
            return self.store.file_hash(self.doc_id)
        except StoreError as exc:
            log.info("could not read the saved state: %s", exc)
            return None

    def remember_disk(self, digest: str) -> None:
        if self.store is None or self.doc_id is None:
            return
        try:
            self.store.set_file_hash(self.doc_id, digest)
        except StoreError as exc:
            log.info("could not note the saved state: %s", exc)

    def export(self, target: str | Path, doc: Document | None = None) -> Path:
        target = Path(target).expanduser()
        atomic_write(target, (doc or self.doc).to_markdown())
        return target

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
