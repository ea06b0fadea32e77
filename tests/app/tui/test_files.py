"""Files: open another file (ctrl+o: recent files, a folder tree, a path), recent files kept beside the
store, save as; the preview renders reference-style links in a document of any size."""

from __future__ import annotations

import pytest
from textual.widgets import DirectoryTree, Input, OptionList
from tui_helpers import opened, select, wait_for

from app import recent
from app.tui.screens.open_file import OpenFileScreen


@pytest.mark.asyncio
async def test_open_a_file_from_the_folder_tree(make_app, essay, tmp_path, db_path):
    other = tmp_path / "notes.md"
    other.write_text("# Notes\n\nA first note.\n", encoding="utf-8")
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        first = app.main
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenFileScreen), what="the open dialog")
        tree = app.screen.query_one(DirectoryTree)
        await wait_for(pilot, lambda: any(str(n.data.path).endswith("notes.md") for n in tree.root.children
                                          if n.data is not None), what="the folder listed")
        node = next(n for n in tree.root.children if n.data is not None and n.data.path.name == "notes.md")
        tree.select_node(node)
        await wait_for(pilot, lambda: app.main is not first, what="the new main screen")
        await opened(pilot)
        assert app.session.path == other
        assert app.session.markdown == "# Notes\n\nA first note.\n"
        assert app.screen is app.main
        assert first.session.store is None  # the first document was closed (its store with it)
        assert [p.name for p in recent.load(db_path)][:2] == ["notes.md", "essay.md"]


@pytest.mark.asyncio
async def test_recent_files_are_offered_and_kept_between_runs(make_app, essay, tmp_path, db_path):
    other = tmp_path / "notes.md"
    other.write_text("# Notes\n", encoding="utf-8")
    async with make_app(other).run_test() as pilot:  # an earlier run on notes.md
        await opened(pilot)
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenFileScreen), what="the open dialog")
        options = app.screen.query_one("#recent-files", OptionList)
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [str(other.resolve())]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session is not None and app.session.path.resolve() == other.resolve(),
                       what="notes.md open")


@pytest.mark.asyncio
async def test_open_a_typed_path_to_a_new_file(make_app, tmp_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, OpenFileScreen), what="the open dialog")
        app.screen.query_one(Input).focus()
        await pilot.press(*"fresh.md", "enter")
        await wait_for(pilot, lambda: app.session is not None and app.session.path == tmp_path / "fresh.md",
                       what="the new file open")
        await opened(pilot)
        assert app.session.markdown == ""


@pytest.mark.asyncio
async def test_save_as_writes_a_new_file_and_goes_on_there(make_app, essay, tmp_path):
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        text = app.session.markdown
        await pilot.press("f6")
        await wait_for(pilot, lambda: len(app.screen_stack) == 2, what="the save-as prompt")
        field = app.screen.query_one(Input)
        field.value = str(tmp_path / "copy.md")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.session is not None and app.session.path == tmp_path / "copy.md",
                       what="editing the copy")
        assert (tmp_path / "copy.md").read_text(encoding="utf-8") == text
        assert essay.read_text(encoding="utf-8") == text


@pytest.mark.asyncio
async def test_save_as_never_overwrites(make_app, essay, tmp_path):
    taken = tmp_path / "taken.md"
    taken.write_text("keep me\n", encoding="utf-8")
    app = make_app()
    async with app.run_test() as pilot:
        await opened(pilot)
        await pilot.press("f6")
        await wait_for(pilot, lambda: len(app.screen_stack) == 2, what="the save-as prompt")
        app.screen.query_one(Input).value = str(taken)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("exists" in n.message for n in app._notifications), what="the refusal")
        assert taken.read_text(encoding="utf-8") == "keep me\n"
        assert app.session.path == essay


@pytest.mark.asyncio
async def test_preview_renders_reference_links_in_a_large_document(make_app, tmp_path):
    path = tmp_path / "big.md"
    filler = "".join(f"\n## Part {i}\n\n" + "Words that fill the document up. " * 40 + "\n" for i in range(120))
    path.write_text("# Big\n\nRead [the guide][guide] first." + filler + "\n[guide]: https://example.com/guide\n",
                    encoding="utf-8")
    assert path.stat().st_size > 120_000
    app = make_app(path)
    async with app.run_test() as pilot:
        await opened(pilot)
        await wait_for(pilot, lambda: "Read" in app.preview._source, what="the preview")
        await pilot.pause(0.5)
        paragraph = next(w for w in app.preview.markdown_widget.children if "Read" in str(w._content))
        content = str(paragraph._content)
        assert "[the guide][guide]" not in content and "the guide" in content
        assert "https://example.com/guide" in repr(paragraph._content.spans)


@pytest.mark.asyncio
async def test_ctrl_g_continues_at_the_cursor(make_app, tiny_engine):
    """In the editor, ctrl+g continues at the cursor: after the sentence it is in, inside the paragraph."""
    app = make_app(engine=tiny_engine)
    async with app.run_test() as pilot:
        await opened(pilot)
        para = await select(pilot, "A long document is not a short one", "paragraph")
        first, second = para.children[0], para.children[1]
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.focused is app.editor, what="the editor")
        app.editor.move_cursor((0, len(first.text)))  # at the end of the first sentence
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.generation is not None, what="the generation")
        assert app.generation.node_id == first.id
        assert app.generation.proposal.action.name == "continue"
        await wait_for(pilot, lambda: not app.generation.running, timeout=60, what="the candidates")
        app.main.action_reject_candidates()
        app.outline.select_id(para.id)
        await wait_for(pilot, lambda: app.selected_id == para.id, what="the paragraph again")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.focused is app.editor, what="the editor")
        app.editor.move_cursor((0, len(first.text) + 5))  # inside the second sentence
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.generation is not None and app.generation.node_id != first.id,
                       what="the second generation")
        assert app.generation.node_id == second.id


def test_open_dialog_snapshot_80x24(snap_compare, make_app, tmp_path):
    (tmp_path / "notes.md").write_text("# Notes\n", encoding="utf-8")
    (tmp_path / "chapters").mkdir()

    async def run_before(pilot):
        await opened(pilot)
        pilot.app.editor.cursor_blink = False
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, OpenFileScreen), what="the open dialog")
        tree = pilot.app.screen.query_one(DirectoryTree)
        await wait_for(pilot, lambda: len(tree.root.children) >= 3, what="the folder listed")
        await pilot.pause(0.3)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
