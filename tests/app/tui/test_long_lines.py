"""Long lines (issue 13, point 8): the editor wraps and draws a long soft-wrapped line a row at a time, and
what it draws is what Textual's TextArea draws; the preview's window stays small around a huge line."""

from __future__ import annotations

import random

import pytest
from textual._wrap import compute_wrap_offsets
from textual.app import App
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

from app.tui.widgets import wrapping
from app.tui.widgets.editor import HIGHLIGHT_LIMIT, NodeEditor
from app.tui.widgets.preview import WINDOW_CHARS, window

WORDS = ["a", "bb", "word", "sentence,", "**bold**", "x" * 30, "y" * 150, "z" * 400]


def random_line(rng: random.Random) -> str:
    parts = [rng.choice(WORDS) for _ in range(rng.randint(300, 1200))]
    gaps = [rng.choice([" ", " ", "  ", "   " * rng.randint(1, 60)]) for _ in parts]
    text = "".join(p + g for p, g in zip(parts, gaps))
    if rng.random() < 0.3:
        text = " " * rng.randint(1, 300) + text
    return text.rstrip() if rng.random() < 0.5 else text


def test_wrap_offsets_are_textuals():
    rng = random.Random(0)
    for _ in range(150):
        text = random_line(rng)
        assert len(text) >= wrapping.LONG_LINE
        for width in (1, 2, 7, 37, 80, 161):
            assert wrapping.wrap_offsets(text, width, 4) == compute_wrap_offsets(text, width, 4), (width, text)


def test_lines_outside_the_fast_path_go_to_textual():
    for text in ("short line " * 10, "tab\tseparated " * 300, "ünïcode wörds " * 300, "wide 字 " * 500):
        for width in (5, 40):
            assert wrapping.wrap_offsets(text, width, 4) == compute_wrap_offsets(text, width, 4)


class EditorApp(App):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self):
        yield NodeEditor(id="editor")

    def on_mount(self) -> None:
        editor = self.query_one(NodeEditor)
        editor.show_node("n1", self.text)
        editor.focus()


def stock_rows(editor: NodeEditor) -> list:
    """Every screen row as TextArea itself draws it."""
    return [TextArea._render_line(editor, y) for y in range(editor.size.height)]


def own_rows(editor: NodeEditor) -> list:
    return [editor._render_line(y) for y in range(editor.size.height)]


@pytest.mark.asyncio
@pytest.mark.parametrize("text", [
    ("The first sentence of a long paragraph, with **bold** and `code` (brackets) in it. " * 80).strip(),
    "   leading spaces then " + "w" * 300 + " a folded word, " + "and more words " * 400,
], ids=["sentences-with-markup", "folded-word"])
async def test_rows_of_a_long_line_are_drawn_as_textual_draws_them(text):
    app = EditorApp(text)
    async with app.run_test(size=(70, 20)) as pilot:
        editor = app.query_one(NodeEditor)
        await pilot.pause()
        assert len(editor.document.get_line(0)) > wrapping.LONG_LINE
        assert editor.wrapped_document.height > 3 * editor.size.height  # many rows: the line is wrapped
        cases = [
            (Selection.cursor((0, 0)), 0),
            (Selection.cursor((0, 130)), 0),  # the cursor on the second or third row
            (Selection((0, 40), (0, 500)), 0),  # a selection over several rows
            (Selection((0, 2900), (0, 2000)), 30),  # backwards, rows scrolled out of view above
            (Selection.cursor((0, len(text))), 10_000),  # the last row: the cursor's cell after the text
        ]
        for selection, scroll in cases:
            editor.selection = selection
            editor.scroll_to(y=scroll, animate=False, immediate=True)
            await pilot.pause()
            assert own_rows(editor) == stock_rows(editor), (selection, scroll)
            assert any(row.text.strip() for row in own_rows(editor))


@pytest.mark.asyncio
async def test_a_text_too_long_to_highlight_is_edited_plain_and_says_so():
    app = EditorApp("# A heading\n\nshort")
    async with app.run_test(size=(70, 20)) as pilot:
        editor = app.query_one(NodeEditor)
        if editor.highlighting is None:
            pytest.skip("no tree-sitter Markdown grammar here: nothing is highlighted anyway")
        assert editor.language == "markdown"

        class Node:
            id, kind = "n2", "paragraph"
            text = "word " * (HIGHLIGHT_LIMIT // 5 + 1)

        editor.show_selection(Node, read_only=False)
        await pilot.pause()
        assert editor.language is None and editor.text == Node.text
        assert "plain text" in editor.border_title
        Node.id, Node.text = "n3", "*short* again"
        editor.show_selection(Node, read_only=False)
        await pilot.pause()
        assert editor.language == "markdown" and editor.text == "*short* again"
        assert "plain" not in editor.border_title


def test_the_preview_window_around_a_huge_line_stays_small():
    line = ("A sentence of the one long paragraph, and then some more. " * 20_000).strip()
    markdown = f"# One line\n\n{line}\n\n## After\n\nmore\n"
    for offset in (12, len(markdown) // 2, len(markdown) - 30):
        text, start = window(markdown, offset)
        assert len(text) <= 4 * WINDOW_CHARS + 2
        assert markdown[start:start + len(text)] == text  # a slice of the document: offsets hold
        assert start <= offset <= start + len(text)
