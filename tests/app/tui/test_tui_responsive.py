"""The UI never waits for the model: keys are handled while a generation runs, and escape stops it."""

from __future__ import annotations

import dataclasses
import time

import pytest
from tui_helpers import expand, opened, select, wait_for

pytestmark = pytest.mark.asyncio


class NeverStops:
    """The real engine, asked never to stop by itself (a random model may hit a stop byte at any time):
    only a cancel ends a generation (the level's length cap is lifted too: the fast CPU step writes a
    section's 2 KB in seconds), so the test can act while it runs."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def generate(self, request, on_update=None, cancel=None):
        return self.engine.generate(dataclasses.replace(request, stop=[], max_bytes=1_000_000), on_update, cancel)

    def __getattr__(self, name):
        return getattr(self.engine, name)


async def test_keys_are_handled_during_a_generation_and_escape_cancels(make_app, tiny_engine):
    app = make_app(engine=NeverStops(tiny_engine), max_bytes=100_000, n_candidates=3)  # would run for minutes
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "The sentence", "heading")
        await expand(pilot)
        gen = app.generation
        await wait_for(pilot, lambda: len(app.candidates.query("CandidateCard")) == 3, what="streamed candidates")
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")  # handled while the model is still writing
        assert app.current_theme.dark != dark
        assert gen.running
        await pilot.press("right")  # move between the candidates while they stream
        assert app.candidates.highlighted == 1 and gen.running
        started = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not gen.running, what="the cancel", timeout=10)
        assert time.monotonic() - started < 5
        assert gen.cancel.is_set()
        assert "cancelled" in str(app.candidates.border_subtitle)
        assert {c.finish for c in gen.raw} == {"cancelled"}


async def test_a_second_request_cancels_the_first(make_app, tiny_engine):
    app = make_app(engine=NeverStops(tiny_engine), max_bytes=100_000)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "The sentence", "heading")
        await expand(pilot)
        first = app.generation
        app.outline.focus()
        await expand(pilot)
        second = app.generation
        assert first.cancel.is_set() and second is not first
        await wait_for(pilot, lambda: not first.running, what="the first to stop")
        assert second.running and app.candidates.running
        await pilot.press("escape")
        await wait_for(pilot, lambda: not second.running, what="the cancel")
