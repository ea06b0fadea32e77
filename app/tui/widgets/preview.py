"""The rendered document (Textual's Markdown widget), scrolled to follow the selected node.

A long document is rendered as a window around the selection (WINDOW_CHARS either side, cut at
line starts), so rendering stays quick; a short one is rendered whole. The window carries the
document's link reference definitions (`[label]: url`) from outside it, so reference-style links render
at any size. Markdown blocks carry the source line range they came from, which maps the selected node's
offset to the block to show.
"""

from __future__ import annotations

import re

from textual.containers import VerticalScroll
from textual.widgets import Markdown

WHOLE_LIMIT = 120_000  # characters: render the whole document below this
WINDOW_CHARS = 20_000
# a link reference definition: up to 3 spaces, [label]: destination, an optional title, on one line
_DEFINITION = re.compile(r"^ {0,3}\[(?:[^\]\\\n]|\\.){1,999}\]:[ \t]*\S[^\n]*$", re.M)


_found: tuple[str, list[tuple[int, str]]] = ("", [])  # the last document looked at, and its definitions


def definitions(markdown: str, outside: tuple[int, int] = (0, 0)) -> str:
    """The link reference definitions of `markdown` not in `outside` (start, end), one per line. The
    last document's are kept: the preview asks again at every move of the selection."""
    global _found
    if _found[0] != markdown:
        _found = (markdown, [(m.start(), m.group(0)) for m in _DEFINITION.finditer(markdown)])
    lo, hi = outside
    return "".join(line + "\n" for start, line in _found[1] if not lo <= start < hi)


def window(markdown: str, offset: int, size: int = WINDOW_CHARS) -> tuple[str, int]:
    """(the text around `offset`, its start offset), cut at line starts; the document's link reference
    definitions from outside the window follow it (after the window's own lines: the offsets hold)."""
    if len(markdown) <= WHOLE_LIMIT:
        return markdown, 0
    lo, hi = max(0, offset - size), min(len(markdown), offset + size)
    start = markdown.rfind("\n", 0, lo) + 1
    end = markdown.find("\n", hi)
    end = len(markdown) if end < 0 else end + 1
    # a line far longer than the window (a one-line paragraph of a megabyte) is cut at a space instead
    if lo - start > size:
        start = markdown.rfind(" ", lo - size, lo) + 1 or lo
    if end - hi > size:
        end = markdown.find(" ", hi, hi + size) + 1 or hi
    refs = definitions(markdown, (start, end)) if "]:" in markdown else ""
    text = markdown[start:end]
    if refs:
        text += ("" if text.endswith("\n") else "\n") + "\n" + refs
    return text, start


class DocumentPreview(VerticalScroll):
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._source = ""
        self._start = 0
        self._target_line = 0
        self.markdown_widget = Markdown("", id="preview-markdown")

    def compose(self):
        yield self.markdown_widget

    async def show(self, markdown: str, offset: int = 0) -> None:
        """Render `markdown` (or the window of it around `offset`) and scroll to `offset`."""
        if not self.markdown_widget.is_mounted:
            return
        text, start = window(markdown, offset)
        if text != self._source:
            self._source, self._start = text, start
            await self.markdown_widget.update(text)
        self.follow(offset)

    def follow(self, offset: int) -> None:
        """Scroll so that the block holding document offset `offset` is at the top."""
        local = max(0, offset - self._start)
        line = self._source.count("\n", 0, local)
        self._target_line = line
        self.call_after_refresh(self._scroll_to_line, line)

    def _scroll_to_line(self, line: int) -> None:
        if line != self._target_line:
            return
        best = None
        for block in self.markdown_widget.children:
            start, end = getattr(block, "source_range", (0, 0))
            if start <= line:
                best = block
            if start <= line < end or start > line:
                break
        if best is None or line == 0:
            self.scroll_home(animate=False)
        else:
            self.scroll_to_widget(best, animate=False, top=True)
