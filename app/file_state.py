"""The file on disk and the recorded document, brought back together after an edit made elsewhere.

An edit made to the file by another editor is a three-way merge, never "the file wins":

    base    the document as the file held it when scriba last wrote or read it (with node ids)
    theirs  the file as it is now (parsed onto base's ids)
    ours    the document as it is now (recorded or not)

Nodes changed on one side only take that side's version; a node changed on both sides the same way is
no conflict; changed differently (field by field: text, the whitespace after it, its place) it is a
conflict, resolved as the caller asks (`ExternalMerge.result`). Theirs is recorded first, always: when
ours is kept for a conflict, the file's version is still in the history (`record_in_store`).

For a store, base is the revision the file was last written from (`Store.file_revision`, trusted only
while its Markdown still has the file's recorded hash); `reconcile` brings the store up to date with
the file on opening it (the TUI, `scriba generate`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from app.store.errors import StoreError
from app.sync import content_hash
from engine.document import Document, NodeRecord

log = logging.getLogger("scriba.file_state")

# the parts of a node merged independently: its content, the whitespace it owns after it, its place
_PARTS = (("kind", "level", "text"), ("tail",), ("parent_id", "order"))


def _part(record: NodeRecord, names: tuple[str, ...]) -> tuple:
    return tuple(getattr(record, n) for n in names)


def _merge_node(base: NodeRecord | None, ours: NodeRecord | None, theirs: NodeRecord | None
                ) -> tuple[NodeRecord | None, bool]:
    """(the merged node or None for deleted, whether it is a conflict: then ours is returned)."""
    if ours == theirs or theirs == base:
        return ours, False
    if ours == base:
        return theirs, False
    if base is None or ours is None or theirs is None:  # deleted on one side, changed on the other
        return ours, True
    merged = {}
    for names in _PARTS:
        b, o, t = _part(base, names), _part(ours, names), _part(theirs, names)
        if o == t or t == b:
            merged.update(zip(names, o))
        elif o == b:
            merged.update(zip(names, t))
        else:
            return ours, True
    return replace(ours, **merged), False


@dataclass
class ExternalMerge:
    """The three-way merge of `theirs_text` into `ours` against `base` (see the module docstring)."""

    base: Document
    ours: Document
    theirs_text: str
    base_known: bool = True  # False: `base` only lends its ids; every node both have, differently, conflicts
    theirs: Document = field(init=False)  # the file's text as a tree on base's ids: the next merge's base
    taken: list[str] = field(init=False)  # nodes that take the file's version (no conflict)
    conflicts: list[str] = field(init=False)  # nodes changed on both sides, differently

    def __post_init__(self) -> None:
        self.theirs = Document.from_records(self.base.records())
        self.theirs.merge_markdown(self.theirs_text)
        b, o, t = (_by_id(d) for d in (self.base, self.ours, self.theirs))
        if not self.base_known:
            b = {}
        self._records: dict[str, NodeRecord] = dict(o)
        self._theirs = t
        self.taken, self.conflicts = [], []
        for nid in {**b, **o, **t}:
            merged, conflict = _merge_node(b.get(nid), o.get(nid), t.get(nid))
            if conflict:
                self.conflicts.append(nid)
            elif merged != o.get(nid):
                self.taken.append(nid)
                if merged is None:
                    del self._records[nid]
                else:
                    self._records[nid] = merged

    @property
    def changes_anything(self) -> bool:
        """The file holds a change that the document does not have yet."""
        return bool(self.taken or self.conflicts)

    def also_conflicting(self, node_id: str) -> None:
        """Count `node_id` as changed on our side too (the editor's pending text for it), if theirs changed it."""
        if node_id in self.taken:
            self.taken.remove(node_id)
            self.conflicts.append(node_id)

    def result(self, prefer: str = "ours") -> Document:
        """The merged document, conflicts resolved to `prefer` ("ours" or "theirs"). A node whose parent
        one side deleted while the other put something under it keeps its parent: no text is dropped.
        The tree is the parse of its own Markdown (ids kept where they match)."""
        records = dict(self._records)
        if prefer == "theirs":
            for nid in self.conflicts:
                if nid in self._theirs:
                    records[nid] = self._theirs[nid]
                else:
                    records.pop(nid, None)
        known = {**_by_id(self.base), **_by_id(self.ours), **self._theirs}
        while orphans := {r.parent_id for r in records.values() if r.parent_id is not None} - records.keys():
            for nid in orphans:
                records[nid] = records.get(nid) or known[nid]
        doc = Document.from_records(records.values())
        _keep_separators(doc, [_by_id(self.ours), _by_id(self.base)])
        doc.merge_markdown(doc.to_markdown())  # the same tree an import of its Markdown gives
        return doc

    def with_theirs_everywhere(self) -> Document:
        """Ours with every change of the file, conflicts included (what is recorded first)."""
        return self.result("theirs")


def _keep_separators(doc: Document, sources: list[dict[str, NodeRecord]]) -> None:
    """A node that the merge left followed by another, with less of a separator after it than it had
    (theirs deleted what came after it, ours kept that): it gets its separator back, from ours or base,
    so that two paragraphs or sentences are never glued together."""
    units = [n for n in doc.walk() if n.parent is not None and n.kind.value != "sentence"]
    followed = [(u, u.tail.count("\n")) for u in units[:-1]]
    for n in doc.walk():
        if n.kind.value == "paragraph":
            followed += [(s, len(s.tail)) for s in n.children[:-1]]
    for n, amount in followed:
        for source in sources:
            had = source.get(n.id)
            if had is not None and (had.tail.count("\n") if n.kind.value != "sentence" else len(had.tail)) > amount:
                n.tail = had.tail
                break


def _by_id(doc: Document) -> dict[str, NodeRecord]:
    return {r.id: r for r in doc.records()}


def copy(doc: Document) -> Document:
    return Document.from_records(doc.records())


def onto_ids(doc: Document, text: str) -> Document:
    """`text` as a tree that keeps `doc`'s ids where the nodes still match (a new object)."""
    out = copy(doc)
    if out.to_markdown() != text:
        out.merge_markdown(text)
    return out


# -- the store's side -------------------------------------------------------------------------------------


def base_in_store(store, doc_id: str, current: Document, text: str) -> tuple[Document, int | None, bool]:
    """(the merge base for the file holding `text`, the revision it is if it is one, whether it is known).
    The revision the file was last written from, if its Markdown still has the file's recorded hash; else,
    when the file is unchanged since (its hash is the recorded one), the file itself; else, when the store
    is unchanged since the file was written, the current document; else unknown (an older store, or a
    file written from a merge never recorded as one revision): then nothing the store holds is dropped
    for the file's version (`ExternalMerge.base_known`)."""
    digest = store.file_hash(doc_id)
    revision = store.file_revision(doc_id)
    if digest is not None and revision is not None:
        try:
            base = store.at(doc_id, revision)
        except StoreError:
            base = None
        if base is not None and content_hash(base.to_markdown()) == digest:
            return base, revision, True
    if digest is not None and digest == content_hash(text):
        return onto_ids(current, text), None, True
    return copy(current), None, digest is not None and digest == content_hash(current.to_markdown())


@dataclass
class Reconciled:
    """The store brought up to date with the file (see `reconcile`)."""

    document: Document  # the store's current document afterwards
    revision: int
    disk: Document  # the file's content as a tree with the store's ids: the next merge's base
    disk_revision: int | None  # the revision `disk` is, if it is one
    state: str  # "same" (store and file agree) | "store newer" (the file is as last written) | "merged"
    taken: list[str] = field(default_factory=list)  # nodes the file's edit changed
    kept: list[str] = field(default_factory=list)  # nodes both changed: the store's kept, the file's in history
    revisions: list = field(default_factory=list)


def reconcile(store, doc_id: str, text: str, *, record: bool = True,
              current: tuple[Document, int] | None = None) -> Reconciled:
    """Bring the store up to date with the file now holding `text`: an edit made to it since it was last
    written is merged three-way (author "external"; on a conflict the file's version is recorded, then
    the store's restored, both in the history); a file as it was last written leaves the newer store as
    it is. `record=False`: the merge is worked out but nothing is written (the document shows the
    result). The file's state is noted (`set_file_hash`) when it is recorded. `current`: the store's
    current (document, revision), when the caller has just read it."""
    current, revision = current or store.current(doc_id)
    digest = content_hash(text)
    if current.to_markdown() == text:
        if record and (store.file_hash(doc_id), store.file_revision(doc_id)) != (digest, revision):
            try:
                store.set_file_hash(doc_id, digest, revision)
            except StoreError as exc:  # only a note (a locked database): the file and the store agree anyway
                log.info("could not note the file's state: %s", exc)
        return Reconciled(current, revision, current, revision, "same")
    base, base_revision, known = base_in_store(store, doc_id, current, text)
    merge = ExternalMerge(base, current, text, known)
    if not merge.changes_anything:
        return Reconciled(current, revision, base, base_revision, "store newer")
    if not record:
        return Reconciled(merge.result("ours"), revision, merge.theirs, None, "merged", merge.taken,
                          merge.conflicts)
    revisions, exact = record_in_store(store, doc_id, merge, revision)
    document, revision = store.current(doc_id)
    store.set_file_hash(doc_id, digest, exact)
    return Reconciled(document, revision, merge.theirs, exact, "merged", merge.taken, merge.conflicts, revisions)


def record_in_store(store, doc_id: str, merge: ExternalMerge, base_revision: int,
                    prefer: str = "ours") -> tuple[list, int | None]:
    """Commit the merge against `base_revision`: the file's changes (author "external"), then, for the
    conflicts resolved to ours, ours again (author "writer"). Returns (the revisions written, the revision
    whose document is exactly the file's text, if one is)."""
    theirs_everywhere = merge.with_theirs_everywhere()
    revisions = store.commit(doc_id, theirs_everywhere, author="external", operation="edit",
                             level="document", base_revision=base_revision)
    after = max((r.id for r in revisions), default=base_revision)
    # exact unless the store merged it with another writer's newer change
    exact = after if theirs_everywhere.to_markdown() == merge.theirs_text \
        and store.at(doc_id, after).to_markdown() == merge.theirs_text else None
    if merge.conflicts and prefer == "ours":
        revisions += store.commit(doc_id, merge.result("ours"), author="writer", operation="edit",
                                  level="document", base_revision=after)
    return revisions, exact
