"""Errors keep the app running and lose nothing: a locked database, a store that is not a database."""

from __future__ import annotations

import sqlite3

import pytest
from tui_helpers import opened, select, wait_for

from app.store import Store

pytestmark = pytest.mark.asyncio


async def test_locked_database_keeps_the_edit_and_records_it_later(make_app, db_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        node = await select(pilot, "Finishing", "heading")
        locker = sqlite3.connect(db_path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            app.editor.focus()
            await pilot.press("end", "!", "escape")
            await wait_for(pilot, lambda: not app.status.recorded, what="the not-recorded mark", timeout=20)
            assert app.doc.node(node.id).text == "## Finishing!"  # kept in the tree
            await wait_for(pilot, lambda: any("not in history yet" in n.message for n in app._notifications),
                           what="the notice")  # a notification is a message of its own: it may come a moment later
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        app.editor.focus()
        await pilot.press("?", "escape")  # the next change records everything
        await wait_for(pilot, lambda: app.status.recorded, what="the recorded mark")
        await pilot.press("ctrl+s")
    with Store(db_path) as store:
        [info] = store.documents()
        assert store.current(info.id)[0].node(node.id).text == "## Finishing!?"


async def test_a_store_that_is_not_a_database_still_lets_you_write(make_app, essay, db_path):
    db_path.write_bytes(b"not a database at all" * 200)
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        assert app.session.store is None
        await wait_for(pilot, lambda: any("history is off" in n.message for n in app._notifications),
                       what="the notice")  # a notification is a message of its own: it may come a moment later
        await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", "!", "escape", "ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="the save")
        await pilot.press("f3")  # no store: explained, not a crash
        await pilot.pause()
    assert "## Finishing!\n" in essay.read_text()
