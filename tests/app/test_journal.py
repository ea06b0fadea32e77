"""The journal of text in flight: durable appends, the newest entry per node, torn lines skipped, cleared
atomically; presence files tell live windows from dead ones."""

from __future__ import annotations

import os
import subprocess
import sys

from app.instances import Presence
from app.journal import Journal, JournalEntry


def test_entries_keep_the_newest_text_per_node_in_writing_order(tmp_path):
    journal = Journal.for_document(tmp_path / "s.db", tmp_path / "a.md")
    assert journal.entries() == [] and not journal
    journal.write("n1", 3, "one")
    journal.write("n2", 3, "two")
    journal.write("n1", 4, "one, later")
    assert [(e.node_id, e.base_revision, e.text) for e in journal.entries()] == [("n2", 3, "two"),
                                                                                  ("n1", 4, "one, later")]
    assert journal.path.parent == tmp_path / "s.db.journal" and journal


def test_a_line_cut_short_by_a_kill_is_skipped(tmp_path):
    journal = Journal.for_document(tmp_path / "s.db", tmp_path / "a.md")
    journal.write("n1", 1, "whole")
    with open(journal.path, "ab") as out:
        out.write(b'{"node_id": "n1", "base_revision": 1, "text": "cut sh')
    assert [e.text for e in journal.entries()] == ["whole"]


def test_clear_keeps_only_what_is_asked(tmp_path):
    journal = Journal.for_document(tmp_path / "s.db", tmp_path / "a.md")
    journal.write("n1", 1, "a")
    journal.write("n2", 1, "b")
    journal.clear([JournalEntry("n2", 2, "b, still typing", 0.0)])
    assert [(e.node_id, e.text) for e in journal.entries()] == [("n2", "b, still typing")]
    journal.clear()
    assert not journal.path.exists() and sorted(os.listdir(journal.path.parent)) == []


def test_only_the_journals_of_dead_instances_are_orphaned(tmp_path):
    db, doc = tmp_path / "s.db", tmp_path / "a.md"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        Presence(db, doc, pid=live.pid).beat()
        Presence(db, doc, pid=dead.pid).beat()  # it died without leaving: a stale presence file
        Journal.for_document(db, doc, pid=live.pid).write("n", 1, "a live window's text")
        Journal.for_document(db, doc, pid=dead.pid).write("n", 1, "a dead window's text")
        me = Presence(db, doc)
        assert [o.pid for o in me.others()] == [live.pid]
        assert [j.entries()[0].text for j in me.orphaned_journals()] == ["a dead window's text"]
        assert not Presence(db, doc, pid=dead.pid).path.exists()  # the stale presence was removed
    finally:
        live.kill()
        live.wait()
