"""Helpers for driving the app in Pilot tests: wait for a condition, select a node by its text."""

from __future__ import annotations

import asyncio
import time


async def wait_for(pilot, predicate, timeout: float = 15.0, what: str = "condition") -> None:
    """Let the app run until `predicate()` holds (or fail after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def opened(pilot) -> None:
    """The document is open and in the store: a first open's background import is in too (its status,
    "recording history…", would otherwise be in a snapshot or not depending on timing)."""
    await wait_for(pilot, lambda: pilot.app.session is not None and not pilot.app.session.provisional
                   and not pilot.app.session.importing, what="the document to open")
    await pilot.pause()


async def side_settled(pilot) -> None:
    """The side panel (preview, history) has caught up with the selection: its refresh, put off while the
    store opened, has run (a snapshot taken before it would depend on timing)."""
    await wait_for(pilot, lambda: pilot.app.main.view._side_timer is None, what="the side panel")
    await pilot.pause()


def node_by_text(doc, start: str, kind: str | None = None):
    """The first node (of `kind`, if given) whose text starts with `start`."""
    for node in doc.walk():
        if kind is not None and node.kind.value != kind:
            continue
        if node.parent is not None and node.text.lstrip("# ").startswith(start):
            return node
    raise KeyError(start)


async def select(pilot, start: str, kind: str | None = None):
    """Put the outline cursor on the node whose text starts with `start`; returns the node."""
    node = node_by_text(pilot.app.doc, start, kind)
    pilot.app.outline.select_id(node.id)
    await wait_for(pilot, lambda: pilot.app.selected_id == node.id, what="the selection")
    return node


async def settle(pilot, seconds: float = 0.3) -> None:
    await pilot.pause(seconds)
    await asyncio.sleep(0)


async def accept(pilot, number: int) -> None:
    """Press `number` in the candidates panel and confirm the replace question if one comes (a candidate
    that replaces existing text asks first)."""
    from app.tui.screens.dialogs import Choice

    app = pilot.app
    await pilot.press(str(number))
    await wait_for(pilot, lambda: isinstance(app.screen, Choice) or app.generation is None
                   or app.candidates.border_subtitle.startswith("recording"), what="the accept or its question")
    if isinstance(app.screen, Choice):
        await pilot.press("enter")


async def expand(pilot, mode: str = "replace") -> None:
    """Press `e` on the selected heading; a section that has text asks first whether to add to it or replace
    it: answer `mode` ("add" or "replace")."""
    from app.tui.screens.dialogs import Choice

    app = pilot.app
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, Choice) or app.generation is not None,
                   what="the expand or its question")
    if isinstance(app.screen, Choice):
        await pilot.click(f"#{mode}")
        await wait_for(pilot, lambda: app.generation is not None, what="the expand")
