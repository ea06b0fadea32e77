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

Text in flight (typed, not yet in the store) goes to the session's journal (app.journal); opening with
`recover=True` replays the journals of instances that died (app.instances) as the writer's edits. In
the TUI, commits go through a store worker thread (`record_in_background`, app.store_worker): `commit`
then queues the change and returns at once; `on_recorded` hears each result on the UI thread.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_dir

from app import file_state, undo, writing
from app.file_state import ExternalMerge
from app.instances import Presence
from app.journal import Journal, JournalEntry
from app.store.errors import ConflictError, StoreError
from app.store_worker import CommitChain, CommitRequest, CommitResult, StoreWorker, is_locked
from app.sync import atomic_write, content_hash, read_settled
from engine.document import Document, InputRefused, decode
from engine.document.nodes import paused_gc
from engine.resources import demo_document

log = logging.getLogger("scriba.session")

IMPORT_WAIT_SECONDS = 60.0  # how much longer quitting waits while the first import is still being written


@dataclass
class MergeOutcome:
    """What merging the file's new content did: the nodes that took its version, the nodes changed on
    both sides that kept the writer's (the file's is in the history), the revisions written."""

    taken: list[str]
    kept: list[str]
    revisions: list


def _nodes(ids: list[str]) -> str:
    return f"{len(ids)} node{'s' * (len(ids) != 1)}"


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


def _place(node) -> tuple:
    """Where a node sits in the tree's shape: its kind, level and parent."""
    return node.kind, node.level, node.parent.id if node.parent is not None else None


