"""The outline of a long document: heading levels open as far as they fit, the rest is added to the tree
when it is opened or when a node in it is selected, and what was open stays open across reloads."""

from __future__ import annotations

import pytest
from tui_helpers import opened, wait_for

from app.tui.widgets import outline as outline_module

pytestmark = pytest.mark.asyncio

BOOK = "# Book\n\n" + "".join(
    f"## Chapter {i}\n\n" + "".join(f"### Part {i}.{j}\n\nSome text. More text here.\n\n" for j in (1, 2, 3))
    for i in range(1, 41))


async def test_a_long_outline_is_built_as_it_is_opened(make_app, tmp_path, monkeypatch):
    monkeypatch.setattr(outline_module, "FIRST_LINES", 100)  # the book (41 lines) fits, its chapters (+120) do not
    path = tmp_path / "book.md"
    path.write_text(BOOK)
    app = make_app(path)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        tree = app.outline
        book = app.doc.root.children[0]
        chapters = book.children
        assert len(chapters) == 40 and tree._by_id[book.id].is_expanded
        assert all(c.id in tree._by_id and not tree._by_id[c.id].is_expanded for c in chapters)
        assert chapters[0].children[0].id not in tree._by_id  # not added until its chapter is opened
        assert app.selected_id == book.id

        # opening a chapter adds its parts
        third = tree._by_id[chapters[2].id]
        third.expand()
        await wait_for(pilot, lambda: chapters[2].children[0].id in tree._by_id, what="the parts of chapter 3")
        part = chapters[2].children[1]
        assert [str(tn.label) for tn in third.children][1].endswith("H3 Part 3.2")

        # selecting a sentence deep in a closed chapter adds and opens the way down to it
        sentence = chapters[30].children[2].children[0].children[1]
        assert sentence.text == "More text here." and sentence.id not in tree._by_id
        assert tree.select_id(sentence.id)
        await wait_for(pilot, lambda: app.selected_id == sentence.id, what="the selection")
        assert tree._by_id[chapters[30].id].is_expanded and tree.cursor_node is tree._by_id[sentence.id]

        # a reload (after an edit that reshapes the tree) keeps what was open, even under closed nodes
        tree._by_id[part.id].expand()
        third.collapse()
        await pilot.pause()
        tree.load(app.doc, select=sentence.id)
        assert not tree._by_id[chapters[2].id].is_expanded and part.id not in tree._by_id
        assert tree._by_id[chapters[30].id].is_expanded and tree.selected_id == sentence.id
        tree._by_id[chapters[2].id].expand()
        await wait_for(pilot, lambda: part.id in tree._by_id, what="the parts of chapter 3 again")
        assert tree._by_id[part.id].is_expanded and part.children[0].id in tree._by_id
