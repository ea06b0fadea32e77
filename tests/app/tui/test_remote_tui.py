"""The editor on a served engine (`scriba --engine URL`): a whole expand → accept against a real server on a
loopback port (the bundled model on CPU), and the engine's status when the server goes away."""

from __future__ import annotations

import pytest
from tui_helpers import accept, expand, opened, select, wait_for

from app.store import Store
from app.tui.screens.dialogs import Choice

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def bundled_engine():
    from engine.api import load_engine
    from engine.resources import bundled_model_dir

    return load_engine(bundled_model_dir(), device="cpu")


def _serve(engine):
    from engine.serve import ServerThread
    from engine.serve.app import Limits, create_app

    return ServerThread(create_app(engine, Limits(max_bytes=64)))


async def _engine_ready(pilot):
    await wait_for(pilot, lambda: pilot.app.engine is not None or pilot.app.engine_error is not None,
                   timeout=60, what="the served engine")


async def test_expand_and_accept_against_a_server(make_app, bundled_engine, db_path):
    with _serve(bundled_engine) as server:
        app = make_app(load_engine=True, engine_url=server.url)
        async with app.run_test(size=(160, 48)) as pilot:
            await opened(pilot)
            await _engine_ready(pilot)
            assert app.engine_error is None and f"at {server.url}" in app.status.engine
            await select(pilot, "The sentence", "heading")
            await expand(pilot)
            await wait_for(pilot, lambda: app.generation is not None and not app.generation.running
                           and app.generation.texts, timeout=120, what="the candidates")
            texts = list(app.generation.texts)
            want = bundled_engine.generate(app.generation.proposal.request)  # the same seed, in process
            assert [c.text for c in app.generation.raw] == [c.text for c in want]
            await accept(pilot, 1)  # it replaces the section's text: the question is answered
            await wait_for(pilot, lambda: app.generation is None, timeout=30, what="the accept")
            assert app.status.engine_ok
    with Store(db_path) as store:
        [info] = store.documents()
        rev = store.history(info.id)[-1]
    assert (rev.author, rev.operation, rev.level, rev.chosen) == ("model", "expand", "section", 0)
    assert rev.model == bundled_engine.info().model and rev.candidates == texts


async def test_a_server_that_goes_away_shows_in_the_status_and_editing_goes_on(make_app, bundled_engine):
    server = _serve(bundled_engine).__enter__()
    app = make_app(load_engine=True, engine_url=server.url)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await _engine_ready(pilot)
        server.__exit__(None, None, None)
        app.engine.retries, app.engine.backoff = 1, 0.05
        await select(pilot, "The sentence", "heading")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="add or replace")
        await pilot.click("#replace")
        await wait_for(pilot, lambda: "unreachable" in app.status.engine, timeout=60, what="the status")
        assert not app.status.engine_ok
        await wait_for(pilot, lambda: app.generation is None or not app.generation.running, timeout=30,
                       what="the failed generation")
        app.outline.focus()
        await select(pilot, "A document is finished", "paragraph")
        await pilot.press("n")  # a new paragraph by hand: editing never waits on the server
        await wait_for(pilot, lambda: "New paragraph." in app.doc.to_markdown(), what="the hand edit")


async def test_an_unreachable_server_at_start_turns_the_writing_actions_off(make_app):
    from engine.serve import free_port

    app = make_app(load_engine=True, engine_url=f"http://127.0.0.1:{free_port()}")
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await _engine_ready(pilot)
        assert app.engine is None and "is unreachable" in app.engine_error
        assert app.status.engine == "no model (writing actions off)"
