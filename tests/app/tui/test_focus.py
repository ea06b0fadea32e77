"""Keys typed while the editor is opening go to the editor, never to the outline's one-key actions.

The writer presses Enter on a node of a large document and types at once; the app lags, so the keys are
already queued behind Enter when the editor takes focus. They are sent here as one burst into the
driver's queue (as a lagging terminal delivers them), not one by one with pauses between.
"""

from __future__ import annotations

import pytest
from textual import events
from tui_helpers import opened, select, wait_for

from app.tui.widgets.editor import NodeEditor
from app.tui.widgets.outline import OutlineTree

pytestmark = pytest.mark.asyncio


def big_document(path, sections: int = 150) -> None:
    parts = ["# A long document\n"]
    for i in range(sections):
        parts.append(f"\n## Section {i}\n")
        for j in range(4):
            parts.append(f"\nParagraph {j} of section {i} says a thing. It says it twice, at length, "
                         f"so that the document is large. {'More words here. ' * 8}\n")
    path.write_text("".join(parts), encoding="utf-8")


def burst(app, keys: str) -> None:
    """Queue every key at once, as a terminal does while the app is busy."""
    for key in ["enter", *keys]:
        event = events.Key(key, None if key == "enter" else key)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_keys_typed_right_after_enter_go_to_the_editor(make_app, tmp_path):
    path = tmp_path / "big.md"
    big_document(path)
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot)
        node = await select(pilot, "Paragraph 2 of section 3", "paragraph")
        count = len(list(app.doc.walk()))
        screens = len(app.screen_stack)
        # every one-key action of the outline: new nodes, delete, summarise, outline, inspect, continue…
        typed = "nhdsoevcri"
        burst(app, typed)
        await wait_for(pilot, lambda: typed in app.editor.text, timeout=30, what="the typed keys in the editor")
        await pilot.pause(0.3)
        assert isinstance(app.focused, NodeEditor)
        assert app.editor.node_id == node.id
        assert app.editor.text.startswith(typed)  # typed at the cursor, in order
        assert len(app.screen_stack) == screens  # no dialog opened (delete, instruction)
        assert len(list(app.doc.walk())) == count  # no node inserted or deleted
        assert app.generation is None


async def test_keys_after_a_new_heading_go_to_its_title(make_app, tmp_path):
    """`h` and typing at once: the keys replace the new heading's placeholder title."""
    path = tmp_path / "big.md"
    big_document(path, sections=60)
    app = make_app(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot)
        await select(pilot, "Section 5", "heading")
        assert isinstance(app.focused, OutlineTree)
        for key in "hnew":
            event = events.Key(key, key)
            event.set_sender(app)
            app._driver.send_message(event)
        await wait_for(pilot, lambda: "new" in app.editor.text, timeout=30, what="the title typed")
        assert app.editor.text == "## new"
        await wait_for(pilot, lambda: any(n.text == "## new" for n in app.doc.walk()), timeout=30,
                       what="the new heading recorded")
        assert sum(n.text.startswith("## New section") for n in app.doc.walk()) == 0
