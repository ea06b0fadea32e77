"""Keeping the writer's text safe while the editor runs: the session's store worker (commits off the UI
thread, a locked database waited for in the background), the journal of text in flight, recovered text
to ask about, other live windows on the same document (a warning in the status bar), and quitting
(or a SIGTERM / SIGHUP) with everything recorded or, failing that, kept in the journal.

The screen creates one Recorder, hands it each opened session (`attach`) and calls `leave` before the
app exits; the Recorder drives the document view it is given and the status bar.
"""

from __future__ import annotations

import asyncio
import contextvars

from textual.screen import Screen

from app.instances import HEARTBEAT_SECONDS, Presence
from app.session import Session
from app.store.errors import StoreError
from app.store_worker import StoreWorker
from app.tui.document_view import DocumentView
from app.tui.screens.dialogs import Choice
from app.tui.widgets.outline import preview
from app.tui.widgets.status import StatusBar

QUIT_WAIT_SECONDS = 5.0  # how long quitting waits for a locked database before leaving it to the journal


class Recorder:
    def __init__(self, screen: Screen, view: DocumentView, status: StatusBar, db_path) -> None:
        self.screen = screen
        self.view = view
        self.status = status
        self.db_path = db_path
        self.worker: StoreWorker | None = None
        self.presence: Presence | None = None
        self._heartbeat = None
        self.farewell: str | None = None  # what to tell the writer after the screen is gone

    def attach(self, session: Session) -> None:
        """The session is open (not provisional): record in the background from now on; ask about
        recovered text; keep retrying a store that was locked at opening."""
        self.worker = self._new_worker()
        session.record_in_background(self.worker, self.view.recorded)
        if session.db_path is not None:
            self.presence = Presence(session.db_path, session.path)
            self._beat()
            self._heartbeat = self.screen.set_interval(HEARTBEAT_SECONDS, self._beat)
        if session.store_locked:
            self.view.waiting(True)
            self.worker.submit(lambda: _open_when_free(session.path, self.db_path), self._store_free)
        self._ask_about_recovered(session)

    def _new_worker(self) -> StoreWorker:
        """A store worker whose results are handed to the event loop without waiting for it (quit waits
        for the worker on this thread), in the app's context (Textual's timers and notes need it)."""
        loop, context = asyncio.get_running_loop(), contextvars.copy_context()
        return StoreWorker(deliver=lambda fn, *args: loop.call_soon_threadsafe(fn, *args, context=context),
                           on_waiting=self.view.waiting)

    # -- other windows ----------------------------------------------------------------------------

    def _beat(self) -> None:
        try:
            self.presence.beat()
            others = self.presence.others()
        except OSError:
            return
        self.status.others = (f"⚠ also open in {'another window' if len(others) == 1 else f'{len(others)} windows'}"
                              f" (pid {', '.join(str(o.pid) for o in others)})") if others else ""

    # -- a store locked at opening ----------------------------------------------------------------

    def _store_free(self, fresh) -> None:
        """The store opened at last (`fresh`: a session on it, or the exception that stopped trying):
        take it, with what the writer did meanwhile merged in as the writer's edit."""
        session = self.view.session
        if isinstance(fresh, BaseException):
            self.view.waiting(False)
            session.store_locked = False
            session.store_error = f"history is off: {fresh}"
            self.screen.notify(session.store_error, severity="error", timeout=10)
            return
        fresh.adopt_unrecorded(session)
        self.worker.stop()
        self.worker = self._new_worker()
        fresh.record_in_background(self.worker, self.view.recorded)
        fresh.commit_unrecorded()
        self.view.waiting(False)
        self.view.show_opened(fresh)
        self.screen.notify("the database is free again: history is on", timeout=4)

    # -- recovered text ---------------------------------------------------------------------------

    def _ask_about_recovered(self, session: Session) -> None:
        if not session.recovery_conflicts:
            return
        entry, why = session.recovery_conflicts[0]

        def decide(choice: str | None) -> None:
            focus = session.resolve_recovered(entry, keep=choice == "mine")
            self.view.show_document(select=focus)
            session.settle_journal(self.view.editor.in_flight())
            self._ask_about_recovered(session)

        self.screen.app.push_screen(Choice(
            "Recovered text", f"After scriba stopped unexpectedly, the journal held text you typed that was "
            f"not recorded: “{preview(entry.text, 60)}”. It was not put back because {why}. Which version "
            "do you want?", [("mine", "Put my recovered text back"), ("theirs", "Keep the version there now")]),
            decide)

    # -- leaving ------------------------------------------------------------------------------------

    def leave(self) -> None:
        """Before the app exits (quit, SIGTERM, SIGHUP): the pending edit is recorded by the caller; wait
        (boundedly) until the store has everything, then empty the journal — or say that it keeps it."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self.presence is not None:
            self.presence.leave()
        session = self.view.session
        if session is None or session.provisional:
            return
        if session.flush(QUIT_WAIT_SECONDS):
            if session.journal is not None:
                session.journal.clear(session.journal_keep(None))
        elif session.journal is not None and session.store is not None:
            why = session.store_error or "the database is locked"
            self.farewell = (f"scriba: the revision store could not record your last changes ({why}); they are "
                             f"kept in the journal and recovered when you open {session.name} again")
        if self.worker is not None:
            self.worker.stop()


def _open_when_free(path, db_path) -> Session:
    """A session on the store, once its lock is free (the worker retries while it is held)."""
    fresh = Session.open(path, db_path)
    if fresh.store_locked:
        fresh.close()
        raise StoreError(fresh.store_error or "database is locked")
    return fresh
