"""Snapshots (pytest-textual-snapshot) of the main screens, grouped by feature. Deterministic: fixed
terminal size, a seeded tiny model, a fresh store, no clocks (times are frozen by the conftest).
Update them with `pytest tests/tui/test_snapshots.py --snapshot-update` after a deliberate change."""

from __future__ import annotations

from tui_helpers import opened, select, wait_for

from engine.protocol import Candidate

SIZE = (160, 48)


async def ready(pilot, start: str | None = None, kind: str | None = None) -> None:
    await opened(pilot)
    pilot.app.editor.cursor_blink = False
    if start:
        await select(pilot, start, kind)
    await pilot.pause(0.4)  # the preview follows the selection


class TestMainScreen:
    def test_outline_editor_preview(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "The outline", "heading")

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)

    def test_light_theme_with_a_paragraph_open(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "A paragraph is the smallest", "paragraph")
            pilot.app.outline.cursor_node.expand()
            await pilot.press("ctrl+t")
            await pilot.pause(0.3)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)


class TestCandidates:
    def test_candidates_side_by_side(self, snap_compare, make_app, tiny_engine):
        texts = ["Sentences move with rhythm as much as with sense.",
                 "A sentence has a beat as well as a meaning.",
                 "Rhythm matters in a sentence; so does meaning."]

        async def run_before(pilot):
            await ready(pilot, "Sentences carry rhythm", "sentence")
            app = pilot.app
            app.candidates.start("rewrite sentence · Sentences carry rhythm…")
            app.candidates.update_candidates([Candidate(t, "stop", len(t.encode()), -3.0) for t in texts])
            app.candidates.finish(texts, "done · 141 B in 0.5 s · 1-9/enter accept · g regenerate · x reject")
            app.candidates.highlighted = 1
            app.status.speed = 282.0
            app.candidates.focus()
            await pilot.pause(0.2)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)


class TestHistory:
    def test_history_diff_against_now(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "Finishing", "heading")
            pilot.app.editor.focus()
            await pilot.press("end", *" what remains", "escape")
            await wait_for(pilot, lambda: "what remains" in pilot.app.doc.to_markdown(), what="the edit")
            await pilot.press("f2")
            await pilot.press("down")
            await pilot.pause(0.3)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)


class TestInspect:
    def test_entropy_and_boundaries(self, snap_compare, make_app, tiny_engine):
        async def run_before(pilot):
            await ready(pilot, "Sentences carry rhythm", "paragraph")
            await pilot.press("v")
            await wait_for(pilot, lambda: "entropy" in str(
                pilot.app.inspect_view.query_one("#inspect-summary").render()), what="the inspection")
            await pilot.pause(0.2)

        assert snap_compare(make_app(engine=tiny_engine), terminal_size=SIZE, run_before=run_before)
