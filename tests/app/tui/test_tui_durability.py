"""Nothing typed is lost: steady typing is recorded every few seconds, typed text reaches the journal
within a second, SIGTERM / SIGHUP quit cleanly with everything recorded and saved, a SIGKILLed editor's
text is recovered on the next open, quitting while another process holds the database's lock keeps the
text in the journal, another live window is shown, and a commit on a 3 MB document never holds up keys."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from textual import events
from tui_helpers import opened, select, wait_for

from app.instances import Presence
from app.journal import Journal
from app.session import Session
from app.store import Store
from engine.resources import demo_document
from tests.crash.crash_test import END_KEY, TuiProcess

pytestmark = pytest.mark.asyncio


def writer_revisions(db_path) -> list:
    with Store(db_path) as store:
        [info] = store.documents()
        return [r for r in store.history(info.id) if r.author == "writer"]


def hold_lock(db_path, seconds: float) -> subprocess.Popen:
    """Another process holding the database's write lock for `seconds`."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sqlite3, time
        con = sqlite3.connect({str(db_path)!r}, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        print("LOCKED", flush=True)
        time.sleep({seconds})
        """)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "LOCKED"
    return proc


async def test_steady_typing_is_recorded_every_few_seconds(make_app, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end")
        started = time.monotonic()
        while time.monotonic() - started < 7.5:  # a key every 0.6 s: the idle timer never runs out
            await pilot.press("x")
            await pilot.pause(0.6)
        assert app.editor.dirty  # still typing
        await wait_for(pilot, lambda: len(writer_revisions(db_path)) >= 1, timeout=3, what="a revision")
        assert len(writer_revisions(db_path)) <= 2  # per stretch of typing, not per key


async def test_typed_text_is_in_the_journal_within_a_second(make_app, essay, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *" soon")
        await pilot.pause(1.0)  # less than the idle time: not recorded yet
        assert writer_revisions(db_path) == []
        [entry] = Journal.for_document(db_path, essay).entries()
        assert (entry.node_id, entry.text) == (node.id, "## Finishing soon")
        await pilot.press("escape")  # recorded: the journal is emptied
        await wait_for(pilot, lambda: not Journal.for_document(db_path, essay), what="the journal emptied")
        assert writer_revisions(db_path)[-1].text == "## Finishing soon"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_a_signal_records_saves_and_exits_cleanly(essay, db_path, sig):
    Session.open(essay, db_path).close()
    app = TuiProcess(essay, db_path)
    assert app.ready()
    app.send("\r")  # edit the first node, the title
    time.sleep(0.5)
    app.send(END_KEY)
    time.sleep(0.3)
    app.send(" at once")
    time.sleep(0.3)  # typed, not even in the journal yet
    app.signal(sig)
    assert app.wait() == 0
    title = "# Writing Long Documents at once"
    assert essay.read_text().startswith(title + "\n")  # autosaved
    assert writer_revisions(db_path)[-1].text == title  # recorded
    assert Journal.all_for_document(db_path, essay) == {}  # flushed: nothing left in flight


async def test_a_killed_editors_text_is_recovered_on_the_next_open(make_app, essay, db_path):
    Session.open(essay, db_path).close()
    proc = TuiProcess(essay, db_path)
    assert proc.ready()
    proc.send("\r")
    time.sleep(0.5)
    proc.send(END_KEY)
    time.sleep(0.3)
    proc.send(" for good")
    time.sleep(1.2)  # in the journal, not recorded (the idle timer has 2 s)
    proc.signal(signal.SIGKILL)
    proc.wait()
    assert writer_revisions(db_path) == []
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        assert "# Writing Long Documents for good\n" in app.doc.to_markdown()
        await wait_for(pilot, lambda: any("recovered 1 unrecorded edit" in n.message for n in app._notifications),
                       what="the notice")  # a notification is a message of its own: it may come a moment later
    assert writer_revisions(db_path)[-1].text == "# Writing Long Documents for good"


async def test_quitting_while_the_database_is_locked_keeps_the_text_in_the_journal(make_app, essay, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        node = await select(pilot, "Finishing", "heading")
        locker = hold_lock(db_path, 60)
        try:
            await pilot.press("enter", "end", *" late", "escape")
            await wait_for(pilot, lambda: app.status.activity == "waiting for the database…", what="the wait")
            assert app.doc.node(node.id).text == "## Finishing late"
            await pilot.press("ctrl+q")
        finally:
            locker.kill()
            locker.wait()
    assert "kept in the journal" in app.main.recorder.farewell
    [journal] = Journal.all_for_document(db_path, essay).values()
    assert [e.text for e in journal.entries()] == ["## Finishing late"]
    app = make_app()  # the lock is free now: the next open recovers it as the writer's edit
    async with app.run_test() as pilot:
        await opened(pilot)
        assert app.doc.node(node.id).text == "## Finishing late"
    assert writer_revisions(db_path)[-1].text == "## Finishing late"


async def test_another_live_instance_is_shown(make_app, essay, db_path, tmp_path):
    other = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from app.instances import Presence
        p = Presence({str(db_path)!r}, {str(essay)!r})
        while True:
            p.beat(); time.sleep(1)
        """)])
    try:
        await_presence = time.monotonic() + 20
        while not Presence(db_path, essay, pid=0).others() and time.monotonic() < await_presence:
            time.sleep(0.1)
        app = make_app()
        async with app.run_test() as pilot:
            await opened(pilot)
            await wait_for(pilot, lambda: "also open in another window" in app.status.others, what="the warning")
            assert str(other.pid) in app.status.others
    finally:
        other.kill()
        other.wait()


async def key_delay(app, character: str) -> float:
    """Seconds from a key press (posted as the terminal driver posts it) until the editor shows it: how
    long the event loop kept the key waiting."""
    before = app.editor.text
    started = time.perf_counter()
    app.post_message(events.Key(character, character))
    while app.editor.text == before:
        if time.perf_counter() - started > 10:
            raise AssertionError(f"the key {character!r} was not handled in 10 s")
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


async def test_a_key_during_a_commit_on_a_3_mb_document_is_handled_within_100_ms(make_app, tmp_path):
    big = tmp_path / "big.md"
    essay = demo_document().read_text()
    big.write_text((essay + "\n\n") * (3_000_000 // len(essay)))
    app = make_app(big)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.session is not None and not app.session.provisional, timeout=120,
                       what="the 3 MB document")
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end")
        await pilot.pause(1.0)  # the preview of the selection has settled
        app.doc.set_text(node.id, "## Finishing!")  # the tree's own cost (engine.document), before the commit
        app.session.commit(app.doc, author="writer", operation="edit", level="heading")  # to the store worker
        delays = []
        while app.session.recording:  # a fast typist: a key every 50 ms
            delay = await key_delay(app, "x")
            if app.session.recording:
                delays.append(delay)
            await asyncio.sleep(0.05)
        assert len(delays) >= 3, delays  # pressed while the commit ran
        worst = max(range(len(delays)), key=delays.__getitem__)
        assert delays[worst] < 0.1, f"key {worst} of {len(delays)}: " + " ".join(f"{d:.3f}" for d in delays)
        with Store(app.session.db_path) as store:
            assert store.current(app.session.doc_id)[0].node(node.id).text == "## Finishing!"
