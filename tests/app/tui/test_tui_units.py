"""Pure helpers of the TUI: byte → character mapping for the inspect view, previews, diffs, the preview window."""

from __future__ import annotations

from app.tui.formatting import diff, word_diff
from app.tui.widgets.candidates import printable
from app.tui.widgets.inspect_view import BOUNDARY, char_byte_starts, render_inspection
from app.tui.widgets.outline import block_icon, first_expanded, preview
from app.tui.widgets.preview import WHOLE_LIMIT, window
from engine.document import Document


def test_char_byte_starts_handles_multibyte_characters():
    assert char_byte_starts("aé€😀b") == [0, 1, 3, 6, 10, 11]


def test_boundaries_and_entropy_map_to_characters_not_bytes():
    text = "né😀x"
    data = text.encode()
    entropy = [1.0] * len(data)
    entropy[3] = 7.9  # inside the emoji (bytes 3-6)
    shown = render_inspection(text, entropy, boundaries=[1, 4, 7])  # 4: inside the emoji -> at the emoji
    assert shown.plain == f"n{BOUNDARY}é{BOUNDARY}😀{BOUNDARY}x"
    colours = {shown.plain[s.start:s.end]: s.style.bgcolor for s in shown.spans if not isinstance(s.style, str)}
    assert colours["😀"] != colours["n"] == colours["é"]  # the emoji took its hottest byte


def test_preview_and_icons():
    assert preview("a  b\n c", 10) == "a b c"
    assert preview("x" * 60, 10) == "x" * 9 + "…"
    assert block_icon("- item") == "•" and block_icon("1. one") == "•"
    assert block_icon("```py\n```") == "⌥" and block_icon("> q") == "❝" and block_icon("| a |") == "▦"


def test_diffs():
    assert diff("same", "same").plain == "(the same as now)"
    d = word_diff("the quick fox", "the slow fox")
    assert d.plain == "the quickslow fox"
    assert any("strike" in str(s.style) for s in d.spans)


def test_printable_hides_control_characters():
    assert printable("a\x07b\nc\x1b") == "a·b\nc·"


def test_preview_window_of_a_long_document():
    md = "".join(f"line {i}\n" for i in range(40_000))
    assert len(md) > WHOLE_LIMIT
    text, start = window(md, md.index("line 20000\n"))
    assert "line 20000\n" in text and start > 0 and md[start - 1] == "\n" and len(text) < 50_000
    assert window("short\n", 3) == ("short\n", 0)


def test_a_new_outline_opens_whole_heading_levels_that_fit():
    doc = Document.from_markdown("# A\n\n## B\n\nOne.\n\n### C\n\nTwo.\n\n## D\n\nThree.\n\n# E\n")
    a, e = doc.root.children
    b, d = a.children
    c = b.children[1]
    # lines: A E (2) + B D (2) + B's paragraph, C, D's paragraph (3) + C's paragraph (1)
    assert first_expanded(doc, budget=100) == first_expanded(doc, budget=8) == {a.id, b.id, c.id, d.id, e.id}
    assert first_expanded(doc, budget=7) == {a.id, e.id, b.id, d.id}
    assert first_expanded(doc, budget=6) == first_expanded(doc, budget=4) == {a.id, e.id}
    assert first_expanded(doc, budget=3) == set()  # all of a level or none of it
