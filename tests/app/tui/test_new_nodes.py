"""New nodes (`h`, `n`) open in the editor with their placeholder selected: the first key typed replaces
it, and a new heading stays a heading. An empty new file is started with `h`, `n` or `o`."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.tui.widgets.editor import NodeEditor

pytestmark = pytest.mark.asyncio


async def new_node_after_finishing(pilot, key: str) -> None:
    """`key` (h or n) on the essay's "Finishing" heading, until the new node is open in the editor."""
    await opened(pilot)
    await select(pilot, "Finishing", "heading")
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.focused, NodeEditor), what="the editor")


async def typed_and_recorded(pilot, text: str):
    """Type `text` into the open editor, leave it, and return the node it was recorded as."""
    await pilot.press(*text)
    start = pilot.app.editor.text
    await pilot.press("escape")
    await wait_for(pilot, lambda: any(n.text == start for n in pilot.app.doc.walk()), what="the node recorded")
    [node] = [n for n in pilot.app.doc.walk() if n.text == start]
    return node


async def test_a_new_heading_opens_with_its_title_selected(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await new_node_after_finishing(pilot, "h")
        assert app.editor.selected_text == "New section"
        node = await typed_and_recorded(pilot, "Why long documents fail")
        assert node.text == "## Why long documents fail"
        assert node.kind.value == "heading" and node.level == 2


async def test_a_hash_typed_first_over_a_new_headings_title_sets_its_level(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await new_node_after_finishing(pilot, "h")
        node = await typed_and_recorded(pilot, "### Deeper")
        assert node.text == "### Deeper"  # not "## ### Deeper"
        assert node.kind.value == "heading" and node.level == 3
        # the outline shows it where the tree has it: under the section it now belongs to
        shown = app.outline._by_id[node.id]
        assert shown.parent.data.node_id == node.parent.id


async def test_a_new_paragraph_opens_with_its_text_selected(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await new_node_after_finishing(pilot, "n")
        assert app.editor.selected_text == "New paragraph."
        await pilot.press(*"Start here.")
        assert app.editor.text == "Start here."


@pytest.mark.parametrize("key, kind, text", [("h", "heading", "# Title"), ("n", "paragraph", "Title")])
async def test_an_empty_file_starts_with_h_or_n(make_app, tmp_path, key, kind, text):
    app = make_app(tmp_path / "new.md")
    async with app.run_test() as pilot:
        await opened(pilot)
        assert app.selected_id is None
        await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(app.focused, NodeEditor), what="the editor")
        await pilot.press(*"Title")
        assert app.editor.text == text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.session.markdown.strip() == text, what="the first node recorded")
        [node] = [n for n in app.doc.walk() if n.parent is not None and n.kind.value != "sentence"]
        assert node.kind.value == kind
        assert not [n for n in app._notifications if "select a node" in n.message]


async def test_an_empty_file_starts_with_an_outline(make_app, tmp_path, tiny_engine):
    app = make_app(tmp_path / "new.md", engine=tiny_engine)
    async with app.run_test() as pilot:
        await opened(pilot)
        await pilot.press("o")
        await wait_for(pilot, lambda: len(app.screen_stack) == 2, what="the premise dialog")
        await pilot.press(*"A field guide to moss", "enter")
        await wait_for(pilot, lambda: app.generation is not None and not app.generation.running, timeout=60,
                       what="the outline candidates")
        assert app.generation.node_id is None
        assert not [n for n in app._notifications if "select a node" in n.message]
