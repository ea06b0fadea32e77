"""Soft wrapping of long lines for the editor, fast: the offsets Textual's `compute_wrap_offsets` gives,
found a screen row at a time with str methods instead of a word at a time in Python (a 1 MB one-line
paragraph: ~0.25 s a wrap, and the TextArea wraps on every load, resize and edit of the line).

Only lines of printable ASCII (one cell a character, no tabs) of LONG_LINE characters or more take the fast
path; every other line goes to Textual's function. tests/app/tui/test_long_lines.py checks the two agree.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import textual.document._wrapped_document as wrapped_module
from textual._wrap import compute_wrap_offsets
from textual.document._wrapped_document import WrappedDocument

LONG_LINE = 2_000  # characters
_SPACES = re.compile(" +")


def wrap_offsets(text: str, width: int, tab_size: int, fold: bool = True,
                 precomputed_tab_sections: list[tuple[str, int]] | None = None) -> list[int]:
    """`compute_wrap_offsets(text, width, tab_size, fold, …)`: where the rows of `text` start."""
    if len(text) < LONG_LINE or not fold or width <= 0 or not (text.isascii() and text.isprintable()):
        return compute_wrap_offsets(text, width, tab_size, fold, precomputed_tab_sections)
    # Textual's rule: a chunk (a word and the spaces after it) goes on the row if it fits, else starts
    # the next row; a chunk wider than a row is folded, `width` characters a row, starting a row of its own.
    breaks: list[int] = []
    n, row = len(text), 0
    while n - row > width:
        head = text[row:row + width + 1].rstrip(" ")
        space = head.rfind(" ")
        if space >= 0:  # the last chunk starting on this row's cells: it does not fit, it starts the next
            start = row + space + 1
            breaks.append(start)
        else:  # one chunk from the row's start past its end (only at the start of the text)
            start = row
        after = text.find(" ", start)
        end = n if after < 0 else _SPACES.match(text, after).end()
        if end - start > width:
            folds = (end - start - 1) // width
            breaks.extend(range(start + width, start + folds * width + 1, width))
            start += folds * width
        row = start
    return breaks


@contextlib.contextmanager
def _fast_offsets() -> Iterator[None]:
    """WrappedDocument's wrap methods call the module's `compute_wrap_offsets`: use `wrap_offsets` (the
    same offsets) while they run. The UI thread is the only one that wraps."""
    wrapped_module.compute_wrap_offsets = wrap_offsets
    try:
        yield
    finally:
        wrapped_module.compute_wrap_offsets = compute_wrap_offsets


class FastWrappedDocument(WrappedDocument):
    """A WrappedDocument whose long lines are wrapped by `wrap_offsets`."""

    def wrap(self, width: int, tab_width: int | None = None) -> None:
        with _fast_offsets():
            super().wrap(width, tab_width)

    def wrap_range(self, start, old_end, new_end) -> None:
        with _fast_offsets():
            super().wrap_range(start, old_end, new_end)
