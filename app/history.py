"""The writer's history as training pairs: every accepted change in the revision store, as (document
before, the span aligned to the node it changed, the new text). Made here, in the app layer, and handed
to the trainer as data (`scriba train --from-history`); engine never reads the store.

    history_pairs(db) -> list[HistoryPair]
    write_history_jsonl(db, out) -> int     (the same pairs as JSON lines, for a machine without the store)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from app.change_preview import common_ends
from app.store.repository import Store
from engine.actions import aligned
from engine.document import Document
from engine.protocol import HistoryPair

# the level a change was recorded at -> the action that cuts such a span, and the node kind it is aligned to
_LEVEL_ACTION = {"sentence": "rewrite", "paragraph": "rewrite", "heading": "summarise", "section": "expand"}
_KIND_OF_LEVEL = {"sentence": "sentence", "paragraph": "paragraph", "heading": "heading", "section": "heading"}
_OPERATIONS = ("edit", "rewrite", "summarise", "expand")
SUPERSEDED_S = 60  # a writer's edit redone on the same node within this many seconds is left out (_superseded)


def history_pairs(db: str | Path, authors: tuple[str, ...] = ("writer", "model")) -> list[HistoryPair]:
    """Training pairs from a scriba store: every accepted change by the writer or the model (an edit, rewrite,
    summarise or expand) as (document before, the span aligned to the node it changed, the new text).
    Read-only."""
    pairs: list[HistoryPair] = []
    with Store(Path(db).expanduser()) as store:
        for info in store.documents():
            revs = store.history(info.id)
            changes: dict[int, list] = {}
            for r in revs:
                changes.setdefault(r.change_id, []).append(r)
            ids = sorted(r.id for r in revs)
            groups = [changes[c] for c in sorted(changes)]
            for i, group in enumerate(groups):
                first = group[0]
                if first.author not in authors or first.operation not in _OPERATIONS:
                    continue
                if _superseded(groups, i):
                    continue
                start_id = min(r.id for r in group)
                prev = [i for i in ids if i < start_id]
                if not prev:
                    continue
                before = store.at(info.id, prev[-1])
                after = store.at(info.id, max(r.id for r in group))
                pair = _pair(info.id, before, after, first)
                if pair is not None:
                    pairs.append(pair)
    return pairs


def _superseded(groups: list, i: int) -> bool:
    """Whether groups[i] is a writer's edit that the writer edits again on the same nodes within SUPERSEDED_S:
    a text half-typed and fixed a moment later is not a change to learn from; the later edit is."""
    group = groups[i]
    if group[0].author != "writer" or group[0].operation != "edit":
        return False
    nodes, end = _edited(group), group[-1].created_at
    if not nodes:
        return False
    for j in range(i + 1, len(groups)):  # indices, not a slice: the scan stops at the window, not the history's end
        other = groups[j]
        if (other[0].created_at - end).total_seconds() > SUPERSEDED_S:
            return False
        if other[0].author == "writer" and other[0].operation == "edit" and nodes <= _edited(other):
            return True
    return False


def _edited(group) -> set[str]:
    """The nodes whose text a change rewrote (not those it only inserted, moved or deleted)."""
    return {r.node_id for r in group if r.effect == "edit"}


def write_history_jsonl(db: str | Path, out: str | Path) -> int:
    """Write history_pairs(db) as JSON lines (for `scriba train --from-history FILE.jsonl` on a machine
    without the store's packages). Returns the number of pairs."""
    pairs = history_pairs(db)
    with open(out, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
    return len(pairs)


def _changed_region(b: str, a: str) -> tuple[int, int]:
    """[lo, hi) of `b` that differs from `a` (the common start and end taken away)."""
    head, tail = common_ends(a, b)
    return head, len(b) - tail


def _smallest_span(before: Document, b: str, lo: int, hi: int, levels: list[str]):
    """(start, end, level, heading level) of the smallest node span of the first level that holds [lo, hi)."""
    best = None
    for level in levels:
        for n in before.walk():
            if str(n.kind) != _KIND_OF_LEVEL[level]:
                continue
            try:
                s, e = aligned(before, b, n.id, "body" if level == "section" else "node")
            except (KeyError, ValueError):
                continue
            if s <= lo and hi <= e and s < e and (best is None or e - s < best[1] - best[0]):
                best = (s, e, level, getattr(n, "level", 0))
        if best is not None:
            return best
    return None


def _pair(doc_id: str, before: Document, after: Document, rev) -> HistoryPair | None:
    b, a = before.to_markdown(), after.to_markdown()
    if a == b:
        return None
    lo, hi = _changed_region(b, a)
    levels = [rev.level] if rev.level in _LEVEL_ACTION else ["sentence", "paragraph", "heading", "section"]
    best = _smallest_span(before, b, lo, hi, levels)
    if best is None:
        return None
    s, e, level, hl = best
    middle = a[s:len(a) - (len(b) - e)]
    if not middle.strip() or middle != middle.strip():
        return None
    return HistoryPair(doc_id, b, s, e, middle, _LEVEL_ACTION[level], level,
                       heading_level=hl if level in ("heading", "section") else 0,
                       instruction=rev.instruction or None, author=rev.author)
