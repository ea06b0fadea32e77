"""External edits are three-way merges against the document as the file last held it: recorded but
unsaved work is never reverted by an edit made elsewhere, a save never overwrites a file changed on
disk without recording that change first, and reopening merges a change made meanwhile the same way.
Real files, a real SQLite store, the real watcher thread."""

from __future__ import annotations

import threading
import time

import pytest

from app.file_state import ExternalMerge
from app.session import Session
from app.store import Store
from app.sync import FileWatcher, content_hash
from engine.document import Document

MD = "# Title\n\nOne is here. Two is there.\n\nA second paragraph.\n\n## Part\n\nThe part's text.\n"


def node(doc: Document, text: str) -> str:
    """The id of the node whose own text is `text` (a sentence, not the paragraph holding it)."""
    return next(r.id for r in doc.records() if r.text == text)


def other_editor(path, old: str, new: str) -> None:
    """Another editor saves the file (atomically, as most do)."""
    tmp = path.with_name(path.name + ".other")
    tmp.write_text(path.read_text().replace(old, new))
    tmp.replace(path)


@pytest.fixture
def opened(tmp_path):
    path, db = tmp_path / "notes.md", tmp_path / "s.db"
    path.write_text(MD)
    sessions = []

    def open_session() -> Session:
        sessions.append(Session.open(path, db))
        return sessions[-1]

    yield path, db, open_session
    for s in sessions:
        s.close()


def test_an_external_edit_elsewhere_keeps_recorded_unsaved_edits(opened):
    path, db, open_session = opened
    s = open_session()
    s.edit_text(node(s.doc, "One is here."), "One is mine.")  # recorded, not saved
    other_editor(path, "A second paragraph.", "A second paragraph, theirs.")
    outcome = s.merge_external(path.read_text())
    assert "One is mine." in s.markdown and "A second paragraph, theirs." in s.markdown
    assert outcome.kept == [] and len(outcome.taken) == 1
    assert s.store.current(s.doc_id)[0].to_markdown() == s.markdown
    assert [r.author for r in s.history()][-2:] == ["writer", "external"]


def test_the_same_node_changed_on_both_sides_is_a_conflict_kept_and_recorded_both_ways(opened):
    path, db, open_session = opened
    s = open_session()
    two = node(s.doc, "Two is there.")
    s.edit_text(two, "Two is mine.")
    other_editor(path, "Two is there.", "Two is theirs.")
    merge = s.external_merge(path.read_text())
    assert merge.conflicts == [two] and merge.taken == []
    outcome = s.merge_external(path.read_text())  # non-interactive: the writer's kept, theirs in the history
    assert outcome.kept == [two] and s.doc.node(two).text == "Two is mine."
    assert [(r.author, r.text) for r in s.history(two)][-2:] == [("external", "Two is theirs."),
                                                                 ("writer", "Two is mine.")]
    theirs = s.merge_external(path.read_text(), prefer="theirs")  # asked again: nothing new on disk
    assert theirs.taken == [] and s.doc.node(two).text == "Two is mine."


def test_taking_theirs_on_a_conflict(opened):
    path, db, open_session = opened
    s = open_session()
    two = node(s.doc, "Two is there.")
    s.edit_text(two, "Two is mine.")
    other_editor(path, "Two is there.", "Two is theirs.")
    outcome = s.merge_external(path.read_text(), prefer="theirs")
    assert outcome.taken == [two] and outcome.kept == [] and s.doc.node(two).text == "Two is theirs."
    assert s.saved  # the file and the document agree


def test_a_save_merges_a_change_the_watcher_missed_before_writing(opened):
    path, db, open_session = opened
    s = open_session()
    s.edit_text(node(s.doc, "One is here."), "One is mine.")
    other_editor(path, "The part's text.", "The part's text, theirs.")  # no watcher saw it
    s.save()
    text = path.read_text()
    assert "One is mine." in text and "The part's text, theirs." in text
    assert "external" in {r.author for r in s.history()}
    assert s.saved and s.store.current(s.doc_id)[0].to_markdown() == text


def test_a_save_keeps_both_when_the_missed_change_conflicts(opened):
    path, db, open_session = opened
    s = open_session()
    two = node(s.doc, "Two is there.")
    s.edit_text(two, "Two is mine.")
    other_editor(path, "Two is there.", "Two is theirs.")
    s.save()
    assert "Two is mine." in path.read_text()
    assert ("external", "Two is theirs.") in [(r.author, r.text) for r in s.history(two)]


def test_reopening_merges_a_change_made_meanwhile_against_the_saved_revision(opened):
    path, db, open_session = opened
    s = open_session()
    s.edit_text(node(s.doc, "One is here."), "One is mine.")
    s.close()  # quit without saving: the file still holds the old text
    other_editor(path, "The part's text.", "The part's text, theirs.")
    s = open_session()
    assert "One is mine." in s.markdown and "The part's text, theirs." in s.markdown
    assert any("merged 1 node" in n for n in s.notes)


