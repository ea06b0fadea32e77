"""Opening a big file (issue 13, point 8): at any size the file is shown read-only first, parsed once, and
the same tree is then attached to the store (imported as it is, ids and all, by the store worker while the
writer already edits)."""

from __future__ import annotations

import pytest

from app.store_worker import StoreWorker
from app.tui import files
from app.tui.messages import DocumentOpened
from tests.app.tui.test_bench_open import big_document


def _open_big(tmp_path) -> tuple[str, list]:
    """A 600 KB file written and opened once: its text and the messages the open posted."""
    path = tmp_path / "big.md"
    text = big_document(600_000)
    path.write_text(text)
    posted: list = []
    files.open_document(path, tmp_path / "s.db", posted.append)
    opened = posted[-1].session
    opened.record_in_background(StoreWorker(), lambda result: None)  # as the editor does: the import follows
    assert opened.flush(60) and not opened.importing
    return text, posted


def test_a_big_file_is_shown_before_its_import_and_parsed_once(tmp_path):
    text, posted = _open_big(tmp_path)
    assert [type(m) for m in posted] == [DocumentOpened, DocumentOpened]
    early, opened = posted[0].session, posted[1].session
    assert early.provisional and early.store is None and early.doc.to_markdown() == text
    assert not opened.provisional and opened.store is not None
    assert opened.doc is early.doc  # the tree shown is the one imported: no second parse, same ids
    assert opened.store.current(opened.doc_id)[0].to_markdown() == text
    assert [n.id for n in opened.store.current(opened.doc_id)[0].walk()] == [n.id for n in early.doc.walk()]
    opened.close()


def test_a_big_file_the_store_holds_is_read_back_not_parsed_first(tmp_path):
    text, first = _open_big(tmp_path)
    first[-1].session.close()
    again: list = []
    files.open_document(tmp_path / "big.md", tmp_path / "s.db", again.append)  # reading it back beats parsing it
    assert [type(m) for m in again] == [DocumentOpened]
    session = again[0].session
    assert not session.provisional and session.doc.to_markdown() == text
    assert [n.id for n in session.doc.walk()] == [n.id for n in first[-1].session.doc.walk()]
    session.close()


@pytest.mark.asyncio
async def test_the_preview_waits_for_the_store_not_rendered_while_it_opens(make_app, tmp_path, monkeypatch):
    """Rendering the preview of a big file while the store opens (0.5 s for 1 MB) would take the interpreter
    from the opening the editor waits on: it follows once the store is attached. The store takes 2 s to open
    here (a slow disk), so the document stays provisional (shown, read-only) meanwhile."""
    import time

    from app.session import Session
    from tests.app.tui.tui_helpers import wait_for

    slow_open = Session._open_store

    def slowly(self, *args, **kwargs):
        time.sleep(2)
        return slow_open(self, *args, **kwargs)

    monkeypatch.setattr(Session, "_open_store", slowly)
    path = tmp_path / "big.md"
    path.write_text(big_document(300_000))
    app = make_app(path)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.session is not None and app.doc is not None, timeout=30,
                       what="the file shown")
        shown = time.monotonic()
        while app.session.provisional and time.monotonic() - shown < 1.5:
            await pilot.pause(0.05)
            assert app.preview.markdown_widget.source == "", "the preview rendered while the store opened"
        assert time.monotonic() - shown >= 1.5  # it was provisional all along
        await wait_for(pilot, lambda: not app.session.provisional, timeout=30, what="the store")
        await wait_for(pilot, lambda: "A very long document" in app.preview.markdown_widget.source, timeout=30,
                       what="the preview after the store")


@pytest.mark.asyncio
async def test_the_writer_edits_while_the_import_is_written(make_app, db_path, tmp_path):
    """A first open is editable before its import is in the store: another program holds the database's write
    lock here, so the import waits in the background; what the writer types meanwhile is recorded after it."""
    import sqlite3

    from app.store import Store
    from app.tui.document_view import IMPORTING
    from tests.app.tui.test_bench_open import accepts_edits
    from tests.app.tui.tui_helpers import select, wait_for

    Store(db_path).close()
    path = tmp_path / "big.md"
    path.write_text(big_document(300_000))
    lock = sqlite3.connect(db_path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    app = make_app(path)
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: accepts_edits(app), timeout=30, what="the document editable")
            assert app.session.importing and app.status.activity == IMPORTING
            node = await select(pilot, "A very long document", "heading")
            app.editor.focus()
            await pilot.press("end", *" (typed at once)")
            await pilot.press("escape")  # back to the outline: the edit is handed to the session
            await wait_for(pilot, lambda: "(typed at once)" in app.doc.node(node.id).text, what="the edit taken")
            lock.rollback()
            await wait_for(pilot, lambda: not app.session.importing and not app.session.recording, timeout=30,
                           what="the import and the edit recorded")
            assert app.status.activity == ""
            with Store(db_path) as store:
                current, _ = store.current(app.session.doc_id)
                assert current.records() == app.doc.records()
                assert "(typed at once)" in current.node(node.id).text
    finally:
        lock.close()
