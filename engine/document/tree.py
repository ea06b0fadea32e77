"""`Document`: the tree, Markdown import/export, records, spans and edits.

Internally the document is a flat sequence of *units* (headings, paragraphs, blocks) in source order;
the tree is a pure function of it (`_renest`: a heading's children are the units up to the next
heading of the same or a higher level). Every edit changes that sequence, re-nests, and checks the
Markdown around each changed unit by re-parsing a small window: if the text would not read back as
the same units (say a new paragraph opens a code fence), the whole document is re-parsed and matched
against the tree instead, so the tree always equals what import would produce. Ids live on node
objects that are updated in place; order keys are kept unless a node's position really changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from operator import attrgetter

from .edits import Edits
from .edits import breaks as _breaks
from .keys import repair_keys
from .match import adopt, match
from .nodes import InputRefused, Kind, Node, NodeRecord, check_text, decode, new_ids, paused_gc
from .parse import parse_units

_UNIT_KINDS = (Kind.HEADING, Kind.PARAGRAPH, Kind.BLOCK)
_KINDS = {kind.value: kind for kind in Kind}
_ORDER = attrgetter("order")
_MD_SPACE = " \t\r\n"


@dataclass
class Change:
    """What one edit did, by node id."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return self.created + self.changed + self.deleted


@dataclass
class _Edit:
    flat: list[Node]
    touched: list[Node] = field(default_factory=list)  # units whose surroundings must re-read the same
    seams: list[Node] = field(default_factory=list)  # units that must end in a separator if followed
    strict: str = ""  # if set: refuse (with this message) instead of re-reading when text reads back changed


