"""Two windows on one file and one store: the editor's commits are made against the revision it last had,
so another window's change to another node is merged in (and shown), never reverted; a change to the
same node is refused with a clear message, never a silent overwrite. Also for an accepted candidate."""

from __future__ import annotations

import pytest
from tui_helpers import accept, node_by_text, opened, select, wait_for

from app.session import Session
from app.store import Store

pytestmark = pytest.mark.asyncio


def store_history(db_path):
    with Store(db_path) as store:
        [info] = store.documents()
        return store.history(info.id)


def stored_markdown(db_path):
    with Store(db_path) as store:
        [info] = store.documents()
        return store.current(info.id)[0].to_markdown()


async def test_a_hand_edit_merges_with_another_windows_change(make_app, essay, db_path):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        other = Session.open(essay, db_path)  # the second window
        try:
            theirs = node_by_text(other.doc, "Sentences carry rhythm", "sentence")
            other.edit_text(theirs.id, "Sentences carry a beat.")
        finally:
            other.close()
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("enter", "end", *" for now", "escape")
        await wait_for(pilot, lambda: "Finishing for now" in stored_markdown(db_path), what="the edit")
        md = app.doc.to_markdown()
        assert "## Finishing for now" in md and "Sentences carry a beat." in md  # both, nothing reverted
        assert md == stored_markdown(db_path) and app.doc.node(node.id).text == "## Finishing for now"
        assert app.doc.node(theirs.id).text == "Sentences carry a beat."


async def test_a_hand_edit_of_a_node_changed_elsewhere_is_refused_clearly(make_app, essay, db_path):
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        node = await select(pilot, "Finishing", "heading")
        other = Session.open(essay, db_path)
        try:
            other.edit_text(node.id, "## Finishing touches")
        finally:
            other.close()
        await pilot.press("enter", "end", *" for now", "escape")
        await wait_for(pilot, lambda: any("not recorded" in n.message for n in app._notifications),
                       what="the conflict message")
        note = next(n for n in app._notifications if "not recorded" in n.message)
        assert "changed after revision" in note.message and "for now" in note.message
        assert app.doc.node(node.id).text == "## Finishing touches"  # the recorded version, shown
        assert "Finishing for now" not in stored_markdown(db_path)


async def test_accepting_a_candidate_merges_with_another_windows_change(make_app, tiny_engine, essay, db_path):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        await select(pilot, "Finishing", "heading")
        await pilot.press("s")  # summarise: a new heading line
        await wait_for(pilot, lambda: app.generation is not None and not app.generation.running
                       and app.generation.texts, what="the candidates")
        other = Session.open(essay, db_path)  # meanwhile, another window edits another node
        try:
            theirs = node_by_text(other.doc, "Sentences carry rhythm", "sentence")
            other.edit_text(theirs.id, "Sentences carry a beat.")
        finally:
            other.close()
        pick = next(i for i, t in enumerate(app.generation.texts) if t.strip())  # the tiny model writes noise
        await accept(pilot, pick + 1)
        await wait_for(pilot, lambda: app.generation is None, what="the accept")
        assert "Sentences carry a beat." in app.doc.to_markdown()
        assert app.doc.to_markdown() == stored_markdown(db_path)
        with Store(db_path) as store:
            [info] = store.documents()
            last = store.history(info.id)[-1]
        assert (last.author, last.operation, last.chosen) == ("model", "summarise", pick)
        assert last.base_revision < max(r.id for r in store_history(db_path) if r.author == "writer")


async def test_a_candidate_for_a_node_changed_elsewhere_is_refused_clearly(make_app, tiny_engine, essay, db_path):
    app = make_app(engine=tiny_engine)
    async with app.run_test(size=(160, 48)) as pilot:
        await opened(pilot)
        node = await select(pilot, "Finishing", "heading")
        await pilot.press("s")  # summarise: a new text for this heading
        await wait_for(pilot, lambda: app.generation is not None and not app.generation.running
                       and app.generation.texts, what="the candidates")
        other = Session.open(essay, db_path)  # meanwhile, another window edits the same heading
        try:
            other.edit_text(node.id, "## Finishing touches")
        finally:
            other.close()
        pick = next(i for i, t in enumerate(app.generation.texts) if t.strip())  # the tiny model writes noise
        await accept(pilot, pick + 1)
        await wait_for(pilot, lambda: any(f"candidate {pick + 1} not recorded" in n.message
                                          for n in app._notifications), what="the conflict message")
        assert app.generation is None and not app.candidates.texts
        assert app.candidates.border_subtitle == f"candidate {pick + 1} not taken"
        assert app.doc.node(node.id).text == "## Finishing touches"  # the other window's, shown
        assert app.selected_id == node.id and app.editor.text == "## Finishing touches"
        assert app.doc.to_markdown() == stored_markdown(db_path)
        assert store_history(db_path)[-1].author == "writer"  # nothing of the model's recorded
