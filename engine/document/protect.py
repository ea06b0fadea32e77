"""Where in paragraph text no sentence may end: inline code spans, links and images, autolinks.

One left-to-right pass, linear in the length of the text. (A regex alternative such as
`!?\\[[^\\]\\n]*\\]\\([^)\\n]*\\)` re-scans the rest of the paragraph from every `[`: 16 KB of `[` took
seconds, 100 KB over a minute, on import and on every edit of that paragraph.)

* A code span opens with a run of k backticks and closes at the next run of exactly k (CommonMark);
  a run with no closer is literal text.
* A link or image is `[text](destination)` with no `]` or line break in the text and no `)` or line
  break in the destination (a `!` before the `[` belongs to it).
* An autolink is `<scheme:anything-but-spaces-and-angle-brackets>`.
The leftmost construct wins, as in a regex alternation scanned from the left.
"""

from __future__ import annotations

import bisect
import re

_START = re.compile(r"[`\[<]")
_START_NOT_LINK = re.compile(r"[`<]")
_RUN = re.compile(r"`+")
_AUTOLINK = re.compile(r"<[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>]*>")
_LINK_TEXT_STOP = re.compile(r"[\]\n]")
_DESTINATION_STOP = re.compile(r"[)\n]")


class _NextStop:
    """The first match of `pattern` at or after a position, for positions that never decrease: a result
    stays valid until the position passes it, so all the searches together scan the text once."""

    def __init__(self, pattern: re.Pattern, text: str):
        self.pattern, self.text, self.found = pattern, text, -1

    def __call__(self, pos: int) -> int:
        if self.found < pos:
            m = self.pattern.search(self.text, pos)
            self.found = m.start() if m else len(self.text)
        return self.found


class _Runs:
    """The backtick runs of the text (maximal), by length, to find a code span's closing run."""

    def __init__(self, text: str):
        self.by_length: dict[int, list[int]] = {}
        for m in _RUN.finditer(text):
            self.by_length.setdefault(m.end() - m.start(), []).append(m.start())

    def closer(self, start: int, length: int) -> int | None:
        """Start of the first run of exactly `length` backticks after the run at `start`."""
        starts = self.by_length[length]
        i = bisect.bisect_right(starts, start)
        return starts[i] if i < len(starts) else None


def protected_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every protected construct, in order, not overlapping."""
    n = len(text)
    spans: list[tuple[int, int]] = []
    runs: _Runs | None = None
    text_stop = _NextStop(_LINK_TEXT_STOP, text)
    destination_stop = _NextStop(_DESTINATION_STOP, text)
    pos = 0
    no_link_before = 0  # a failed link attempt proves that no link starts before this position
    while pos < n:
        if pos < no_link_before:
            m = _START_NOT_LINK.search(text, pos, no_link_before)
            if m is None:
                pos = no_link_before
                continue
        else:
            m = _START.search(text, pos)
            if m is None:
                break
        p = m.start()
        ch = text[p]
        if ch == "`":
            runs = runs or _Runs(text)
            length = _RUN.match(text, p).end() - p
            close = runs.closer(p, length)
            if close is None:
                pos = p + length  # a literal run of backticks
                continue
            spans.append((p, close + length))
            pos = close + length
        elif ch == "<":
            auto = _AUTOLINK.match(text, p)
            if auto is None:
                pos = p + 1
                continue
            spans.append((p, auto.end()))
            pos = auto.end()
        else:
            j = text_stop(p + 1)
            if j < n - 1 and text[j] == "]" and text[j + 1] == "(":
                k = destination_stop(j + 2)
                if k < n and text[k] == ")":
                    start = p - 1 if p > pos and text[p - 1] == "!" else p
                    spans.append((start, k + 1))
                    pos = k + 1
                    continue
            # every `[` before j stops at the same j, so none of them opens a link either
            no_link_before = max(j, p + 1)
            pos = p + 1
    return spans


def inside(cut: int, spans: list[tuple[int, int]], starts: list[int]) -> bool:
    """Is `cut` strictly inside one of `spans` (`starts`: their start offsets, for bisecting)?"""
    i = bisect.bisect_left(starts, cut) - 1
    return i >= 0 and spans[i][0] < cut < spans[i][1]