class Document(Edits):
    """The tree of one Markdown document. Edits (set_text, insert, …) live in `Edits` (edits.py)."""

    root: Node

    def __init__(self, root: Node | None = None) -> None:
        self.root = root or Node(Kind.ROOT, order="")
        self.last_change = Change()
        self._by_id: dict[str, Node] = {}
        self._layout: tuple[str, dict[str, tuple[int, int, int]]] | None = None
        self._reindex()

    # ---- import / export -------------------------------------------------------------------------

    @classmethod
    def from_markdown(cls, text: str) -> Document:
        check_text(text)
        doc = cls()
        with paused_gc():
            doc._load(text, [], fresh=True)
        return doc

    @classmethod
    def from_bytes(cls, data: bytes) -> Document:
        return cls.from_markdown(decode(data))

    @classmethod
    def from_records(cls, records: Iterable[NodeRecord]) -> Document:
        """The tree of these records (any order; siblings by order key, ties in the given order)."""
        return cls.from_rows((r.id, r.kind, r.parent_id, r.order, r.level, r.text, r.tail) for r in records)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple]) -> Document:
        """`from_records` from plain tuples `(id, kind, parent_id, order, level, text, tail)` (the store
        reads them so: a document has tens of thousands of nodes)."""
        nodes: dict[str, Node] = {}
        kids: dict[str, list[Node]] = {}
        root = None
        kinds = _KINDS
        with paused_gc():
            for nid, kind, parent_id, order, level, text, tail in rows:
                node = Node(kinds.get(kind) or Kind(kind), text, tail, level, id=nid, order=order)
                nodes[nid] = node
                if parent_id is None:
                    if root is not None:
                        raise InputRefused("records hold more than one root")
                    root = node
                elif parent_id in kids:
                    kids[parent_id].append(node)
                else:
                    kids[parent_id] = [node]
            if root is None:
                raise InputRefused("records hold no root node")
            for parent_id, children in kids.items():
                parent = nodes.get(parent_id)
                if parent is None:
                    raise InputRefused(f"record parent {parent_id} is missing")
                children.sort(key=_ORDER)  # stable: equal keys keep the given order
                for child in children:
                    child.parent = parent
                parent.children.extend(children)
            return cls(root)

    def to_markdown(self) -> str:
        return self._computed_layout()[0]

    def records(self) -> list[NodeRecord]:
        return [n.record() for n in self.walk()]

    def node(self, node_id: str) -> Node:
        try:
            return self._by_id[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id!r} in this document") from None

    def walk(self) -> Iterator[Node]:
        """All nodes, root first, in document (preorder) order."""
        stack = [self.root]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._by_id

    # ---- spans -----------------------------------------------------------------------------------

    def span(self, node_id: str, part: str = "node") -> tuple[int, int]:
        """Offsets into `to_markdown()` of a node's text (part="node") or a section body ("body").

        "node": a sentence without the whitespace after it, a heading line without its newline, a
        paragraph without the line break and blank lines after it, a block's lines. "body": for a
        heading, everything after its line and the blank lines under it (its tail) up to the next
        heading of the same or a higher level, or the end (blank lines before that heading included).
        """
        node = self.node(node_id)
        start, content_end, end = self._computed_layout()[1][node_id]
        if part == "node":
            return (0, end) if node.kind is Kind.ROOT else (start, content_end)
        if part == "body":
            if node.kind not in (Kind.HEADING, Kind.ROOT):
                raise ValueError(f"part='body' needs a heading, not a {node.kind.value}")
            return content_end + len(node.tail), end
        raise ValueError(f"unknown span part {part!r} (use 'node' or 'body')")

    def section_body(self, node_id: str) -> str:
        start, end = self.span(node_id, "body")
        return self.to_markdown()[start:end]

    def _computed_layout(self):
        """(markdown, {id: (content start, content end, subtree end)}), cached until the next edit."""
        if self._layout is None:
            parts: list[str] = []
            spans: dict[str, tuple[int, int, int]] = {}
            self._emit(self.root, parts, spans, 0)
            self._layout = ("".join(parts), spans)
        return self._layout

    def _emit(self, node: Node, parts: list[str], spans: dict, pos: int) -> int:
        start = pos
        if node.kind is Kind.PARAGRAPH:
            for s in node.children:
                spans[s.id] = (pos, pos + len(s._text), pos + len(s._text))
                parts += (s._text, s.tail)
                pos += len(s._text) + len(s.tail)
            spans[node.id] = (start, pos, pos + len(node.tail))
            parts.append(node.tail)
            return pos + len(node.tail)
        parts += (node._text, node.tail)
        content_end = pos + len(node._text)
        pos = content_end + len(node.tail)
        for child in node.children:
            pos = self._emit(child, parts, spans, pos)
        spans[node.id] = (start, content_end, pos)
        return pos

    # ---- machinery -------------------------------------------------------------------------------

    @contextmanager
    def _edit(self, strict: str = ""):
        before = self._snapshot()
        saved = [(n, n.kind, n.level, n._text, n.tail, n.parent, list(n.children), n.order) for n in self.walk()]
        flat = self._units()
        old_last = flat[-1] if flat else None
        old_end = old_last.tail if old_last is not None else self._newline()
        e = _Edit(flat, strict=strict)
        yield e
        self._keep_ending(e, old_last, old_end)
        for unit in e.seams:
            self._separate(e.flat, unit)
        self._renest(e.flat)
        if not self._reads_back(e.flat, e.touched):
            if e.strict:
                self._restore(saved)
                raise InputRefused(e.strict)
            text = self.root._text + self.root.tail + self._markdown_of(e.flat)
            self._load(text, e.flat)  # safety net: re-read everything
        self._reindex()
        self._diff(before)

    def _restore(self, saved: list[tuple]) -> None:
        """Put every node back as it was (same objects), after a refused edit."""
        for node, kind, level, text, tail, parent, children, order in saved:
            node.kind, node.level, node._text, node.tail = kind, level, text, tail
            node.parent, node.children, node.order = parent, children, order
        self._reindex()

    def _load(self, text: str, old_units: list[Node], fresh: bool = False) -> None:
        """Parse the whole text; reuse matching old units (ids) and re-nest. `fresh`: an import, every
        node new (ids handed out in ascending order: `_ascending_ids`)."""
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        lead, units = parse_units(text[len(bom):], ids=not fresh)
        self.root._text, self.root.tail = bom, lead
        keep = {id(n): o for o, n in match(old_units, units)} if old_units else {}
        flat = [adopt(keep[id(u)], u) if id(u) in keep else u for u in units]
        self._renest(flat)
        if fresh:
            self._ascending_ids()
        else:
            self._reindex()

    def _renest(self, flat: list[Node]) -> None:
        """Rebuild parent/children from the unit sequence; keep order keys where still valid."""
        for unit in flat:
            if unit.kind is Kind.HEADING:
                unit.children = []
        self.root.children = []
        stack = [self.root]
        for unit in flat:
            if unit.kind is Kind.HEADING:
                while len(stack) > 1 and stack[-1].level >= unit.level:
                    stack.pop()
            parent = stack[-1]
            if unit.parent is not parent:
                unit.order = None
            unit.parent = parent
            parent.children.append(unit)
            if unit.kind is Kind.HEADING:
                stack.append(unit)
        for node in [self.root, *flat]:
            _rekey(node.children)
        self._layout = None

    def _reads_back(self, flat: list[Node], touched: list[Node]) -> bool:
        """Does the Markdown around each touched unit parse back to the same units?"""
        where = {id(u): i for i, u in enumerate(flat)}
        spots = sorted({where[id(u)] for u in touched if id(u) in where})
        return all(self._window_reads_back(flat[lo:hi], first=lo == 0) for lo, hi in _windows(spots, len(flat)))

    def _window_reads_back(self, window: list[Node], first: bool) -> bool:
        """Do these consecutive units (`first`: the document's first ones, after the root's lead) parse back
        to themselves?"""
        lead = self.root.tail if first else ""
        got_lead, got = parse_units(lead + self._markdown_of(window), front_matter=first and not lead)
        return got_lead == lead and [_shape(u) for u in got] == [_shape(u) for u in window]

    def _replace_in_place(self, node: Node, unit: Node) -> bool:
        """The edit of one unit that keeps the tree's shape (the writer typing): `unit`, parsed alone and of
        `node`'s kind and level, goes into `node` (its id kept, and its sentences' where their text is), if
        the text around it reads back the same; the general path (`_edit`) re-nests and re-indexes every
        node, seconds on a 20 MB document. False: nothing changed (the caller takes the general path)."""
        before, after = self._unit_before(node), self._unit_after(node)
        window = [u for u in (before, unit, after) if u is not None]
        if not self._window_reads_back(window, first=before is None):
            return False
        old = [node, *node.children] if node.kind is Kind.PARAGRAPH else [node]
        was = {n.id: _state(n) for n in old}
        adopt(node, unit)
        if node.kind is Kind.PARAGRAPH:
            _rekey(node.children)
        new = [node, *node.children] if node.kind is Kind.PARAGRAPH else [node]
        now = {n.id: _state(n) for n in new}
        for n in old:
            if n.id not in now:
                del self._by_id[n.id]
        self._by_id.update((n.id, n) for n in new)
        self._layout = None
        self.last_change = _change(was, now)
        return True

    @staticmethod
    def _unit_before(node: Node) -> Node | None:
        """The unit just before `node` in document order (None: it is the first)."""
        parent = node.parent
        i = parent.children.index(node)
        if i == 0:
            return parent if parent.kind is Kind.HEADING else None
        prev = parent.children[i - 1]
        while prev.kind is Kind.HEADING and prev.children:
            prev = prev.children[-1]
        return prev

    @staticmethod
    def _unit_after(node: Node) -> Node | None:
        """The unit just after `node` in document order, its own section's first when it is a heading."""
        if node.kind is Kind.HEADING and node.children:
            return node.children[0]
        while node.parent is not None:
            siblings = node.parent.children
            i = siblings.index(node)
            if i + 1 < len(siblings):
                return siblings[i + 1]
            node = node.parent
        return None

    def _adopt_range(self, flat: list[Node], i: int, j: int, units: list[Node]) -> list[Node]:
        """Replace flat[i:j] by `units`, reusing the old nodes (ids) that match."""
        keep = {id(n): o for o, n in match(flat[i:j], units)}
        new = [adopt(keep[id(u)], u) if id(u) in keep else u for u in units]
        flat[i:j] = new
        return new

    def _keep_ending(self, e: _Edit, old_last: Node | None, ending: str) -> None:
        """If another unit is now last, it takes over how the file ended (say one newline)."""
        if not e.flat or e.flat[-1] is old_last:
            return
        new_last = e.flat[-1]
        if old_last is not None and old_last in e.flat:
            old_last.tail = ""  # it is followed by something now; _separate gives it a separator
            e.seams.append(old_last)
        new_last.tail = ending

    def _separate(self, flat: list[Node], unit: Node) -> None:
        """Make sure a unit that is followed by another ends with a blank line (a heading that
        already ends its line may stay as it is), so the two stay apart."""
        if unit is flat[-1] or unit not in flat:
            return
        have = _breaks(unit.tail)
        if have < 2 and not (unit.kind is Kind.HEADING and have == 1):  # "# H\nText" is fine as it is
            unit.tail = unit.tail.rstrip(" \t") + self._newline() * (2 - have)

    def _parse_fragment(self, text: str) -> list[Node]:
        lead, units = parse_units(text, front_matter=False)
        if lead:
            raise InputRefused("text to place must not start with a blank line")
        return units

    def _check_place(self, unit: Node, parent: Node, index: int, skip: Node | None = None) -> None:
        """Refuse placements the Markdown cannot express: a heading not deeper than its parent, or
        a paragraph/block after a subsection (it would belong to that subsection). A heading placed
        before paragraphs does take them into its section, as in the Markdown."""
        if unit.kind is Kind.HEADING:
            if parent.kind is Kind.HEADING and unit.level <= parent.level:
                raise InputRefused(f"a level-{unit.level} heading cannot go under a level-{parent.level} heading")
            return
        before = [c for c in parent.children if c is not skip][:max(index, 0)]
        if any(c.kind is Kind.HEADING for c in before):
            raise InputRefused(f"a {unit.kind.value} placed after a subsection would belong to that "
                               "subsection; place it there instead")

    def _child_position(self, flat: list[Node], parent: Node, index: int, skip: Node | None = None) -> int:
        """Position in `flat` for a new child `index` of `parent` (children other than `skip`)."""
        children = [c for c in parent.children if c is not skip]
        if 0 <= index < len(children):
            return self._index_of(flat, children[index])
        if parent.kind is Kind.ROOT:
            return len(flat)
        return self._index_of(flat, parent) + 1 + self._descendant_units(parent, skip)

    def _descendant_units(self, node: Node, skip: Node | None = None) -> int:
        if node.kind is not Kind.HEADING:
            return 0
        return sum(1 + self._descendant_units(c, skip) for c in node.children if c is not skip)

    @staticmethod
    def _index_of(flat: list[Node], unit: Node) -> int:
        for i, u in enumerate(flat):
            if u is unit:
                return i
        raise KeyError(unit.id)

    def _units(self) -> list[Node]:
        return [n for n in self.walk() if n.kind in _UNIT_KINDS]

    def _markdown_of(self, units: list[Node]) -> str:
        return "".join(u.text + u.tail for u in units)

    def _newline(self) -> str:
        """The line break new separators use: CRLF if the document's first nodes use it."""
        return "\r\n" if any("\r\n" in n.tail for n in islice(self.walk(), 100)) else "\n"

    def _ascending_ids(self) -> None:
        """Give every node a random id, in ascending order in document order: the store's indexes on node ids
        then take an import's rows at neighbouring places, not at random pages (a 20 MB import adds 740k
        index entries: several times faster). Still random ids: short prefixes tell them apart."""
        nodes = list(self.walk())
        for node, node_id in zip(nodes, new_ids(len(nodes))):
            node.id = node_id
        self._by_id = {n.id: n for n in nodes}
        self._layout = None

    def _reindex(self) -> None:
        self._by_id = {n.id: n for n in self.walk()}
        self._layout = None

    def _snapshot(self) -> dict[str, tuple]:
        return {n.id: _state(n) for n in self.walk()}

    def _diff(self, before: dict[str, tuple]) -> None:
        self.last_change = _change(before, self._snapshot())


