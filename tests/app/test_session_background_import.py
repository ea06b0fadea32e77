"""A first open in the editor (`Session.open(..., record=True)`) imports the file in the background: the
store worker's first job, while the writer already edits. Nothing typed meanwhile is lost, the store ends up
holding exactly the session's tree (its import revision exactly the file), a save made meanwhile is noted,
and text journaled by an editor killed before its import was written is asked about on the next open."""

from __future__ import annotations

import threading
import time

from app.session import Session
from app.store import Store
from app.store_worker import StoreWorker
from app.sync import content_hash
from tests.app.test_session_durability import ESSAY, node, run_and_kill


def held_worker() -> tuple[StoreWorker, threading.Event]:
    """A store worker whose first job waits for the event: what is queued after it waits too."""
    worker, go = StoreWorker(), threading.Event()
    worker.submit(lambda: go.wait(10))
    return worker, go


def opened_importing(path, db) -> tuple[Session, threading.Event, list]:
    session = Session.open(path, db, record=True)
    worker, go = held_worker()
    results: list = []
    session.record_in_background(worker, results.append)
    return session, go, results


def test_edits_made_while_the_import_is_queued_reach_the_store_after_it(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    session, go, results = opened_importing(path, db)
    try:
        assert session.importing and session.store is not None and session.revision is None
        with Store(db) as store:
            assert store.documents() == []  # not written yet: the writer edits meanwhile
        session.edit_text(node(session.doc, "Another").id, "Another one, typed during the import.")
        new = session.insert_after(node(session.doc, "A second").id, "paragraph")
        go.set()
        assert session.flush(10) and not session.importing and not session.unrecorded
        assert [r.request.operation for r in results] == ["import", "edit", "insert"]
        assert all(r.error is None for r in results)
        with Store(db) as store:
            current, revision = store.current(session.doc_id)
            assert revision == session.revision
            assert current.records() == session.doc.records()  # the store holds exactly the session's tree
            history = store.history(session.doc_id)
            imported = store.change_end(session.doc_id, history[0].id)
            assert store.at(session.doc_id, imported).to_markdown() == ESSAY  # the import is the file
            last = [r for r in history if r.change_id == history[-1].change_id]
            assert new in {r.node_id for r in last} and history[-1].operation == "insert"
            assert store.file_hash(session.doc_id) == content_hash(ESSAY)
    finally:
        session.close()


def test_a_save_made_during_the_import_is_noted_once_it_is_in(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    session, go, _ = opened_importing(path, db)
    try:
        session.edit_text(node(session.doc, "One").id, "One sentence, saved during the import.")
        digest = session.save()
        go.set()
        assert session.flush(10)
        with Store(db) as store:
            assert store.file_hash(session.doc_id) == digest
    finally:
        session.close()
    again = Session.open(path, db)  # not "changed outside scriba": the store knows what was saved
    try:
        assert not any("changed outside" in note for note in again.notes)
        assert node(again.doc, "One").text == "One sentence, saved during the import."
    finally:
        again.close()


def test_an_external_edit_during_the_import_is_merged_against_the_file_as_opened(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    session, go, _ = opened_importing(path, db)
    try:
        session.edit_text(node(session.doc, "One").id, "One sentence, mine.")
        theirs = ESSAY.replace("A second paragraph.", "A second paragraph, theirs.")
        merge = session.external_merge(theirs)
        assert not merge.conflicts  # they changed another node than the writer: both are kept
        go.set()
        session.merge_external(theirs)
        assert session.flush(10)
        text = session.doc.to_markdown()
        assert "One sentence, mine." in text and "A second paragraph, theirs." in text
    finally:
        session.close()


def test_text_typed_before_a_killed_editors_import_was_written_is_asked_about(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    run_and_kill(f"""
        from app.session import Session
        s = Session.open({str(path)!r}, {str(db)!r}, record=True)  # the import would be the worker's job
        n = next(n for n in s.doc.walk() if n.text.startswith("Another"))
        s.journal.write(n.id, s.revision, "Another one, typed before the import was written.", s.doc_id)
        print("READY", flush=True)
        import time; time.sleep(60)
        """)
    session = Session.open(path, db, recover=True)
    try:
        [(entry, why)] = session.recovery_conflicts  # not dropped: its document never reached the store
        assert entry.text == "Another one, typed before the import was written." and "first recorded" in why
        focus = session.resolve_recovered(entry, keep=True)
        assert session.doc.node(focus).text == "Another one, typed before the import was written."
    finally:
        session.close()


def test_closing_waits_for_the_job_running_on_the_store_not_closed_under_it(tmp_path):
    path, db = tmp_path / "essay.md", tmp_path / "s.db"
    path.write_text(ESSAY)
    session = Session.open(path, db, record=True)
    worker, started, finished = StoreWorker(), threading.Event(), threading.Event()
    worker.submit(lambda: (started.set(), time.sleep(0.5), finished.set()))  # a long job (a big import)
    session.record_in_background(worker, lambda result: None)
    assert started.wait(5)
    session.close()
    assert finished.is_set() and session.store is None
