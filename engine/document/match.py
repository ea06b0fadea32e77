"""Matching re-parsed nodes to existing ones, so ids survive edits and external changes.

A patience-diff style pass over two sequences in document order: equal runs at both ends are paired,
then nodes whose content is unique on both sides anchor the match (kept in order), and the stretches
between anchors are matched the same way; a stretch with no anchor is paired by position among nodes
of the same kind. So an external edit of one sentence keeps every other id, the edited sentence keeps
its own (paired by position), and repeated texts ("Yes." "Yes.") keep their places.
"""

from __future__ import annotations

import bisect
from collections import Counter

from .nodes import Kind, Node


def match(old: list[Node], new: list[Node], key=lambda n: (n.kind, n.level, n.text)) -> list[tuple[Node, Node]]:
    """Pairs (old, new): equal `key` first, then same kind by position within changed stretches."""
    pairs: list[tuple[Node, Node]] = []
    _match(old, new, [key(n) for n in old], [key(n) for n in new], 0, len(old), 0, len(new), pairs)
    return pairs


def _match(old, new, ok, nk, i1, i2, j1, j2, pairs) -> None:
    while i1 < i2 and j1 < j2 and ok[i1] == nk[j1]:  # equal prefix
        pairs.append((old[i1], new[j1]))
        i1, j1 = i1 + 1, j1 + 1
    tail = []
    while i1 < i2 and j1 < j2 and ok[i2 - 1] == nk[j2 - 1]:  # equal suffix
        i2, j2 = i2 - 1, j2 - 1
        tail.append((old[i2], new[j2]))
    anchors = _anchors(ok, nk, i1, i2, j1, j2)
    if anchors:
        for i, j in anchors:
            _match(old, new, ok, nk, i1, i, j1, j, pairs)
            pairs.append((old[i], new[j]))
            i1, j1 = i + 1, j + 1
        _match(old, new, ok, nk, i1, i2, j1, j2, pairs)
    else:
        pairs.extend(_by_kind(old[i1:i2], new[j1:j2]))
    pairs.extend(reversed(tail))


def _anchors(ok, nk, i1, i2, j1, j2) -> list[tuple[int, int]]:
    """(i, j) of keys that occur exactly once on each side, longest run increasing in both."""
    count_old, count_new = Counter(ok[i1:i2]), Counter(nk[j1:j2])
    where_new = {nk[j]: j for j in range(j1, j2) if count_new[nk[j]] == 1}
    cands = [(i, where_new[ok[i]]) for i in range(i1, i2)
             if count_old[ok[i]] == 1 and ok[i] in where_new]
    # longest increasing subsequence in j (patience sorting)
    tops: list[int] = []
    top_at: list[int] = []
    back: list[int] = []
    for n, (_, j) in enumerate(cands):
        pos = bisect.bisect_left(tops, j)
        back.append(top_at[pos - 1] if pos else -1)
        if pos == len(tops):
            tops.append(j)
            top_at.append(n)
        else:
            tops[pos], top_at[pos] = j, n
    out, n = [], top_at[-1] if top_at else -1
    while n >= 0:
        out.append(cands[n])
        n = back[n]
    return out[::-1]


def _by_kind(old: list[Node], new: list[Node]) -> list[tuple[Node, Node]]:
    """In order: each new node takes the next unpaired old node of the same kind, if any."""
    pairs, i, exhausted = [], 0, set()
    for n in new:
        if n.kind in exhausted:
            continue
        j = next((k for k in range(i, len(old)) if old[k].kind is n.kind), None)
        if j is None:
            exhausted.add(n.kind)  # none left after i, and i only grows
        else:
            pairs.append((old[j], n))
            i = j + 1
    return pairs


def adopt(old: Node, new: Node) -> Node:
    """Carry `new`'s content into the existing node `old` (same object, same id) and return it."""
    old.kind, old.level, old._text, old.tail = new.kind, new.level, new._text, new.tail
    if new.kind is Kind.PARAGRAPH:
        adopt_sentences(old, new.children)
    elif old.kind is not Kind.HEADING:
        old.children = []
    return old


def adopt_sentences(paragraph: Node, fresh: list[Node]) -> None:
    """Replace a paragraph's sentences by `fresh`, reusing the ids (objects) of matching ones."""
    keep = {id(n): o for o, n in match(paragraph.children, fresh, key=lambda n: n._text)}
    children = []
    for n in fresh:
        o = keep.get(id(n))
        if o is not None:
            o._text, o.tail = n._text, n.tail
            n = o
        else:
            n.order = None
        n.parent = paragraph
        children.append(n)
    paragraph.children = children
