"""Writing actions end to end against a real (tiny, random-weight) engine and a real store: the key,
candidates streaming in, accepting one, and what ends up in the tree, the store and the file."""

from __future__ import annotations

import pytest
from tui_helpers import accept, opened, select, wait_for

from app.store import Store

pytestmark = pytest.mark.asyncio


async def generated(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.generation is not None and not app.generation.running
                   and app.generation.texts, what="the candidates")


def last_change(db_path):
    with Store(db_path) as store:
        [info] = store.documents()
        return store.history(info.id)[-1]


@pytest.mark.parametrize("key, start, kind, operation, level", [
    ("r", "Sentences carry rhythm", "sentence", "rewrite", "sentence"),
    ("r", "A paragraph is the smallest", "paragraph", "rewrite", "paragraph"),
    ("s", "Finishing", "heading", "summarise", "heading"),
    ("e", "The sentence", "heading", "expand", "section"),
    ("c", "Vary their length", "sentence", "continue", "paragraph"),
])
async def test_action_accept_records_a_model_revision(make_app, tiny_engine, db_path, essay, key, start, kind,
                                                      operation, level):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        node = await select(pilot, start, kind)
        await pilot.press(key)
        if key == "e":  # the section has text: add to it or replace it
            from app.tui.screens.dialogs import Choice

            await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="add or replace")
            await pilot.click("#replace")
        await generated(pilot)
        assert len(app.candidates.texts) == 2
        assert app.status.speed is None  # no stale speed once done; the note says how fast it wrote
        assert " B in " in str(app.candidates.border_subtitle)
        candidate = app.generation.texts[1]
        await accept(pilot, 2)
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
        rev = last_change(db_path)
        assert (rev.author, rev.operation, rev.level, rev.model, rev.chosen) == ("model", operation, level, "tiny", 1)
        assert rev.candidates == app.candidates.texts or rev.candidates  # the finished texts offered
        assert rev.params["seed"] == 0 and rev.params["n"] == 2
        assert not app.status.saved
        if operation in ("rewrite", "summarise") and candidate.strip():
            assert candidate.strip().lstrip("# ") in app.doc.to_markdown()
        if operation == "rewrite" and node.id in app.doc:  # random text may merge with the next sentence
            assert app.doc.node(node.id).text.strip().startswith(candidate.strip())
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="the save")
    assert essay.read_text() == app.doc.to_markdown()


async def test_rewrite_with_an_instruction(make_app, tiny_engine, db_path):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "Sentences carry rhythm", "sentence")
        await pilot.press("i")
        await pilot.press(*"shorter", "enter")
        await generated(pilot)
        await pilot.press("enter", "enter")  # the highlighted (first) candidate, read in full, then taken
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
    rev = last_change(db_path)
    assert (rev.operation, rev.instruction, rev.chosen) == ("rewrite", "shorter", 0)


async def test_outline_from_a_premise(make_app, tiny_engine, db_path):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        before = app.doc.to_markdown()
        await pilot.press("o", *"a guide to essays", "enter")
        await generated(pilot)
        await pilot.press("1")
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
        assert app.doc.to_markdown().startswith(before.rstrip("\n"))
    rev = last_change(db_path)
    if rev.operation == "outline":  # an empty candidate changes nothing, so nothing is recorded
        assert rev.instruction == "a guide to essays" and rev.author == "model"


async def test_reject_and_regenerate(make_app, tiny_engine, db_path):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "Sentences carry rhythm", "sentence")
        before = app.doc.to_markdown()
        await pilot.press("r")
        await generated(pilot)
        first = list(app.generation.texts)
        await pilot.press("g")  # a new seed: other candidates
        await generated(pilot)
        assert app.generation.params["seed"] == 1 and app.generation.texts != first
        await pilot.press("x")
        assert app.generation is None and not app.candidates.texts
        assert app.doc.to_markdown() == before
    assert last_change(db_path).author == "import"


async def test_actions_explain_themselves_without_a_model(make_app):
    app = make_app(engine=None, load_engine=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert app.generation is None
        await wait_for(pilot, lambda: any("writing actions are off" in n.message for n in app._notifications),
                       what="the notice")  # a notification is a message of its own: it may come a moment later


async def test_engine_loads_in_a_worker_from_a_model_dir(make_app, tiny_model_dir):
    app = make_app(model_dir=tiny_model_dir, load_engine=True, backend="torch", device="cpu")
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await wait_for(pilot, lambda: app.engine is not None, what="the engine", timeout=60)
        assert app.status.engine == "tiny · torch · cpu"


async def test_missing_model_keeps_the_app_running(make_app, tmp_path):
    app = make_app(model_dir=tmp_path / "no-model", load_engine=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await wait_for(pilot, lambda: app.engine_error is not None, what="the engine failure", timeout=60)
        assert "no model" in app.status.engine
        await select(pilot, "Finishing")
        await pilot.press("enter", "end", "!", "escape", "ctrl+s")
        await wait_for(pilot, lambda: app.status.saved, what="the save")
