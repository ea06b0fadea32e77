"""Document-level undo / redo through the revision store (real SQLite): an undo restores the state before
the last change as a new revision, a redo the state before that undo, a new change clears the redo, an
undo can itself be undone, nothing leaves the history, and the stacks survive reopening."""

from __future__ import annotations

import pytest

from app import undo, writing
from app.session import Session
from app.store import Store
from app.store_worker import StoreWorker

ESSAY = "# Essay\n\nOne sentence here. Another one.\n\nA second paragraph.\n\n## Part\n\nPart text.\n"


def node(doc, start):
    return next(n for n in doc.walk() if n.parent is not None and n.text.lstrip("# ").startswith(start))


@pytest.fixture
def session(tmp_path):
    path = tmp_path / "essay.md"
    path.write_text(ESSAY)
    s = Session.open(path, tmp_path / "s.db")
    yield s
    s.close()


def test_nothing_to_undo_right_after_the_import(session):
    with pytest.raises(undo.NothingToUndo, match="nothing to undo"):
        session.undo()
    with pytest.raises(undo.NothingToUndo, match="nothing to redo"):
        session.undo(redo=True)


def test_undo_and_redo_of_hand_edits_are_new_revisions(session):
    first = session.markdown
    session.edit_text(node(session.doc, "A second").id, "A second paragraph, edited.")
    edited = session.markdown
    session.delete(node(session.doc, "Part").id)
    deleted = session.markdown
    revisions_before = len(session.history())

    step, revisions = session.undo()
    assert step.label == "a deletion" and revisions
    assert session.markdown == edited
    assert len(session.history()) > revisions_before  # appended, never removed
    step, _ = session.undo()
    assert step.label == "your edit" and session.markdown == first
    with pytest.raises(undo.NothingToUndo):
        session.undo()

    session.undo(redo=True)
    assert session.markdown == edited
    session.undo(redo=True)
    assert session.markdown == deleted
    with pytest.raises(undo.NothingToUndo, match="nothing to redo"):
        session.undo(redo=True)
    # and undo again after the redos: undo of a redo of an undo
    session.undo()
    assert session.markdown == edited
    with Store(session.db_path) as store:
        last = store.changes(session.doc_id)[-1]
    assert last.operation == "restore" and "undo" in last.params and last.author == "writer"


def test_a_new_change_clears_the_redo_but_keeps_what_was_undone_in_the_history(session):
    session.edit_text(node(session.doc, "A second").id, "Written, then undone.")
    session.undo()
    session.edit_text(node(session.doc, "Part text").id, "Part text, new.")
    with pytest.raises(undo.NothingToUndo, match="nothing to redo"):
        session.undo(redo=True)
    assert any(r.text == "Written, then undone." for r in session.history())
    session.undo()  # undoes the new edit, not the one undone before it
    assert "Part text.\n" in session.markdown and "Written, then undone." not in session.markdown


def test_an_accepted_candidate_is_undone_and_redone(session):
    head = node(session.doc, "Part")
    proposal = writing.propose(session.doc, head.id, "expand", None, writing.Sampling(n=1),
                               base_revision=session.revision)
    before = session.markdown
    session.accept(proposal, ["New body, from the model."], 0, model="tiny")
    after = session.markdown
    assert "New body" in after and "Part text." not in after
    step, _ = session.undo()
    assert step.label == "expand (model)" and session.markdown == before
    session.undo(redo=True)
    assert session.markdown == after


def test_the_stacks_survive_reopening(tmp_path, session):
    session.edit_text(node(session.doc, "A second").id, "Edited before quitting.")
    session.edit_text(node(session.doc, "Part text").id, "Edited too.")
    session.undo()
    path, db = session.path, session.db_path
    session.close()
    again = Session.open(path, db)
    try:
        assert "Part text." in again.markdown
        again.undo(redo=True)
        assert "Edited too." in again.markdown
        again.undo()
        again.undo()
        assert again.markdown == ESSAY
    finally:
        again.close()


def test_another_windows_change_is_undone_first_when_it_is_the_last(tmp_path, session):
    session.edit_text(node(session.doc, "A second").id, "Mine.")
    other = Session.open(session.path, session.db_path)
    other.edit_text(node(other.doc, "Part text").id, "Theirs.")
    other.close()
    step, _ = session.undo()
    assert step.label == "your edit"  # the other window's edit, by the writer too
    assert "Theirs." not in session.markdown and "Mine." in session.markdown


def test_undo_queued_after_the_edits_before_it(session):
    """In the background (the TUI): the undo runs once the edits queued before it are in, so it undoes the
    last of them, not what the store had when the key was pressed."""
    results = []
    session.record_in_background(StoreWorker(), results.append)
    para = node(session.doc, "A second").id
    session.edit_text(para, "First queued edit.")
    session.edit_text(para, "Second queued edit.")
    done = []
    assert session.undo(then=done.append) is None
    assert session.flush(20)
    [result] = done
    assert result.error is None and result.request.what == "your edit"
    assert session.doc.node(para).text == "First queued edit."
    session.undo(redo=True, then=done.append)
    assert session.flush(20)
    assert done[-1].error is None and session.doc.node(para).text == "Second queued edit."
    session.undo(redo=True, then=done.append)
    assert session.flush(20)
    assert isinstance(done[-1].error, undo.NothingToUndo)
    assert session.doc.node(para).text == "Second queued edit."


def test_undo_without_a_store_says_history_is_off(tmp_path):
    path = tmp_path / "essay.md"
    path.write_text(ESSAY)
    alone = Session(path=path, doc=Session.preview_of(path).doc)
    with pytest.raises(Exception, match="needs the history"):
        alone.undo()
