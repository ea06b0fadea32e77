"""The revision store's API: `Store` (import, read at any revision, commit a new state, history, restore).

Append-only: every call that changes something adds one `changes` row and one `revisions` row per
changed node, in ONE `BEGIN IMMEDIATE` transaction, committed with synchronous=FULL before the call
returns. Nothing is ever updated or deleted (SQLite triggers refuse it); the one piece of session
state, `file_hash` (what scriba last wrote to the document's file), lives beside the history.

Concurrency (several processes on one database): writers queue on SQLite's write lock (busy timeout,
then `StoreError("database is locked …")`). `commit(..., base_revision=N)` is optimistic: the change
the caller made (the diff of `new_doc` against the state at N) is applied on top of the current state;
if any node it touches has a revision newer than N, it raises `ConflictError`; if the newer revisions
touch only other nodes, the two are MERGED (nothing is lost; the result must still be a valid tree, else
`ConflictError`). Without `base_revision`, `new_doc` simply becomes the current state (last writer wins).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.store import db
from app.store.errors import ConflictError, DocumentNotFound, ReadOnlyError, StoreError
from app.store.models import ChangeRow, DocumentRow, NodeRow, RevisionRow, utcnow
from app.sync import content_hash
from engine.actions import OPERATIONS as WRITING_OPERATIONS
from engine.document import Document, NodeRecord
from engine.document.nodes import paused_gc

AUTHORS = frozenset({"writer", "model", "external", "import"})
# the writing actions' operations (engine.actions, the one registry) and the writer's and the store's own
OPERATIONS = WRITING_OPERATIONS | {"edit", "restore", "move", "insert", "delete", "import"}
_CHUNK = 500  # ids per IN (…) clause
_MAX_INTEGER = 2**63 - 1  # SQLite's largest integer: any larger revision id means "the latest"
_REVISIONS = RevisionRow.__table__
_NODES = NodeRow.__table__
_CHANGES = ChangeRow.__table__
_CHANGE_FIELDS = tuple(col.key for col in ChangeRow.__mapper__.column_attrs)
_REVISION_COLUMNS = ("change_id", "node_id", "parent_revision_id", "effect", "kind", "parent_node_id", "order",
                     "level", "text", "tail", "deleted")


@dataclass(frozen=True)
class DocInfo:
    id: str
    path: str | None  # resolved absolute path of the file it was imported from
    title: str | None
    created_at: datetime
    revision: int  # the latest revision id of the document
    updated_at: datetime  # when the latest change was made


@dataclass(frozen=True)
class RevisionInfo:
    id: int
    doc_id: str
    node_id: str
    change_id: int
    parent_revision_id: int | None  # this node's previous revision
    kind: str
    text: str
    author: str
    operation: str  # the action of the change (edit, rewrite, restore, import, …)
    level: str | None  # the action's level (sentence, paragraph, heading, section, document)
    instruction: str | None
    model: str | None
    params: dict[str, Any]
    candidates: list[str]
    chosen: int | None
    created_at: datetime  # UTC
    # beyond the contract: what happened to the node, and its full persisted state
    effect: str = "edit"  # insert | delete | move | edit
    deleted: bool = False
    parent_node_id: str | None = None
    order: str = ""
    heading_level: int = 0  # NodeRecord.level
    tail: str = ""
    base_revision: int | None = None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["created_at"] = self.created_at.isoformat()
        return out


@dataclass(frozen=True)
class ChangeInfo:
    """One change of a document (one action or transaction) and the revisions it wrote."""

    id: int
    author: str
    operation: str
    params: dict[str, Any]
    first: int  # its first revision id
    last: int  # its last revision id


def _record(r: Any) -> NodeRecord:
    return NodeRecord(id=r.node_id, kind=r.kind, parent_id=r.parent_node_id, order=r.order, level=r.level,
                      text=r.text, tail=r.tail)


def _document(rows: list[Any]) -> Document:
    """The tree of the live nodes among state rows (`Store._state_rows`); siblings in (order key, node
    id) order, as `_preorder` puts them."""
    live = [(nid, kind, parent, order, level, text, tail)
            for _, nid, kind, parent, order, level, text, tail, deleted in rows if not deleted]
    live.sort(key=itemgetter(3, 0))
    return Document.from_rows(live)


def _content(r: NodeRecord) -> tuple:
    return (r.kind, r.level, r.text, r.tail)


def _diff(old: dict[str, NodeRecord], new: dict[str, NodeRecord]) -> list[tuple[str, str, NodeRecord]]:
    """(effect, node id, record) for every node that differs: insert / edit / move, then delete."""
    out: list[tuple[str, str, NodeRecord]] = []
    for nid, rec in new.items():
        was = old.get(nid)
        if was is None:
            out.append(("insert", nid, rec))
        elif _content(was) != _content(rec):
            out.append(("edit", nid, rec))
        elif (was.parent_id, was.order) != (rec.parent_id, rec.order):
            out.append(("move", nid, rec))
    out.extend(("delete", nid, rec) for nid, rec in old.items() if nid not in new)
    return out


def _tree_problem(records: dict[str, NodeRecord]) -> str | None:
    """None if `records` form one tree (one root, every parent present, no cycle), else what is wrong."""
    roots = [r.id for r in records.values() if r.parent_id is None]
    if len(roots) != 1:
        return f"{len(roots)} roots"
    children: dict[str, list[str]] = {}
    for r in records.values():
        if r.parent_id is not None:
            if r.parent_id not in records:
                return f"node {r.id[:8]} has no parent (its parent {r.parent_id[:8]} is gone)"
            children.setdefault(r.parent_id, []).append(r.id)
    seen, stack = 0, [roots[0]]
    while stack:
        nid = stack.pop()
        seen += 1
        stack.extend(children.get(nid, ()))
    return None if seen == len(records) else "a cycle in the tree"


def _preorder(records: dict[str, NodeRecord]) -> list[NodeRecord]:
    children: dict[str | None, list[NodeRecord]] = {}
    for r in records.values():
        children.setdefault(r.parent_id, []).append(r)
    out: list[NodeRecord] = []
    stack = sorted(children.get(None, []), key=lambda r: (r.order, r.id), reverse=True)
    while stack:
        r = stack.pop()
        out.append(r)
        stack.extend(sorted(children.get(r.id, []), key=lambda c: (c.order, c.id), reverse=True))
    return out


def _subtree(records: dict[str, NodeRecord], node_id: str) -> dict[str, NodeRecord]:
    if node_id not in records:
        return {}
    children: dict[str, list[str]] = {}
    for r in records.values():
        if r.parent_id is not None:
            children.setdefault(r.parent_id, []).append(r.id)
    out, stack = {}, [node_id]
    while stack:
        nid = stack.pop()
        out[nid] = records[nid]
        stack.extend(children.get(nid, ()))
    return out


def _settled(target: dict[str, NodeRecord], current: dict[str, NodeRecord]) -> dict[str, NodeRecord]:
    """`target` (records put together from two states: a restore, a merge) as a tree that reads back
    from its own Markdown: `Document.settle` around every node whose surroundings differ from
    `current`: the nodes inserted, edited or moved, and the parent and neighbours of each node that
    was removed or moved away (a sentence that is last now must not keep the space after it, one
    that is no longer last needs one)."""
    diff = _diff(current, target)
    touched = {nid for effect, nid, _ in diff if effect != "delete"}
    gone = [nid for effect, nid, _ in diff if effect in ("delete", "move")]
    if gone:
        siblings: dict[str | None, list[NodeRecord]] = {}
        for r in current.values():
            siblings.setdefault(r.parent_id, []).append(r)
        place: dict[str, tuple[list[NodeRecord], int]] = {}
        for group in siblings.values():
            group.sort(key=lambda r: (r.order, r.id))
            place.update((r.id, (group, i)) for i, r in enumerate(group))
        for nid in gone:
            group, at = place[nid]
            touched.update(r.id for r in group[max(at - 1, 0):at + 2])
            if current[nid].parent_id is not None:
                touched.add(current[nid].parent_id)
    if not touched:
        return target
    doc = Document.from_records(_preorder(target))
    doc.settle(touched)
    return _by_id(doc.records())


def _by_id(records: Iterable[NodeRecord]) -> dict[str, NodeRecord]:
    out: dict[str, NodeRecord] = {}
    for r in records:
        if r.id in out:
            raise StoreError(f"refused: node id {r.id} appears twice in the document")
        out[r.id] = r
    return out


def document_title(doc: Document, path: str | None) -> str | None:
    """What a new document is called: its first heading's title, else its file's name."""
    for node in doc.walk():
        if str(node.kind) == "heading":
            plain = getattr(node, "plain", None) or node.text.strip().splitlines()[0].lstrip("#").strip()
            if plain:
                return plain
    return Path(path).stem if path else None


class Store:
    """The revision store in one SQLite file. Thread-safe (each call uses its own connection)."""

    def __init__(self, path: Path | str, *, timeout: float = db.DEFAULT_TIMEOUT, read_only: bool = False):
        """`read_only`: open a database that cannot be written here (read-only file or folder) for
        reading; every call that would write raises ReadOnlyError."""
        self.path = Path(path).expanduser().absolute()
        self.read_only = read_only
        self._engine = db.open_database(self.path, timeout, read_only=read_only)
        self._writer = self._engine.execution_options(**{db.WRITE: True})
        self._closed = False

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        with db.guard(self.path), Session(self._engine, expire_on_commit=False) as s, s.begin():
            yield s

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """One BEGIN IMMEDIATE … COMMIT; durable (synchronous=FULL) when the block exits."""
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        if self.read_only:
            raise ReadOnlyError(f"cannot write to {self.path}: opened read-only (a read-only file or folder)")
        with db.guard(self.path), Session(self._writer, expire_on_commit=False) as s, s.begin():
            yield s

    def _doc_row(self, s: Session, doc_id: str) -> DocumentRow:
        row = s.get(DocumentRow, doc_id)
        if row is None:
            raise DocumentNotFound(f"no document {doc_id} in {self.path}")
        return row

    @staticmethod
    def _state_rows(s: Session, doc_id: str, upto: int | None = None) -> list[Any]:
        """Each node's latest revision (deleted ones included), at or before revision `upto`: one query
        (per node of the document, its newest revision id from the (node_id, id) index), plain Core rows
        (no ORM objects: a document has tens of thousands of nodes)."""
        r, n, r2 = _REVISIONS.c, _NODES.c, _REVISIONS.alias("r2").c
        newest = select(func.max(r2.id)).where(r2.node_id == n.id)
        if upto is not None:
            newest = newest.where(r2.id <= upto)
        stmt = (select(r.id, r.node_id, r.kind, r.parent_node_id, r.order, r.level, r.text, r.tail, r.deleted)
                .select_from(_NODES.join(_REVISIONS, r.id == newest.correlate(_NODES).scalar_subquery()))
                .where(n.document_id == doc_id).order_by(r.id))
        return s.connection().execute(stmt).all()

    def _latest(self, s: Session, doc_id: str, upto: int | None = None) -> dict[str, Any]:
        """Each node's latest revision (deleted ones included), at or before revision `upto`."""
        return {r.node_id: r for r in self._state_rows(s, doc_id, upto)}

    @staticmethod
    def _live(latest: dict[str, Any]) -> dict[str, NodeRecord]:
        return {nid: _record(r) for nid, r in latest.items() if not r.deleted}

    def _info(self, s: Session, row: DocumentRow) -> DocInfo:
        rev, when = s.execute(
            select(func.max(RevisionRow.id), func.max(ChangeRow.created_at))
            .join(ChangeRow, ChangeRow.id == RevisionRow.change_id).where(ChangeRow.document_id == row.id)
        ).one()
        return DocInfo(row.id, row.path, row.title, row.created_at, rev or 0, when or row.created_at)

    @staticmethod
    def _revision_info(r: Any, c: Any) -> RevisionInfo:
        """From a revision row (or mapping-like object with its columns) and its change row."""
        return RevisionInfo(
            id=r.id, doc_id=c.document_id, node_id=r.node_id, change_id=c.id,
            parent_revision_id=r.parent_revision_id, kind=r.kind, text=r.text, author=c.author,
            operation=c.operation, level=c.level, instruction=c.instruction, model=c.model,
            params=dict(c.params or {}), candidates=list(c.candidates or []), chosen=c.chosen,
            created_at=c.created_at, effect=r.effect, deleted=r.deleted, parent_node_id=r.parent_node_id,
            order=r.order, heading_level=r.level, tail=r.tail, base_revision=c.base_revision)

    def _write_diff(self, s: Session, doc_id: str, latest: dict[str, Any],
                    old: dict[str, NodeRecord], new: dict[str, NodeRecord], change: dict[str, Any],
                    order: list[str] | None = None, infos: bool = True) -> list[RevisionInfo]:
        """Append one change and one revision per node that differs between `old` and `new` (Core bulk
        inserts: an import of thousands of nodes stays fast). Returns the new revisions (if `infos`)."""
        diff = _diff(old, new)
        if not diff:
            return []
        if order is not None:  # write parents before children, in document order
            rank = {nid: i for i, nid in enumerate(order)}
            diff.sort(key=lambda d: (d[0] == "delete", rank.get(d[1], len(rank))))
        now = utcnow()
        fresh = [nid for effect, nid, _ in diff if nid not in latest]
        for i in range(0, len(fresh), _CHUNK):
            # plain SQL: SQLAlchemy compiling an IN of 500 bound values costs ~5 ms a chunk (0.1 s a MB)
            chunk = fresh[i:i + _CHUNK]
            taken = s.connection().exec_driver_sql(
                f"SELECT id FROM nodes WHERE id IN ({', '.join('?' * len(chunk))}) LIMIT 1", tuple(chunk)).scalar()
            if taken is not None:
                raise StoreError(f"refused: node id {taken} already belongs to another document")
        # Core executemany throughout (no ORM units of work, no RETURNING: SQLite cannot promise the
        # order of RETURNING rows, so SQLAlchemy would fall back to one INSERT per row).
        conn = s.connection()
        change_id = conn.execute(insert(_CHANGES).values(document_id=doc_id, created_at=now, **change)
                                 ).inserted_primary_key[0]
        if fresh:
            kinds = {nid: rec.kind for _, nid, rec in diff}
            stamp = _stored(conn, _NODES.c.created_at, now)
            _insert_many(conn, _NODES, ("id", "document_id", "kind", "created_at"),
                         [(nid, doc_id, kinds[nid], stamp) for nid in fresh])
        rows = [(change_id, nid, latest[nid].id if nid in latest else None, effect, rec.kind, rec.parent_id,
                 rec.order, rec.level, rec.text, rec.tail, effect == "delete")
                for effect, nid, rec in diff]
        _insert_many(conn, _REVISIONS, _REVISION_COLUMNS, rows)
        if not infos:
            return []
        # AUTOINCREMENT ids only grow, and executemany inserts in order: by id is the order of `rows`.
        ids = conn.execute(select(_REVISIONS.c.id).where(_REVISIONS.c.change_id == change_id)
                           .order_by(_REVISIONS.c.id)).scalars().all()
        if len(ids) != len(rows):
            raise StoreError(f"database error in {self.path}: change {change_id} has {len(ids)} revisions, "
                             f"not {len(rows)}")
        change_view = SimpleNamespace(**{key: change.get(key) for key in _CHANGE_FIELDS})
        change_view.id, change_view.document_id, change_view.created_at = change_id, doc_id, now
        return [self._revision_info(SimpleNamespace(id=rid, **dict(zip(_REVISION_COLUMNS, row))), change_view)
                for rid, row in zip(ids, rows)]

    @staticmethod
    def _change(author: str, operation: str, **fields: Any) -> dict[str, Any]:
        if author not in AUTHORS:
            raise ValueError(f"unknown author {author!r} (one of {', '.join(sorted(AUTHORS))})")
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r} (one of {', '.join(sorted(OPERATIONS))})")
        return {"author": author, "operation": operation, **fields}

    # -- documents ------------------------------------------------------------------------------

    def documents(self) -> list[DocInfo]:
        with self._read() as s:
            return [self._info(s, row) for row in s.scalars(select(DocumentRow).order_by(DocumentRow.created_at))]

    def find_document(self, key: str) -> DocInfo:
        """By id, by file path (absolute or relative to the working directory; resolved), or by a unique
        id prefix (4+ characters)."""
        key = str(key).strip()
        with self._read() as s:
            row = s.get(DocumentRow, key) if key else None
            if row is None and key:
                try:
                    resolved = str(Path(key).expanduser().resolve())
                except (OSError, ValueError, RuntimeError):  # not a usable path
                    resolved = None
                if resolved:
                    row = s.scalars(select(DocumentRow).where(DocumentRow.path == resolved)
                                    .order_by(DocumentRow.created_at.desc())).first()
            if row is None and len(key) >= 4 and all(ch in "0123456789abcdef" for ch in key.lower()):
                rows = s.scalars(select(DocumentRow).where(DocumentRow.id.startswith(key.lower()))).all()
                if len(rows) > 1:
                    raise DocumentNotFound(f"document id prefix {key} is ambiguous ({len(rows)} documents)")
                row = rows[0] if rows else None
            if row is None:
                if key and _is_file(key):
                    raise DocumentNotFound(f"{key} is not in {self.path} yet (import it: scriba import {key})")
                raise DocumentNotFound(f"no document {key!r} in {self.path}")
            return self._info(s, row)

    def import_document(self, text: str, path: str | None = None, title: str | None = None) -> DocInfo:
        """Store `text` as a new document (author "import"). If a document was already imported from the
        same (resolved) `path`: unchanged text returns it as it is; changed text is recorded on it as one
        change by author "external" (the nodes that still match keep their ids)."""
        return self._import(text, path, title)[0]

    def import_current(self, text: str, path: str | None = None, title: str | None = None, *,
                       doc: Document | None = None, records: list[NodeRecord] | None = None,
                       file_hash: str | None = None) -> tuple[DocInfo, Document, int]:
        """`import_document`, then what `current` gives for it: (info, document, revision). A new document
        is not read back: the tree it was parsed into is handed back (`doc`, if given: `text` parsed
        already, stored as it is, ids and all; `records`: its records, if the caller took them already).
        `file_hash`: the file holds `text` (see `set_file_hash`), noted with a new document's import
        revision in the same transaction (one commit, one fsync, not two)."""
        if doc is not None and doc.to_markdown() != text:
            raise ValueError("import_current: doc is not the text parsed")
        info, stored = self._import(text, path, title, doc, records, file_hash)
        if stored is None:  # re-imported: merged into the stored document
            stored, revision = self.current(info.id)
            return info, stored, revision
        return info, stored, info.revision

    def import_records(self, text: str, records: list[NodeRecord], *, path: str, title: str | None,
                       doc_id: str, file_hash: str | None = None) -> tuple[DocInfo, bool]:
        """`import_current` of `text` parsed elsewhere, from its records alone (in document order), as
        document `doc_id`: the editor imports in the background while the tree itself is the writer's.
        (info, True): stored as given; (info, False): the path was imported meanwhile (another window):
        `text` was merged into that document, which `current(info.id)` reads."""
        info, _ = self._import(text, path, title, records=records, file_hash=file_hash, doc_id=doc_id)
        return info, info.id == doc_id  # a re-import answers with the document found

    def _import(self, text: str, path: str | None, title: str | None, doc: Document | None = None,
                records: list[NodeRecord] | None = None, file_hash: str | None = None,
                doc_id: str | None = None) -> tuple[DocInfo, Document | None]:
        """(info, the stored tree) for a new document (None when only its records were given); (info, None)
        for a re-import."""
        resolved = str(Path(path).expanduser().resolve()) if path else None
        for _ in range(5):
            if resolved:
                try:
                    found = self.find_document(resolved)
                except DocumentNotFound:
                    found = None
                if found is not None and found.path == resolved:
                    return self._reimport(found, text), None
            if records is None:
                doc = doc or Document.from_markdown(text)  # parsed outside the write lock
                records = doc.records()
            by_id = _by_id(records)  # in document order: parents first
            with self._write() as s:
                if resolved and s.scalars(select(DocumentRow.id).where(DocumentRow.path == resolved)).first():
                    continue  # imported by someone else meanwhile: treat as a re-import
                if not title and doc is not None:
                    title = document_title(doc, resolved)
                row = DocumentRow(id=doc_id or _new_id(), path=resolved, title=title, created_at=utcnow())
                s.add(row)
                s.flush()
                # all inserts, in document order already (no `order` to sort them by)
                self._write_diff(s, row.id, {}, {}, by_id, self._change("import", "import"), infos=False)
                info = self._info(s, row)
                if file_hash is not None:
                    row.file_hash, row.file_revision = file_hash, info.revision
                return info, doc
        raise StoreError(f"could not import {path}: the store kept changing")

    def _reimport(self, info: DocInfo, text: str) -> DocInfo:
        if self.file_hash(info.id) == content_hash(text):
            return info  # the file is as scriba last wrote it: the store is newer, not the file
        for _ in range(5):
            doc, rev = self.current(info.id)
            if doc.to_markdown() == text:
                return self.find_document(info.id)
            if hasattr(doc, "merge_markdown"):
                doc.merge_markdown(text)
            else:
                doc = Document.from_markdown(text)
            try:
                self.commit(info.id, doc, author="external", operation="edit", level="document", base_revision=rev)
            except ConflictError:
                continue
            return self.find_document(info.id)
        raise StoreError(f"could not record the external edit of {info.path}: the document kept changing")

    def file_hash(self, doc_id: str) -> str | None:
        """The content hash of what scriba last wrote to the document's file (None: nothing yet)."""
        with self._read() as s:
            return self._doc_row(s, doc_id).file_hash

    def set_file_hash(self, doc_id: str, digest: str, revision: int | None = None) -> None:
        """Note that scriba wrote (or read) the document's file with content hash `digest`, made from
        store revision `revision` (None: not known, or not one revision). Session state, not history: no
        change or revision is recorded."""
        if not isinstance(digest, str) or not digest:
            raise ValueError("set_file_hash: the digest must be a non-empty string")
        with self._write() as s:
            row = self._doc_row(s, doc_id)
            row.file_hash, row.file_revision = digest, revision

    def file_revision(self, doc_id: str) -> int | None:
        """The revision the file with `file_hash` was made from (None: not known)."""
        with self._read() as s:
            return self._doc_row(s, doc_id).file_revision

    # -- reading --------------------------------------------------------------------------------

    def current(self, doc_id: str) -> tuple[Document, int]:
        """The latest state of the document, and its revision id (pass it back as `base_revision`)."""
        with paused_gc():
            with self._read() as s:
                self._doc_row(s, doc_id)
                rows = self._state_rows(s, doc_id)
            return _document(rows), max(r.id for r in rows)

    def at(self, doc_id: str, revision_id: int) -> Document:
        """The whole document as it was right after revision `revision_id` (a global revision id). A
        revision in the middle of a change of this document is refused (StoreError naming the change's
        boundaries): the state there is half-applied, never one the document was in."""
        with paused_gc():
            with self._read() as s:
                self._doc_row(s, doc_id)
                upto = self._boundary(s, doc_id, revision_id)
                rows = self._state_rows(s, doc_id, upto=upto)
            if not any(not r.deleted for r in rows):
                raise StoreError(f"document {doc_id[:8]} did not exist yet at revision {revision_id}")
            return _document(rows)

    @staticmethod
    def _boundary(s: Session, doc_id: str, revision_id: int) -> int:
        """`revision_id` (within SQLite's integers) if the document's state there is whole: the last
        revision of one of its changes, or a revision of another document, or none at all."""
        rid = max(0, min(int(revision_id), _MAX_INTEGER))
        change_id = s.execute(select(RevisionRow.change_id).join(ChangeRow, ChangeRow.id == RevisionRow.change_id)
                              .where(RevisionRow.id == rid, ChangeRow.document_id == doc_id)).scalar()
        if change_id is None:
            return rid
        first, last = s.execute(select(func.min(RevisionRow.id), func.max(RevisionRow.id))
                                .where(RevisionRow.change_id == change_id)).one()
        if rid == last:
            return rid
        existed = s.execute(select(RevisionRow.id).join(ChangeRow, ChangeRow.id == RevisionRow.change_id)
                            .where(ChangeRow.document_id == doc_id, RevisionRow.id < first).limit(1)).first()
        before = f" or {first - 1} (before it)" if existed else ""
        raise StoreError(f"revision {rid} is in the middle of change {change_id} (revisions {first}-{last}); "
                         f"use {last} (the end of that change){before}")

    def last_revision(self) -> int:
        """The newest revision id in the store, of any document (0: none yet)."""
        with self._read() as s:
            return int(s.execute(select(func.max(RevisionRow.id))).scalar() or 0)

    def change_end(self, doc_id: str, revision_id: int) -> int:
        """The last revision of the change `revision_id` belongs to (itself when it is not this document's):
        where the history panel's "restore as of this revision" lands, a state the document was in."""
        with self._read() as s:
            rid = max(0, min(int(revision_id), _MAX_INTEGER))
            last = s.execute(select(func.max(RevisionRow.id))
                             .where(RevisionRow.change_id == select(RevisionRow.change_id)
                                    .join(ChangeRow, ChangeRow.id == RevisionRow.change_id)
                                    .where(RevisionRow.id == rid, ChangeRow.document_id == doc_id)
                                    .scalar_subquery())).scalar()
            return rid if last is None else int(last)

    def resolve_node(self, doc_id: str, key: str) -> str:
        """A node id of this document from its id or a unique prefix of it."""
        with self._read() as s:
            return self._resolve_node(s, doc_id, key)

    def _resolve_node(self, s: Session, doc_id: str, key: str) -> str:
        self._doc_row(s, doc_id)
        key = str(key).strip()
        if s.scalars(select(NodeRow.id).where(NodeRow.id == key, NodeRow.document_id == doc_id)).first():
            return key
        ids = s.scalars(select(NodeRow.id).where(NodeRow.document_id == doc_id,
                                                 NodeRow.id.startswith(key, autoescape=True)).limit(2)).all()
        if len(ids) == 1 and key:
            return ids[0]
        if len(ids) > 1 and key:
            raise StoreError(f"node id prefix {key} is ambiguous in document {doc_id[:8]}")
        raise StoreError(f"no node {key!r} in document {doc_id[:8]}")

    def changes(self, doc_id: str) -> list[ChangeInfo]:
        """The document's changes, oldest first, each with its first and last revision (app.undo)."""
        with self._read() as s:
            self._doc_row(s, doc_id)
            q = (select(ChangeRow.id, ChangeRow.author, ChangeRow.operation, ChangeRow.params,
                        func.min(RevisionRow.id), func.max(RevisionRow.id))
                 .join(RevisionRow, RevisionRow.change_id == ChangeRow.id)
                 .where(ChangeRow.document_id == doc_id).group_by(ChangeRow.id).order_by(ChangeRow.id))
            return [ChangeInfo(cid, author, op, params or {}, first, last)
                    for cid, author, op, params, first, last in s.execute(q)]

    def history(self, doc_id: str, node_id: str | None = None) -> list[RevisionInfo]:
        """Every revision of the document (or of one node: id or unique prefix), oldest first."""
        with self._read() as s:
            self._doc_row(s, doc_id)
            q = (select(RevisionRow, ChangeRow).join(ChangeRow, ChangeRow.id == RevisionRow.change_id)
                 .where(ChangeRow.document_id == doc_id).order_by(RevisionRow.id))
            if node_id is not None:
                q = q.where(RevisionRow.node_id == self._resolve_node(s, doc_id, node_id))
            return [self._revision_info(r, c) for r, c in s.execute(q)]

    # -- writing --------------------------------------------------------------------------------

    def commit(self, doc_id: str, new_doc: Document, *, author: str, operation: str, level: str | None = None,
               instruction: str | None = None, model: str | None = None, params: dict | None = None,
               candidates: list[str] | None = None, chosen: int | None = None,
               base_revision: int | None = None) -> list[RevisionInfo]:
        """Make `new_doc` the current state: one revision per inserted / deleted / moved / edited node, all
        in one change, one transaction, durable on return. An empty diff writes nothing and returns [].
        With `base_revision` (the revision `new_doc` was derived from): see the module docstring — merges
        with newer changes to other nodes, raises ConflictError if a node it changes changed after it."""
        change = self._change(author, operation, level=level, instruction=instruction, model=model,
                              params=params, candidates=candidates, chosen=chosen, base_revision=base_revision)
        new = _by_id(new_doc.records())
        order = list(new)
        with self._write() as s:
            self._doc_row(s, doc_id)
            latest = self._latest(s, doc_id)
            current = self._live(latest)
            if base_revision is None:
                target = new
                problem = _tree_problem(target)
                if problem:
                    raise StoreError(f"refused: the new document is not a tree ({problem})")
            else:
                newest = max((r.id for r in latest.values()), default=0)
                base = current if newest <= base_revision else self._live(
                    self._latest(s, doc_id, upto=int(base_revision)))
                intended = _diff(base, new)
                for _, nid, _ in intended:
                    if nid in latest and latest[nid].id > base_revision:
                        raise ConflictError(
                            f"node {nid[:8]} was changed after revision {base_revision} (by revision "
                            f"{latest[nid].id}); reload the document and try again")
                target = dict(current)
                for effect, nid, rec in intended:
                    if effect == "delete":
                        target.pop(nid, None)
                    else:
                        target[nid] = rec
                problem = _tree_problem(target)
                if problem:
                    raise ConflictError(f"cannot merge with the changes made after revision {base_revision}: "
                                        f"{problem}; reload the document and try again")
                if newest > base_revision:  # merged with another writer's changes: nest it as its Markdown reads
                    target = _settled(target, current)
            return self._write_diff(s, doc_id, latest, current, target, change, order=order)

    def restore(self, doc_id: str, revision_id: int, node_id: str | None = None, *,
                author: str = "writer", params: dict | None = None) -> list[RevisionInfo]:
        """Bring back the whole document (or one node with its subtree: its text, position and children)
        as it was at `revision_id`, as new revisions with operation "restore". A node that did not exist
        then is deleted. If a restored node's old parent is gone, it keeps its current place.
        `params`: recorded with the change too (an undo says which change it undoes: app.undo)."""
        with self._write() as s:
            self._doc_row(s, doc_id)
            latest = self._latest(s, doc_id)
            current = self._live(latest)
            old = self._live(self._latest(s, doc_id, upto=self._boundary(s, doc_id, revision_id)))
            if not old:
                raise StoreError(f"document {doc_id[:8]} did not exist yet at revision {revision_id}")
            params: dict[str, Any] = {**(params or {}), "from_revision": int(revision_id)}
            if node_id is None:
                target, level = old, "document"
            else:
                nid = self._resolve_node(s, doc_id, node_id)
                params["node"] = nid
                level = None
                old_sub, cur_sub = _subtree(old, nid), _subtree(current, nid)
                target = {k: v for k, v in current.items() if k not in cur_sub}
                if not old_sub and cur_sub and current[nid].parent_id is None:
                    raise StoreError("refused: cannot delete the document root")
                target.update(old_sub)
                if old_sub and old_sub[nid].parent_id is not None and old_sub[nid].parent_id not in target:
                    if nid not in current:
                        raise StoreError(f"cannot restore node {nid[:8]}: its parent no longer exists")
                    target[nid] = dataclasses.replace(old_sub[nid], parent_id=current[nid].parent_id,
                                                      order=current[nid].order)
            problem = _tree_problem(target)
            if problem:
                raise StoreError(f"cannot restore revision {revision_id}: {problem}")
            target = _settled(target, current)
            change = self._change(author, "restore", level=level, params=params)
            return self._write_diff(s, doc_id, latest, current, target, change,
                                    order=[r.id for r in _preorder(target)])


def _stored(conn: Any, column: Any, value: Any) -> Any:
    """`value` as `column`'s type binds it on this connection (e.g. a datetime as SQLite's text form)."""
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(value) if process is not None else value


def _insert_many(conn: Any, table: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """One plain INSERT run over `rows` (tuples in `columns` order) by pysqlite's executemany, in order.
    The values must be in stored form already (str, int, bool and None are; a datetime is not: see
    `_stored`): SQLAlchemy's per-row parameter processing costs more than SQLite's inserts themselves
    when a document has tens of thousands of nodes."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})", rows)


def _is_file(key: str) -> bool:
    try:
        return Path(key).expanduser().is_file()
    except (OSError, ValueError, RuntimeError):
        return False


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex
