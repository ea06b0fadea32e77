"""Progress of a generation: something shown while the model reads the context (prefill), then per
candidate a bar toward the length cap, bytes/s and the time left; all of it cleared when done (no stale
speed in the status bar afterwards)."""

from __future__ import annotations

import pytest
from tui_helpers import opened, select, wait_for

from app.tui.widgets.progress import GenerationProgress, bar
from engine.protocol import Candidate


def shown(app) -> str:
    return str(app.main.progress.render()) if app.main.progress.display else ""


def test_bar_fills_in_eighths():
    assert bar(0, 4) == "····"
    assert bar(1, 4) == "████"
    assert bar(0.5, 4) == "██··"
    assert bar(0.5 + 1 / 32, 4) == "██▏·"
    assert bar(2, 4) == "████"


@pytest.mark.asyncio
async def test_prefill_then_candidates_then_cleared(make_app, tiny_engine):
    app = make_app(engine=tiny_engine, max_bytes=64)
    async with app.run_test() as pilot:
        await opened(pilot)
        await select(pilot, "Sentences carry rhythm", "sentence")
        gen = app.main.generate("continue")
        # before the engine has said anything: the context being read, and how much of it
        assert "reading the context" in shown(app)
        assert f"{len(gen.proposal.request.prompt) / 1000:.1f} KB" in shown(app)
        progress = app.main.progress
        cands = [Candidate("Some text", "running", 16), Candidate("Done here.", "stop", 10)]
        progress.prefilled = progress.started  # as if the context took no time: the rates below are the bytes'
        progress.show(gen, cands)
        lines = shown(app).splitlines()
        assert len(lines) == 2
        assert lines[0].startswith("1 █████") and "16/64 B" in lines[0] and "B/s" in lines[0] and "left" in lines[0]
        assert lines[1].startswith("2 ") and "10/64 B" in lines[1] and "done" in lines[1]
        await wait_for(pilot, lambda: not gen.running, timeout=60, what="the generation to finish")
        await pilot.pause(0.2)
        assert shown(app) == ""
        assert app.status.speed is None
        assert "B/s" not in str(app.status.render())


@pytest.mark.asyncio
async def test_a_rejected_generation_clears_its_progress(make_app, tiny_engine):
    app = make_app(engine=tiny_engine, max_bytes=4000)
    async with app.run_test() as pilot:
        await opened(pilot)
        await select(pilot, "Sentences carry rhythm", "sentence")
        gen = app.main.generate("continue")
        await wait_for(pilot, lambda: "B/s" in shown(app), timeout=60, what="the candidates' progress")
        assert GenerationProgress.prefill_rate is not None  # the next prefill gets an estimate
        await pilot.press("x")
        await wait_for(pilot, lambda: shown(app) == "", what="the progress cleared")
        assert app.status.speed is None
        await wait_for(pilot, lambda: not gen.running or gen.cancel.is_set(), what="the generation stopped")


def test_progress_snapshot_80x24(snap_compare, make_app, tiny_engine):
    """Two candidates streaming at 80×24: bars toward the length cap, speed, time left."""
    async def run_before(pilot):
        app = pilot.app
        await opened(pilot)
        app.editor.cursor_blink = False
        await select(pilot, "Sentences carry rhythm", "sentence")
        gen = app.main.generate("continue")
        await wait_for(pilot, lambda: not gen.running, timeout=60, what="the generation")
        app.candidates.finish(gen.texts, "generating…")
        progress = app.main.progress
        gen.running = True  # shown as it was mid-way, with fixed figures
        progress.start(gen)
        progress.prefilled = 100.0
        progress.show(gen, [Candidate("x" * 12, "running", 12), Candidate("y" * 20, "stop", 20)], now=100.1)
        await pilot.pause(0.2)

    assert snap_compare(make_app(engine=tiny_engine), terminal_size=(80, 24), run_before=run_before)