def _put_text(doc: Document, node_id: str, text: str) -> None:
    """Set `node_id`'s text; a text that no longer reads as its kind (a heading without its '#') is
    taken as Markdown in its place. InputRefused: not taken."""
    try:
        doc.set_text(node_id, text)
    except InputRefused:
        md = doc.to_markdown()
        start, end = doc.span(node_id)
        doc.merge_markdown(md[:start] + text + md[end:])


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
    # the document as last written to / read from the file (the base of merging an edit made to it elsewhere):
    # the store's revision `disk_revision` when it is exactly one, else the tree `disk_doc`
    disk_doc: Document | None = None
    disk_revision: int | None = None
    db_path: Path | None = None  # the store's file (the journal lives beside it), with or without a store
    store_locked: bool = False  # another program held the database's lock at opening: retry, history is not off
    journal: Journal | None = None  # this instance's journal of text in flight
    recovery_conflicts: list[tuple[JournalEntry, str]] = field(default_factory=list)  # recovered text to ask about
    on_recorded: object = None  # Callable[[CommitResult], None], on the UI thread (background recording)
    _worker: StoreWorker | None = field(default=None, repr=False)
    _chain: CommitChain | None = field(default=None, repr=False)
    # the records of `doc` as opened, taken on the opening thread (for the commit chain: 372k nodes take
    # seconds, which the UI thread would spend when recording starts); with the document they are of
    _opened_records: tuple[Document, list] | None = field(default=None, repr=False)
    _in_flight: int = field(default=0, repr=False)
    _adopted: bool = field(default=False, repr=False)
    _orphans: list[Journal] = field(default_factory=list, repr=False)  # dead instances' journals to replay
    # a first open in the editor: (text, title, records) of the import the store worker makes first (the
    # writer edits meanwhile); the records are the document as the file holds it until the import is done
    _pending_import: tuple[str, str | None, list] | None = field(default=None, repr=False)

    @classmethod
    def preview_of(cls, path: str | Path) -> "Session":
        """The file alone, parsed (fast): shown at once while `open` attaches the store."""
        path = Path(path).expanduser().resolve()
        text = read_document_file(path)
        doc = Document.from_markdown(text)
        doc.to_markdown()  # laid out here (cached), not on the UI thread
        return cls(path=path, doc=doc, disk_hash=content_hash(text), provisional=True)

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def open(cls, path: str | Path, db_path: str | Path | None = None,
             parsed: Document | None = None, *, recover: bool = False, record: bool = False) -> "Session":
        """Open `path` (imported on first open, resumed from the store afterwards; an edit made to the
        file since is merged in as an `external` revision). Raises InputRefused for a file it won't take.
        `parsed`: the file already parsed (the provisional view's document): imported as it is, not parsed
        again, if the file still reads the same. No cyclic garbage collection meanwhile: all it allocates
        is the document (see `paused_gc`). `recover`: replay the journals of editors on this file that died
        (the TUI's; a CLI command leaves them to the editor). `record`: it will `record_in_background`
        (the TUI): the document's records for that are taken here, off the UI thread, and a file the store
        does not hold yet is imported there in the background (its first job: seconds for 20 MB), not here."""
        with paused_gc():
            session = cls._open(path, db_path, parsed, recover, import_later=record)
            if not record:
                session._opened_records = None
            elif session.store is not None and session._opened_records is None:
                session._opened_records = (session.doc, session.doc.records())
            return session

    @classmethod
    def _open(cls, path: str | Path, db_path: str | Path | None, parsed: Document | None,
              recover: bool = False, import_later: bool = False) -> "Session":
        path = Path(path).expanduser().resolve()
        text = read_document_file(path)
        if parsed is not None and parsed.to_markdown() != text:  # the file changed meanwhile
            parsed = None
        session = cls(path=path, doc=None, disk_hash=content_hash(text))
        try:
            db_file = session._db_file(db_path)
        except StoreError as exc:  # no data folder: no store and no journal, the file alone
            db_file = None
            session.notes.append(f"history is off: {exc}")
        if db_file is not None:
            session._orphans = Presence(db_file, path).orphaned_journals() if recover else []
            session.journal = Journal.for_document(db_file, path)
        if not path.exists():
            session.notes.append(f"new file {path.name}: it is written on the first save")
        try:
            session._open_store(text, db_path, parsed, import_later)
        except Exception as exc:  # noqa: BLE001 - StoreError, or anything else: work on the file alone
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if is_locked(exc):  # another writer holds the lock: wait for it (the TUI retries), history stays on
                session.store_locked = True
                session.store_error = f"waiting for the database: {reason}"
                session.notes.append("the database is locked by another program: your text is kept, and "
                                     "recorded in the history once the database is free")
            else:
                session.store_error = f"history is off: {reason}"
                session.notes.append(session.store_error)
            if session.store is not None:
                session.store.close()
            session.store = session.doc_id = session.revision = None
        if session.doc_id is None:
            session.doc = parsed or Document.from_markdown(text)
            session.disk_doc = file_state.copy(session.doc)
            if session._orphans:
                session.doc, _ = session._replay_journals(session.doc, None)
        session.doc.to_markdown()  # lay it out here (cached), not on the UI thread
        return session

    def _db_file(self, db_path) -> Path:
        if db_path is None:
            # the store package (SQLAlchemy) loads here: `preview_of` shows the file before it is needed
            from app.store import default_db_path

            db_path = default_db_path()
        self.db_path = Path(db_path).expanduser()
        return self.db_path

    def _open_store(self, text: str, db_path, parsed: Document | None = None, import_later: bool = False) -> None:
        """Resume the document from the store (merging an edit made to the file since as an `external`
        revision), or import it on first open (`import_later`: by the store worker, see `_import_later`)."""
        # the store (SQLAlchemy, Alembic) loads here: `preview_of` shows the file before it is needed
        from app.store import DocumentNotFound, Store

        if self.db_path is None:
            raise StoreError("no place for the revision store")
        self.store = Store(self.db_path, timeout=2.0)
        try:
            info = self.store.find_document(str(self.path))
        except DocumentNotFound:
            info = None
        if info is not None and info.path == str(self.path):
            doc, revision = self.store.current(info.id)
            self.doc_id = info.id
            if self._orphans:  # before the file is compared: what the writer typed is the writer's edit
                doc, revision = self._replay_journals(doc, revision)
            self._take_file(text, doc, revision)
            return
        if import_later and not self._orphans:  # (a dead editor's journals are replayed on the store's tree)
            self._import_later(text, parsed)
            return
        records = parsed.records() if parsed is not None else None  # once: the import's and the chain's
        info, self.doc, self.revision = self.store.import_current(text, path=str(self.path), doc=parsed,
                                                                  records=records, file_hash=self.disk_hash)
        self.doc_id = info.id
        self.disk_revision = self.revision
        if self.last_known_disk() != self.disk_hash:  # imported by another window meanwhile: merged into theirs
            self.remember_disk(self.disk_hash, self.revision)
        if records is not None and self.doc is parsed:
            self._opened_records = (parsed, records)
        if self._orphans:
            self.doc, self.revision = self._replay_journals(self.doc, self.revision)

    def _import_later(self, text: str, parsed: Document | None) -> None:
        """A first open in the editor: the tree is the writer's at once (editable, its history on) and the
        store worker imports it as its first job (`record_in_background`), before any commit queued after
        it; its id is chosen here, so that the journal and the commits name it from the start."""
        from app.store.repository import document_title

        self.doc = parsed or Document.from_markdown(text)
        records = self.doc.records()
        self.doc_id = uuid.uuid4().hex
        self._opened_records = (self.doc, records)
        self._pending_import = (text, document_title(self.doc, str(self.path)), records)
        self.unrecorded = True  # until the import is in

    def _take_file(self, text: str, doc: Document, revision: int) -> None:
        """Resume from the store's `doc` at `revision`, with the file holding `text`: an edit made to it
        since scriba last wrote it is merged in three-way (app.file_state.reconcile)."""
        done = file_state.reconcile(self.store, self.doc_id, text, current=(doc, revision))
        self.doc, self.revision = done.document, done.revision
        self.disk_doc, self.disk_revision = (None, done.disk_revision) if done.disk_revision is not None \
            else (done.disk, None)
        name = self.path.name
        if done.state == "store newer":
            self.notes.append(f"kept the changes to {name} not saved last time (ctrl+s saves them)")
        elif done.state == "merged":
            kept = f"; kept the recorded version of {_nodes(done.kept)} also changed in the file (the file's " \
                "is in the history)" if done.kept else ""
            self.notes.append(f"{name} changed outside scriba: merged {_nodes(done.taken)} from the file as an "
                              f"external revision{kept}")

    # -- recovery: the journals of instances that died ----------------------------------------------

    def _replay_journals(self, doc: Document, revision: int | None) -> tuple[Document, int | None]:
        """Put back what the writer typed and the store never got: each entry of the dead instances'
        journals as the writer's edit, against the revision it was typed on (the store merges it with
        later changes to other nodes). An entry whose node changed since, or is gone, waits for the
        writer (`recovery_conflicts`, copied into this instance's journal until decided). Returns the
        document and revision afterwards; the replayed journals are removed."""
        recovered = 0
        for journal in self._orphans:
            for entry in journal.entries():
                if entry.doc_id is not None and self.doc_id is not None and entry.doc_id != self.doc_id:
                    if not self._stored(entry.doc_id):  # typed while its first import was being written
                        self._ask_about(entry, "it was typed before the document's history was first recorded")
                    continue
                if entry.node_id in doc and doc.node(entry.node_id).text == entry.text:
                    continue  # recorded after all (or saved and merged)
                if entry.node_id not in doc:
                    self._ask_about(entry, "its node was deleted since")
                    continue
                new_doc = Document.from_records(doc.records())
                kind = str(new_doc.node(entry.node_id).kind)
                try:
                    _put_text(new_doc, entry.node_id, entry.text)
                except InputRefused as exc:
                    self._ask_about(entry, f"it no longer reads as Markdown here ({exc})")
                    continue
                if self.store is None or self.doc_id is None:
                    doc, recovered = new_doc, recovered + 1
                    self.unrecorded = True
                    continue
                base = entry.base_revision if entry.base_revision is not None else revision
                try:
                    written = self.store.commit(self.doc_id, new_doc, author="writer", operation="edit",
                                                level=kind, base_revision=base)
                except ConflictError:
                    self._ask_about(entry, "it was changed since, in the file or in another window")
                    continue
                recovered += bool(written)
                doc, revision = self.store.current(self.doc_id)
        for journal in self._orphans:
            journal.clear()
        self._orphans = []
        if recovered:
            self.notes.append(f"recovered {recovered} unrecorded edit{'s' * (recovered > 1)} from the journal "
                              "(after a crash or a kill), recorded as your edits")
        return doc, revision

    def _stored(self, doc_id: str) -> bool:
        """Does the store hold document `doc_id`? (An editor that died while importing it left none.)"""
        from app.store import DocumentNotFound

        try:
            return self.store is None or self.store.find_document(doc_id).id == doc_id
        except DocumentNotFound:
            return False

    def _ask_about(self, entry: JournalEntry, why: str) -> None:
        self.recovery_conflicts.append((entry, why))
        self.journal.write(entry.node_id, entry.base_revision, entry.text, entry.doc_id)

    def resolve_recovered(self, entry: JournalEntry, keep: bool) -> str | None:
        """The writer's answer about recovered text (`keep`: put it in, over the version there now; its
        node gone: as a new paragraph at the end). Returns the node holding it (None: not kept)."""
        self.recovery_conflicts = [(e, why) for e, why in self.recovery_conflicts if e is not entry]
        if not keep:
            return None
        doc = self.doc
        if entry.node_id in doc:
            self.edit_text(entry.node_id, entry.text)
            return entry.node_id
        before = {n.id for n in doc.walk()}
        doc.merge_markdown(doc.to_markdown().rstrip("\n") + "\n\n" + entry.text.strip() + "\n")
        self.commit(doc, author="writer", operation="edit", level="document")
        return next((n.id for n in self.doc.walk() if n.id not in before and n.parent is not None), None)

    def journal_keep(self, editing: tuple[str, str] | None) -> list[JournalEntry]:
        """What the journal must still hold once the store has everything else: the editor's text not
        given to the session yet (`editing`: node id, text) and recovered text not decided on."""
        keep = [entry for entry, _ in self.recovery_conflicts]
        if editing is not None:
            keep.append(JournalEntry(editing[0], self.revision, editing[1], time.time(), self.doc_id))
        return keep

    # -- the tree and the store ------------------------------------------------------------------

    def commit(self, new_doc: Document, *, author: str, operation: str, base_revision: int | None = None,
               **meta) -> list:
        """Make `new_doc` the current document and record it against `base_revision` (default: the
        session's revision). Returns the revisions written ([] when nothing changed or the store is
        unavailable: then `store_error` says why). After a merge with newer changes, `doc` is the
        store's merged document (a new object). ConflictError: a node it changes was changed since;
        `doc` is then the store's current document, without this change.
        Recording in the background (`record_in_background`): the change is queued and [] returned at
        once; `on_recorded` hears how it went (`what`: how a refusal names the change)."""
        what, then = meta.pop("what", "the change"), meta.pop("then", None)
        if self.store is None or self.doc_id is None:
            self.doc = new_doc
            self.unrecorded = True
            return []
        if self._worker is not None:
            with paused_gc():  # the snapshot allocates one record per node: no collection pause for it
                records = new_doc.records()
            self._queue(CommitRequest(records, author, operation, meta, base_revision, what=what, then=then))
            if base_revision is None:
                self.doc = new_doc
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

    # -- recording in the background (the TUI) ---------------------------------------------------------

    def record_in_background(self, worker: StoreWorker, on_recorded) -> None:
        """From now on commits are queued to `worker` (which owns the store from here on) and
        `on_recorded(CommitResult)` is called on the caller's thread as each is done."""
        self._worker, self.on_recorded = worker, on_recorded
        if self.store is not None and self.doc_id is not None:
            opened, self._opened_records = self._opened_records, None
            records = opened[1] if opened is not None and opened[0] is self.doc else self.doc.records()
            self._chain = CommitChain(self.store, self.doc_id, self.revision, records)
            if self._pending_import is not None:
                self._queue_import()

    @property
    def importing(self) -> bool:
        """The first import is queued or running (the writer edits meanwhile; the history comes after it)."""
        return self._pending_import is not None

    def _queue_import(self) -> None:
        text, title, records = self._pending_import
        path, digest = str(self.path), self.disk_hash
        request = CommitRequest(records, "import", "import", what="the import")
        self._queue(request, job=lambda chain, req: chain.import_document(req, text, path, title, digest))

    def _imported(self, result: CommitResult) -> None:
        """The import is done (on the UI thread, `revision` taken): the file holds that revision, unless it
        was saved meanwhile (then the store hears the file's hash, after the commits queued meanwhile: the
        import noted the opened file's)."""
        self._pending_import = None
        if result.error is not None:
            return
        self.doc_id = self._chain.doc_id  # another window's, when it imported the file first
        if self.disk_doc is None and self.disk_revision is None:
            self.disk_revision = result.revision
        elif self.disk_hash is not None:
            digest = self.disk_hash
            self._worker.submit(lambda: self.remember_disk(digest, None))

    @property
    def recording(self) -> bool:
        """Changes are queued to the store and not yet recorded."""
        return self._in_flight > 0

    @property
    def held_up(self) -> bool:
        """The queued changes wait for the database's lock (another program is writing)."""
        return self._worker is not None and self._worker.waiting

    def _queue(self, request: CommitRequest, restore: tuple[int, str | None] | None = None, job=None) -> None:
        """Queue `request` on the store worker: a commit, a restore, or `job(chain, request)` (an undo)."""
        request.adopted, self._adopted = self._adopted, False
        self._in_flight += 1
        chain = self._chain

        def done(result: CommitResult | BaseException) -> None:
            if isinstance(result, BaseException):  # a bug, not the store: the change stays in the tree
                log.error("recording %s failed", request.what, exc_info=result)
                result = CommitResult(request, revision=self.revision,
                                      error=StoreError(f"{type(result).__name__}: {result}"))
            self._recorded(result)

        if job is not None:
            self._worker.submit(lambda: job(chain, request), done)
        elif restore is None:
            self.unrecorded = True
            self._worker.submit(lambda: chain.commit(request), done)
        else:
            self._worker.submit(lambda: chain.restore(*restore, request), done)

    def _recorded(self, result: CommitResult) -> None:
        """A queued commit is done (on the UI thread): take the store's revision, and its tree when
        another writer's changes were merged in (once nothing else is queued: a later result brings it
        otherwise)."""
        self._in_flight -= 1
        if result.error is not None and not isinstance(result.error, ConflictError) \
                and result.request.operation != "restore":  # a refused restore changed nothing
            self.store_error = str(result.error)
            self.unrecorded = True
        else:
            self.store_error = None
            self.revision = result.revision
            if result.store_doc is not None and not self._in_flight:
                self.doc, self._adopted = result.store_doc, True
            self.unrecorded = self._in_flight > 0
        if result.request.operation == "import":
            self._imported(result)
        if self.on_recorded is not None:
            self.on_recorded(result)
        if result.request.then is not None:
            result.request.then(result)

    def adopt_unrecorded(self, other: "Session") -> None:
        """`other` is this document opened without its store (it was locked): take what the writer did
        there into this session's tree (`commit_unrecorded` records it, as the writer's edit)."""
        self.recovery_conflicts = other.recovery_conflicts + self.recovery_conflicts
        if other.markdown != self.markdown:
            self.doc.merge_markdown(other.markdown)
            self.unrecorded = True

    def commit_unrecorded(self) -> None:
        if self.unrecorded:
            self.commit(self.doc, author="writer", operation="edit", level="document")

    def settle_journal(self, editing: tuple[str, str] | None) -> None:
        """Everything given to the session is recorded: empty the journal but for `journal_keep`."""
        if self.journal is not None and not self.unrecorded and not self._in_flight:
            self.journal.clear(self.journal_keep(editing))

    def flush(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds: at quit) until every queued commit is recorded, retrying a
        locked database meanwhile. False: some are not (they stay in the journal)."""
        if self._worker is None or self._chain is None:  # no store to wait for
            return not self.unrecorded
        if self.importing:  # the import holds everything else up: it takes seconds, not a lock's wait
            timeout += IMPORT_WAIT_SECONDS
        return self._worker.drain(timeout) and not self._chain.unsettled

    def accept(self, proposal, texts: list[str], index: int, model: str | None = None, then=None):
        """Apply candidate `index` of an app.writing.Proposal and commit it against the revision it was
        proposed on (see app.writing). Returns app.writing.Accepted; raises ConflictError, ActionRefused.
        Without a store there is nothing to merge with: the candidate goes into the document as it is now.
        Recording in the background: returns None, and `then(Accepted or the StoreError that refused it)`
        once recorded (the queued commit carries the candidate's metadata, however long the lock holds)."""
        merged = self.store is not None and proposal.base_revision is not None
        new_doc, changed = writing.apply(proposal, texts, index, onto=None if merged else self.doc)
        meta = writing.commit_meta(proposal, texts, index, model)
        if self._worker is not None and merged:
            def recorded(result: CommitResult) -> None:
                if then is not None:
                    then(result.error or writing.Accepted(self.doc, self.revision, result.revisions, changed,
                                                          writing.focus_after(proposal, self.doc, changed)))

            self.commit(new_doc, base_revision=proposal.base_revision, what=f"candidate {index + 1}",
                        then=recorded, **meta)
            return None
        revisions = self.commit(new_doc, base_revision=proposal.base_revision, **meta)
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
        node = doc.node(node_id)
        kind, place = str(node.kind), _place(node)
        _put_text(doc, node_id, text)
        change = doc.last_change  # what the edit did (no pass over a big document's every node)
        if self.journal is not None and self._worker is not None:  # durable before it is queued
            self.journal.write(node_id, self.revision, text, self.doc_id)
        self.commit(doc, author="writer", operation="edit", level=kind,
                    what=f"your edit “{text.strip()[:40]}”")
        if self.doc is not doc:  # merged with another window's changes: a new tree
            return True
        # a heading whose level changed moves, with the sections after it, under another parent: same ids
        return bool(change.created or change.deleted) or node_id not in doc or _place(doc.node(node_id)) != place

    def insert_after(self, node_id: str | None, kind: str) -> str:
        """A new paragraph (or heading) right after `node_id` (after a heading: a paragraph at the top of
        its section, a heading after it at the same level; None: at the end of the document, a level-1
        heading). Returns the new node's id."""
        doc = self.doc
        if node_id is None:
            text = "New paragraph." if kind == "paragraph" else "# New section"
            new_id = doc.insert(doc.root.id, len(doc.root.children), kind, text)
            self.commit(doc, author="writer", operation="insert")
            return new_id
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

    def external_merge(self, text: str, editing: str | None = None) -> ExternalMerge:
        """The three-way merge of `text` (the file as another editor left it) into the document, against
        the document as the file last held it (`disk_doc`): what it takes, what conflicts. `editing`: the
        node with the editor's pending text, a conflict too if the file changed it."""
        merge = ExternalMerge(self._disk_base(), self.doc, text)
        if editing is not None:
            merge.also_conflicting(editing)
        return merge

    def merge_external(self, text: str, prefer: str = "ours", editing: str | None = None) -> MergeOutcome:
        """Merge `text` (the file as another editor left it) into the document three-way: the nodes only
        the file changed take its version, the ones changed on both sides `prefer`'s ("ours": the file's
        version is recorded first, as an `external` revision, then ours again as the writer's, so the
        history has both). ConflictError: another window changed one of them in the store meanwhile."""
        merge = self.external_merge(text, editing)
        revisions: list = []
        exact = None  # the revision whose document is exactly the file's, if one is
        if merge.changes_anything:
            theirs_everywhere = merge.with_theirs_everywhere()
            revisions += self.commit(theirs_everywhere, author="external", operation="edit", level="document")
            if not self.unrecorded and theirs_everywhere.to_markdown() == text:
                exact = self.revision
            if merge.conflicts and prefer == "ours":
                revisions += self.commit(merge.result("ours"), author="writer", operation="edit",
                                         level="document")
        self._note_disk(merge.theirs, content_hash(text), exact)
        kept = merge.conflicts if prefer == "ours" else []
        taken = merge.taken + ([] if prefer == "ours" else merge.conflicts)
        return MergeOutcome(taken, kept, revisions)

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

    def restore(self, revision_id: int, node_id: str | None = None, then=None) -> list:
        """Restore the document (or `node_id`) as of `revision_id`, as new revisions. Recording in the
        background: queued after the commits before it, [] returned, `then(CommitResult)` once done.
        A revision inside a change means the end of that change (the store restores whole changes only)."""
        revision_id = self.store.change_end(self.doc_id, revision_id)
        if self._worker is not None and self._chain is not None:
            self._queue(CommitRequest([], "writer", "restore", then=then), restore=(revision_id, node_id))
            return []
        revisions = self.store.restore(self.doc_id, revision_id, node_id)
        self.doc, self.revision = self.store.current(self.doc_id)
        return revisions

    def undo(self, redo: bool = False, then=None):
        """Undo the document's last change (redo=True: redo the last undone one), as a restore recorded as
        new revisions (app.undo: nothing leaves the history). Returns (app.undo.Step, revisions); recording
        in the background: queued after the commits before it, None returned, `then(CommitResult)` once
        done (`request.what` names the change; error NothingToUndo when there was none to undo).
        StoreError: no store (history is off)."""
        if self.store is None or self.doc_id is None:
            raise StoreError(f"{'redo' if redo else 'undo'} needs the history, and {self.store_error or 'it is off'}")
        if self._worker is not None and self._chain is not None:
            self._queue(CommitRequest([], "writer", "restore", then=then),
                        job=lambda chain, request: undo.in_chain(chain, request, redo))
            return None
        done = undo.step(self.store, self.doc_id, redo)
        self.doc, self.revision = self.store.current(self.doc_id)
        return done

    # -- the file ----------------------------------------------------------------------------------

    @property
    def markdown(self) -> str:
        return self.doc.to_markdown()

    @property
    def saved(self) -> bool:
        """The file on disk holds exactly the current document."""
        return self.disk_hash is not None and content_hash(self.markdown) == self.disk_hash

    def changed_on_disk(self) -> str | None:
        """The file's text if it is not what scriba last wrote or read (an edit made elsewhere that the
        watcher missed, or that is still to be merged); None when unchanged or gone. A read that finds the
        file emptied or cut short waits for it to settle first (another editor rewriting it in place)."""
        if self.disk_hash is None:
            return None
        try:
            data = read_settled(self.path, len(self.markdown.encode("utf-8")), settle_s=0)
        except FileNotFoundError:
            return None
        if content_hash(data) == self.disk_hash:
            return None
        text = decode(data)
        return None if content_hash(text) == self.disk_hash else text

    def save(self) -> str:
        """Write the document to its file atomically; returns the content hash written. A file changed
        on disk since scriba last wrote or read it is merged first (`merge_external`: the writer's
        version kept where both changed a node, the file's in the history), never overwritten unrecorded."""
        text = self.changed_on_disk()
        if text is not None:
            self.merge_external(text)
        markdown = self.markdown
        digest = atomic_write(self.path, markdown)
        self._note_disk(self.doc, digest)
        return digest

    def _note_disk(self, on_disk: Document, digest: str, revision: int | None = None) -> None:
        """The file now holds `on_disk` (content hash `digest`): the base of the next external merge, and
        store state (with the revision it was made from, when it is exactly the recorded document: then
        no copy of the tree is kept, the store has it)."""
        if revision is None and self.store is not None and not self.unrecorded \
                and content_hash(self.markdown) == digest:
            revision = self.revision
        exact = revision is not None
        self.disk_hash = digest
        self.disk_revision = revision
        self.disk_doc = None if exact else file_state.copy(on_disk)
        self.remember_disk(digest, self.disk_revision)

    def _disk_base(self) -> Document:
        """The document as the file last held it (see `disk_revision`); unknown: the document itself."""
        if self._pending_import is not None and self.disk_doc is None:  # the file as opened, not imported yet
            return Document.from_records(self._pending_import[2])
        if self.disk_revision is not None and self.store is not None:
            try:
                return self.store.at(self.doc_id, self.disk_revision)
            except StoreError as exc:
                log.info("could not read the saved revision: %s", exc)
        return self.disk_doc if self.disk_doc is not None else file_state.copy(self.doc)

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

    def remember_disk(self, digest: str, revision: int | None = None) -> None:
        if self.store is None or self.doc_id is None:
            return
        if self.importing:  # no document to note it on yet (and its write waits on the import's lock)
            return
        try:
            self.store.set_file_hash(self.doc_id, digest, revision)
        except StoreError as exc:
            log.info("could not note the saved state: %s", exc)

    def export(self, target: str | Path, doc: Document | None = None) -> Path:
        target = Path(target).expanduser()
        atomic_write(target, (doc or self.doc).to_markdown())
        return target

    def close(self) -> None:
        if self._worker is not None:  # the store is not closed under a job still running (a big import)
            self._worker.stop(wait=IMPORT_WAIT_SECONDS if self.importing else 5.0)
        if self.store is not None:
            self.store.close()
            self.store = None
