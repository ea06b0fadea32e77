"""Text in flight survives: the journal of a killed process is replayed as the writer's edits on the next
open (or asked about when it conflicts); commits queued to the store worker wait out a locked database
(held by another real process) and keep their metadata; queued commits never revert another writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from app.journal import Journal
from app.session import Session
from app.store import Store
from app.store_worker import StoreWorker
from engine.document import Document

ESSAY = "# Title\n\nOne sentence here. Another one there.\n\nA second paragraph.\n"


def node(doc, start):
    return next(n for n in doc.walk() if n.parent is not None and n.text.startswith(start))


def run_and_kill(code: str) -> None:
    """Run `code` in a real Python process until it prints READY, then SIGKILL it."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def hold_lock(db_path, seconds: float) -> subprocess.Popen:
    """Another process that holds the database's write lock for `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, sys, time
        con = sqlite3.connect({str(db_path)!r}, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        print("LOCKED", flush=True)
        time.sleep({seconds})
        con.execute("ROLLBACK")
        """)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "LOCKED"
    return proc


def test_text_journaled_by_a_killed_process_is_recovered_as_the_writers_edit(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    Session.open(path, db).close()
    run_and_kill(f"""
        from app.session import Session
        s = Session.open({str(path)!r}, {str(db)!r})
        n = next(n for n in s.doc.walk() if n.text.startswith("Another"))
        s.journal.write(n.id, s.revision, "Another one, typed and never recorded.", s.doc_id)
        print("READY", flush=True)
        import time; time.sleep(60)
        """)
    session = Session.open(path, db, recover=True)
    try:
        assert node(session.doc, "Another").text == "Another one, typed and never recorded."
        assert any("recovered 1 unrecorded edit" in note for note in session.notes)
        last = session.store.history(session.doc_id)[-1]
        assert (last.author, last.operation, last.text) == ("writer", "edit", "Another one, typed and never recorded.")
        assert Journal.all_for_document(db, path) == {}  # replayed: gone
    finally:
        session.close()


def test_recovered_text_whose_node_changed_since_is_asked_about(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    first = Session.open(path, db)
    target = node(first.doc, "Another").id
    base = first.revision
    first.close()
    run_and_kill(f"""
        from app.journal import Journal
        Journal.for_document({str(db)!r}, {str(path)!r}).write({target!r}, {base}, "Mine, from the dead window.")
        print("READY", flush=True)
        import time; time.sleep(60)
        """)
    other = Session.open(path, db)  # meanwhile another window changed the same sentence
    other.edit_text(target, "Theirs, recorded.")
    other.close()
    session = Session.open(path, db, recover=True)
    try:
        assert session.doc.node(target).text == "Theirs, recorded."  # nothing overwritten unasked
        [(entry, why)] = session.recovery_conflicts
        assert entry.text == "Mine, from the dead window." and "changed since" in why
        assert [e.text for e in session.journal.entries()] == ["Mine, from the dead window."]  # kept till decided
        session.resolve_recovered(entry, keep=True)
        assert session.doc.node(target).text == "Mine, from the dead window."
        assert session.store.current(session.doc_id)[0].node(target).text == "Mine, from the dead window."
    finally:
        session.close()


def test_a_lock_held_at_opening_does_not_turn_history_off(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    Store(db).close()
    locker = hold_lock(db, 4)
    try:
        session = Session.open(path, db)  # the first open imports: it needs the lock
        assert session.store_locked and not any("history is off" in n for n in session.notes)
        assert session.doc.to_markdown() == ESSAY  # the file, to work on meanwhile
        session.close()
    finally:
        locker.wait()


def test_a_queued_candidate_waits_out_the_lock_and_keeps_its_metadata(tmp_path):
    from app import writing

    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    session = Session.open(path, db)
    results = []
    session.record_in_background(StoreWorker(), results.append)
    try:
        proposal = writing.propose(session.doc, node(session.doc, "Another").id, "rewrite", None,
                                   writing.Sampling(n=2, seed=7), base_revision=session.revision)
        texts = ["A rewritten one.", "Another rewrite."]
        locker = hold_lock(db, 3)
        started = time.monotonic()
        accepted = []
        assert session.accept(proposal, texts, 1, model="tiny", then=accepted.append) is None  # queued
        assert time.monotonic() - started < 0.5  # nothing waited for the lock here
        assert session.flush(20)
        locker.wait()
        [outcome] = accepted
        assert not isinstance(outcome, Exception)
        with Store(db) as store:
            last = store.history(session.doc_id)[-1]
        assert (last.author, last.operation, last.model, last.chosen, last.candidates) == \
            ("model", "rewrite", "tiny", 1, texts)
        assert last.params["seed"] == 7 and "Another rewrite." in session.doc.to_markdown()
    finally:
        session.close()


def test_queued_edits_never_revert_another_writers_change(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    session = Session.open(path, db)
    results = []
    session.record_in_background(StoreWorker(), results.append)
    try:
        mine, theirs = node(session.doc, "One").id, node(session.doc, "A second").id
        other = Session.open(path, db)
        other.edit_text(theirs, "A second paragraph, theirs.")
        other.close()
        session.edit_text(mine, "One sentence, mine.")  # merged with theirs in the store
        session.edit_text(mine, "One sentence, mine again.")  # queued before the merge came back
        assert session.flush(10) and len(results) == 2
        stored = Store(db)
        current = stored.current(session.doc_id)[0]
        stored.close()
        assert current.node(theirs).text == "A second paragraph, theirs."
        assert current.node(mine).text == "One sentence, mine again."
        assert isinstance(session.doc, Document) and session.doc.node(theirs).text == "A second paragraph, theirs."
    finally:
        session.close()
