"""The store, off the UI thread: one worker thread per open session that owns its `Store` and runs the
session's store work in order (FIFO), waiting out a locked database in the background instead of
failing (or freezing the keys).

`StoreWorker.submit(job, done)` runs `job()` on the thread; a `StoreError` that says the database is
locked is retried (with backoff, `on_waiting(True/False)` told) until it succeeds or the worker stops;
`done(result or exception)` is handed to `deliver`, which must not wait for the caller's thread (the
TUI passes its event loop's `call_soon_threadsafe`: quit waits for the worker on the UI thread).

`CommitChain` is the worker's memory of the session's commits, so that commits can queue up while
the UI keeps changing the tree: each request carries a snapshot of the session's tree (its records)
and the metadata of the change (author, operation, candidates, …); the chain commits it against the
revision its previous commit left, and when another writer's changes were merged in meanwhile (so the
store's tree differs from the session's), it applies only what the session changed since its previous
request on top of the store's tree: the other writer's nodes are never reverted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from app.store.errors import ConflictError, StoreError
from engine.document import Document, NodeRecord
from engine.document.nodes import paused_gc

log = logging.getLogger("scriba.store_worker")

RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)  # backoff while the database is locked (then every 2 s)


def is_locked(exc: BaseException) -> bool:
    return isinstance(exc, StoreError) and not isinstance(exc, ConflictError) and "locked" in str(exc).lower()


class StoreWorker:
    def __init__(self, deliver: Callable[..., Any] = lambda fn, *a: fn(*a),
                 on_waiting: Callable[[bool], None] | None = None) -> None:
        self._deliver = deliver
        self._on_waiting = on_waiting
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._pending = 0
        self.waiting = False  # the job at the head is waiting for the database lock
        self._thread = threading.Thread(target=self._run, name="scriba store", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Jobs submitted and not yet finished."""
        return self._pending

    def submit(self, job: Callable[[], Any], done: Callable[[Any], None] | None = None) -> None:
        with self._idle:
            self._pending += 1
        self._jobs.put((job, done))

    def drain(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until every job submitted so far has finished."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self, wait: float = 0.0) -> None:
        """Finish the job running now (a locked one gives up) and drop the rest; `wait`: at most that many
        seconds for it to finish (before the store it uses is closed)."""
        self._stop.set()
        self._jobs.put(None)
        if wait > 0 and threading.current_thread() is not self._thread:
            self._thread.join(wait)

    def _set_waiting(self, waiting: bool) -> None:
        if waiting != self.waiting:
            self.waiting = waiting
            if self._on_waiting is not None:
                self._deliver(self._on_waiting, waiting)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None or self._stop.is_set():
                return
            job, done = item
            result = self._attempt(job)
            if done is not None and not self._stop.is_set():
                try:
                    self._deliver(done, result)
                except Exception:  # noqa: BLE001 - the app is gone: nothing to tell
                    log.exception("delivering a store result")
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _attempt(self, job: Callable[[], Any]) -> Any:
        tries = 0
        while True:
            try:
                # no cyclic collection meanwhile: a job on a big document allocates (and frees) hundreds of
                # thousands of objects, and a full collection holds the GIL for the UI thread too (0.3 s+)
                with paused_gc():
                    result = job()
            except Exception as exc:  # noqa: BLE001 - handed to `done`, which says it
                if is_locked(exc) and not self._stop.is_set():
                    self._set_waiting(True)
                    self._stop.wait(RETRY_SECONDS[min(tries, len(RETRY_SECONDS) - 1)])
                    tries += 1
                    continue
                result = exc
            self._set_waiting(False)
            return result


@dataclass
class CommitRequest:
    records: list[NodeRecord]  # the session's tree when the change was made
    author: str
    operation: str
    meta: dict = field(default_factory=dict)  # level, instruction, model, params, candidates, chosen
    base_revision: int | None = None  # an explicit base (an accepted candidate's); None: the chain's
    adopted: bool = False  # the tree derives from the store tree of the previous result (the UI took it)
    what: str = "the change"  # how a refusal names it ("your edit “…”", "candidate 2")
    then: Callable[[CommitResult], None] | None = None  # what the UI does next with the result


@dataclass
class CommitResult:
    request: CommitRequest
    revisions: list = field(default_factory=list)
    revision: int | None = None  # the store revision the chain stands on now
    store_doc: Document | None = None  # the store's tree, when it differs from the request's
    error: StoreError | None = None  # ConflictError, or a store failure that is not a lock


def _by_id(records) -> dict[str, NodeRecord]:
    return {r.id: r for r in records}


def _changes(old: dict[str, NodeRecord], new: dict[str, NodeRecord]) -> dict[str, NodeRecord | None]:
    """What turns `old` into `new`, node by node (None: deleted)."""
    out: dict[str, NodeRecord | None] = {nid: rec for nid, rec in new.items() if old.get(nid) != rec}
    out.update({nid: None for nid in old if nid not in new})
    return out


def _tree(records: dict[str, NodeRecord]) -> Document:
    return Document.from_records(list(records.values()))


class CommitChain:
    """The session's commits, in order, on the worker thread (see the module docstring)."""

    def __init__(self, store, doc_id: str, revision: int | None, records: list[NodeRecord]) -> None:
        self.store = store
        self.doc_id = doc_id
        self.revision = revision
        self.committed = _by_id(records)  # the session's tree as of its last request
        self.stored: dict[str, NodeRecord] | None = None  # the store's tree, where it differs from that
        self.unsettled = False  # the last request was refused or failed: its change is not in the store

    def commit(self, req: CommitRequest) -> CommitResult:
        """Run on the worker thread; a locked database raises (the worker retries the whole request)."""
        new = _by_id(req.records)
        if req.adopted and self.stored is not None:
            self.committed, self.stored = self.stored, None
        if req.base_revision is not None:  # the store merges it from its own base
            target, base = new, req.base_revision
        elif self.stored is None:
            target, base = new, self.revision
        else:  # the store holds other writers' changes the session has not taken yet: keep them
            target, base = dict(self.stored), self.revision
            for nid, rec in _changes(self.committed, new).items():
                if rec is None:
                    target.pop(nid, None)
                else:
                    target[nid] = rec
        try:
            revisions = self.store.commit(self.doc_id, _tree(target) if target is not new else Document.from_records(
                req.records), author=req.author, operation=req.operation, base_revision=base, **req.meta)
        except ConflictError as exc:
            self._resync(new if req.base_revision is None else None)
            self.unsettled = True
            return CommitResult(req, revision=self.revision, store_doc=_tree(self.stored or self.committed),
                                error=exc)
        except StoreError as exc:
            if is_locked(exc):
                raise
            self.unsettled = True
            return CommitResult(req, revision=self.revision, error=exc)
        self.unsettled = False
        alone = base == self.revision and (not revisions or min(r.id for r in revisions) == self.revision + 1)
        if alone and req.base_revision is None and target is new:
            self.committed, self.stored = new, None
            if revisions:
                self.revision = max(r.id for r in revisions)
            return CommitResult(req, revisions, self.revision)
        self._resync(new if req.base_revision is None else None)
        return CommitResult(req, revisions, self.revision,
                            store_doc=_tree(self.stored) if self.stored is not None else None)

    def import_document(self, req: CommitRequest, text: str, path: str, title: str | None,
                        file_hash: str | None) -> CommitResult:
        """The document's first import (`req.records`, the session's tree when opened: `committed`), the
        chain's first job, while the writer already edits the tree; the commits queued meanwhile follow it.
        Imported by another window meanwhile: `text` is merged into that document (`doc_id` becomes
        its), whose tree the session then takes, as after a merge."""
        try:
            info, alone = self.store.import_records(text, req.records, path=path, title=title, doc_id=self.doc_id,
                                                    file_hash=file_hash)
        except StoreError as exc:
            if is_locked(exc):
                raise
            self.unsettled = True  # nothing is in the store: quitting keeps the journal
            return CommitResult(req, error=exc)
        self.unsettled = False
        self.revision = info.revision
        if alone:
            return CommitResult(req, revision=self.revision)
        self.doc_id = info.id
        self._resync(None)
        return CommitResult(req, revision=self.revision,
                            store_doc=_tree(self.stored) if self.stored is not None else None)

    def restore(self, revision_id: int, node_id: str | None, req: CommitRequest) -> CommitResult:
        """`Store.restore` in line with the commits; the session takes the store's tree afterwards."""
        if req.adopted and self.stored is not None:
            self.committed, self.stored = self.stored, None
        try:
            revisions = self.store.restore(self.doc_id, revision_id, node_id, params=req.meta.get("params"))
        except StoreError as exc:
            if is_locked(exc):
                raise
            return CommitResult(req, revision=self.revision, error=exc)  # refused: nothing changed
        self._resync(None)
        return CommitResult(req, revisions, self.revision, store_doc=_tree(self.stored or self.committed))

    def _resync(self, committed: dict[str, NodeRecord] | None) -> None:
        """Read the store's tree after a merge or a refusal; `committed`: the session's tree now."""
        doc, self.revision = self.store.current(self.doc_id)
        if committed is not None:
            self.committed = committed
        self.stored = _by_id(doc.records())
        if self.stored == self.committed:
            self.stored = None