# ---- helpers ---------------------------------------------------------------------------------------

def _rekey(children: list[Node]) -> None:
    keys = [c.order for c in children]
    if all(keys) and all(a < b for a, b in zip(keys, keys[1:])):
        return
    fresh = not any(keys)  # new siblings (an import: every list of them): the same keys for the same count
    for child, key in zip(children, _fresh_keys(len(keys)) if fresh else repair_keys(keys)):
        child.order = key


@lru_cache(maxsize=256)
def _fresh_keys(n: int) -> tuple[str, ...]:
    """What `repair_keys` gives `n` siblings without keys."""
    return tuple(repair_keys([None] * n))


def _change(before: dict[str, tuple], after: dict[str, tuple]) -> Change:
    """The Change between two snapshots ({id: _state}) of the same nodes."""
    return Change(created=[i for i in after if i not in before],
                  changed=[i for i in after if i in before and after[i] != before[i]],
                  deleted=[i for i in before if i not in after])


def _state(node: Node) -> tuple:
    """What `Change.changed` compares: the node's record, but for its id."""
    return node.kind, node.parent.id if node.parent else None, node.order, node.level, node._text, node.tail


def _shape(unit: Node) -> tuple:
    sentences = tuple((s._text, s.tail) for s in unit.children) if unit.kind is Kind.PARAGRAPH else ()
    return unit.kind, unit.level, unit._text, unit.tail, sentences


def _windows(spots: list[int], n: int) -> list[tuple[int, int]]:
    """Merge [i-1, i+2) around each spot into non-overlapping ranges within [0, n)."""
    out: list[tuple[int, int]] = []
    for i in spots:
        lo, hi = max(i - 1, 0), min(i + 2, n)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out