def test_reopening_after_a_conflict_kept_mine_never_reverts_it(opened):
    """The file holds theirs, the store mine (not saved); another edit to the file later merges only
    that edit."""
    path, db, open_session = opened
    s = open_session()
    two = node(s.doc, "Two is there.")
    s.edit_text(two, "Two is mine.")
    other_editor(path, "Two is there.", "Two is theirs.")
    s.merge_external(path.read_text())
    s.close()
    other_editor(path, "# Title", "# Title, theirs")
    s = open_session()
    assert "Two is mine." in s.markdown and "# Title, theirs" in s.markdown


def test_reopening_a_file_as_it_was_saved_keeps_the_newer_store(opened):
    path, db, open_session = opened
    s = open_session()
    s.edit_text(node(s.doc, "One is here."), "One is mine.")
    s.close()
    s = open_session()
    assert "One is mine." in s.markdown and path.read_text() == MD
    assert not s.saved


def test_an_unknown_base_never_drops_recorded_text(opened):
    """A store from before the file's revision was kept (file_revision unknown) and a file changed
    since: every node both have differently keeps the store's version, the file's in the history."""
    path, db, open_session = opened
    s = open_session()
    two = node(s.doc, "Two is there.")
    s.edit_text(two, "Two is mine.")
    doc_id = s.doc_id
    s.close()
    with Store(db) as store:
        store.set_file_hash(doc_id, "0" * 32)  # what an older scriba left: a hash, no revision
    other_editor(path, "A second paragraph.", "A second paragraph, theirs.")
    s = open_session()
    assert "Two is mine." in s.markdown and "A second paragraph.\n" in s.markdown and "theirs" not in s.markdown
    assert ("external", "A second paragraph, theirs.") in [(r.author, r.text) for r in s.history()]


def test_disjoint_edits_merge_field_by_field():
    """Theirs appends a sentence (the last one's trailing space changes), ours rewrites that sentence."""
    base = Document.from_markdown("One. Two.\n")
    ours = Document.from_records(base.records())
    two = node(ours, "Two.")
    ours.set_text(two, "Two, mine.")
    merge = ExternalMerge(base, ours, "One. Two. Three.\n")
    assert merge.conflicts == []
    assert merge.result().to_markdown() == "One. Two, mine. Three.\n"


def test_a_node_deleted_on_one_side_and_edited_on_the_other_is_a_conflict():
    base = Document.from_markdown("# A\n\nFirst.\n\nSecond.\n")
    ours = Document.from_records(base.records())
    second = node(ours, "Second.")
    ours.set_text(second, "Second, mine.")
    merge = ExternalMerge(base, ours, "# A\n\nFirst.\n")
    assert merge.conflicts == [second]
    assert "Second, mine." in merge.result("ours").to_markdown()
    assert "Second" not in merge.result("theirs").to_markdown()


def test_merged_trees_are_the_parse_of_their_own_markdown():
    base = Document.from_markdown("# A\n\nOne.\n\n# B\n\nTwo.\n")
    ours = Document.from_records(base.records())
    ours.set_text(node(ours, "One."), "One, mine.")
    merge = ExternalMerge(base, ours, "# A\n\nOne.\n\n## B2\n\nNew.\n\n# B\n\nTwo.\n")
    doc = merge.result()
    assert [(r.kind, r.text) for r in doc.records()] == \
        [(r.kind, r.text) for r in Document.from_markdown(doc.to_markdown()).records()]
    assert doc.to_markdown() == "# A\n\nOne, mine.\n\n## B2\n\nNew.\n\n# B\n\nTwo.\n"


def test_the_watcher_waits_for_a_file_rewritten_in_place(tmp_path):
    """Another editor truncates the file and writes it again in two writes 0.4 s apart: the watcher
    never reports the empty or the half-written file."""
    path = tmp_path / "notes.md"
    path.write_text(MD * 4)
    seen: list[bytes] = []
    watcher = FileWatcher(path, seen.append)
    watcher.remember(path.read_bytes())
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        assert watcher.ready.wait(10)
        new = (MD * 4).replace("Title", "Title again").encode()
        with path.open("r+b") as fh:
            fh.truncate(0)
            fh.flush()
            time.sleep(0.4)
            fh.write(new[: len(new) // 3])
            fh.flush()
            time.sleep(0.4)
            fh.write(new[len(new) // 3:])
        deadline = time.monotonic() + 10
        while content_hash(new) not in {content_hash(d) for d in seen} and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert seen and seen[-1] == new
    assert all(d == new for d in seen), [len(d) for d in seen]


def test_a_watcher_that_cannot_watch_says_why(tmp_path):
    """The folder cannot be watched (here: it is a file): the failure is reported, not swallowed."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    reasons: list[str] = []
    watcher = FileWatcher(blocker / "notes.md", lambda data: None, on_error=reasons.append)
    watcher.run(threading.Event())
    assert len(reasons) == 1 and reasons[0] and watcher.failure == reasons[0]
    assert watcher.ready.is_set()


def test_a_watcher_whose_folder_is_moved_away_says_so(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    path = folder / "notes.md"
    path.write_text(MD)
    reasons: list[str] = []
    watcher = FileWatcher(path, lambda data: None, on_error=reasons.append)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        assert watcher.ready.wait(10)
        folder.rename(tmp_path / "moved")
        deadline = time.monotonic() + 10
        while not reasons and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert reasons and "moved or deleted" in reasons[0]
