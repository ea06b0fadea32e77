"""Safe actions: a candidate read in full (the change in context, what it replaces) before it goes in;
accepting one that replaces existing text asks first, one that only adds does not; expand on a heading
with a body asks whether to add to the section or replace it; and no stale "accepted candidate N"."""

from __future__ import annotations

import pytest
from tui_helpers import node_by_text, opened, select, side_settled, wait_for

from app import writing
from app.store import Store
from app.tui.generation import Generation
from app.tui.screens.candidate_view import CandidateView
from app.tui.screens.dialogs import Choice
from engine.protocol import Candidate

pytestmark = pytest.mark.asyncio

SUBSECTIONS = ("The outline", "The paragraph", "The sentence")  # under "Working at several scales"


def offer(app, start: str, kind: str, action: str, texts: list[str], add: bool = False) -> Generation:
    """Candidates for `action` on the node, as a finished generation would leave them (fixed texts)."""
    node = node_by_text(app.doc, start, kind)
    proposal = writing.propose(app.doc, node.id, action, None, writing.Sampling(n=len(texts), seed=0),
                               base_revision=app.session.revision, add=add)
    gen = Generation(proposal, running=False, texts=list(texts))
    app.main.assistant.generation = gen
    app.candidates.start(f"{proposal.operation} {proposal.task.level} · {start}")
    app.candidates.update_candidates([Candidate(t, "stop", len(t.encode()), -3.0) for t in texts])
    app.candidates.finish(texts, "done · 1-9 accept · enter show · g regenerate · x reject")
    app.candidates.focus()
    return gen


def changes(db_path):
    with Store(db_path) as store:
        [info] = store.documents()
        return store.changes(info.id)


async def generated(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.generation is not None and not app.generation.running
                   and app.generation.texts, timeout=60, what="the candidates")


async def test_expand_on_a_section_with_text_asks_add_or_replace(make_app, tiny_engine, db_path):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "Working at several scales", "heading")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="the add-or-replace question")
        assert "3 subsections" in app.screen.message and app.generation is None  # nothing runs yet
        await pilot.click("#add")
        await generated(pilot)
        assert app.generation.proposal.add and "(add)" in str(app.candidates.border_title)
        head_id = node_by_text(app.doc, "Working at several scales", "heading").id
        before = {n.id: n.text for n in app.doc.walk()}
        app.generation.texts = ["Some more words for the section."]  # what the model wrote, fixed
        await pilot.press("1")  # only adds: no question
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
        assert not isinstance(app.screen, Choice)
        assert all(i in app.doc and app.doc.node(i).text == t for i, t in before.items())
        head = app.doc.node(head_id)
        assert [c.text for c in head.children][:2] == [before[head.children[0].id],
                                                       "Some more words for the section."]
        last = changes(db_path)[-1]
        assert (last.operation, last.params.get("mode")) == ("expand", "add")


async def test_expand_replace_asks_before_it_deletes_the_subsections(make_app, tiny_engine):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "Working at several scales", "heading")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="the add-or-replace question")
        await pilot.click("#replace")
        await generated(pilot)
        assert not app.generation.proposal.add
        app.generation.texts = ["A short body."]
        before = app.doc.to_markdown()
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="the confirm")
        assert "replaces 3 subsections" in app.screen.message and "characters" in app.screen.message
        await pilot.press("escape")  # keep the text
        await wait_for(pilot, lambda: not isinstance(app.screen, Choice), what="the dialog to close")
        assert app.doc.to_markdown() == before and app.generation is not None
        await pilot.press("1")
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="the confirm")
        await pilot.press("enter")  # Replace
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
        md = app.doc.to_markdown()
        assert "A short body." in md and not any(f"### {t}" in md for t in SUBSECTIONS)


async def test_the_candidate_view_shows_the_change_in_context_and_accepts(make_app):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await opened(pilot)
        offer(app, "The outline is a promise", "paragraph", "rewrite",
              ["A first rewrite of the paragraph.", "The second rewrite, taken."])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateView), what="the candidate view")
        view = app.screen
        assert view.index == 0 and view.preview.replaced == {"paragraph": 1, "sentence": 3}
        assert "replaces 1 paragraph, 3 sentences" in view.preview.summary()
        assert "- The outline is a promise about order." in "\n".join(view.preview.diff)
        assert "### The outline" in "\n".join(view.preview.diff)  # in context
        await pilot.press("right")
        await wait_for(pilot, lambda: view.index == 1, what="the next candidate")
        assert "+ The second rewrite, taken." in view.preview.diff
        await pilot.press("enter")  # read in full: accepted with no second question
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
        assert "The second rewrite, taken." in app.doc.to_markdown()
        assert "The outline is a promise about order." not in app.doc.to_markdown()


async def test_a_long_candidate_scrolls_in_the_view(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot)
        long = "\n\n".join(f"Paragraph {i} of a long candidate." for i in range(40))
        offer(app, "Working at several scales", "heading", "expand", [long])
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CandidateView), what="the candidate view")
        scroller = app.screen.query_one("#candidate-view-diff")
        await pilot.pause(0.2)
        assert scroller.max_scroll_y > 0
        await pilot.press("end")
        await wait_for(pilot, lambda: scroller.scroll_y == scroller.max_scroll_y > 0, what="the scroll")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CandidateView), what="back")
        assert app.generation is not None and "Paragraph 0" not in app.doc.to_markdown()


async def test_a_candidate_that_only_adds_is_taken_at_once(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        offer(app, "Vary their length", "sentence", "continue", [" And then some more."])
        await pilot.press("1")
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
        assert "And then some more." in app.doc.to_markdown()


async def test_no_accepted_candidate_note_after_a_restore(make_app):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        offer(app, "Sentences carry rhythm", "sentence", "rewrite", ["A new first sentence.", "Two."])
        await pilot.press("3", "2")  # 3: there is none
        await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="the confirm")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.generation is None and "Two." in app.doc.to_markdown(), what="the accept")
        first = changes_first_revision(app)
        app.main.view.restore_revision(first)
        await wait_for(pilot, lambda: "Two." not in app.doc.to_markdown(), what="the restore")
        await pilot.pause(0.2)
        assert "accepted candidate" not in str(app.candidates.border_subtitle)
        assert "accepted candidate" not in str(app.candidates.border_title)


def changes_first_revision(app) -> int:
    return app.session.store.changes(app.session.doc_id)[0].last


class TestCandidateViewSnapshots:
    @pytest.mark.parametrize("size", [(80, 24), (160, 48)])
    def test_a_replacing_candidate_in_the_view(self, snap_compare, make_app, size):
        async def run_before(pilot):
            app = pilot.app
            await opened(pilot)
            await side_settled(pilot)
            app.editor.cursor_blink = False
            offer(app, "Working at several scales", "heading", "expand",
                  ["A new body for the section.\n\nIt replaces everything under the heading.", "Two."])
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, CandidateView), what="the candidate view")
            await pilot.pause(0.3)

        assert snap_compare(make_app(), terminal_size=size, run_before=run_before)

    def test_the_confirm_before_replacing(self, snap_compare, make_app):
        async def run_before(pilot):
            app = pilot.app
            await opened(pilot)
            app.editor.cursor_blink = False
            offer(app, "Working at several scales", "heading", "expand", ["A new body."])
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, Choice), what="the confirm")
            await pilot.pause(0.3)

        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
