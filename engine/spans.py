"""The spans training cuts from one document, read with the editor's tree and the registry's span rules.

`span_table(text)` parses the text once (`engine.document.Document`, the editor's reader), asks each
example kind's action (`engine.actions.ACTIONS`) for the span of every node of the kind it cuts, and
keeps only what an example needs: per kind, flat int32 rows (start, end, level, heading level, node).
`node` is the node's index in tree order (what `scriba tree` lists and `scriba generate --node N`
takes): node ids are random per parse, an index names the same node in every parse of the text. The
Document is dropped: a 2 MB book keeps about 1 MB of offsets instead of a tree of 100 MB of objects.

Which nodes a kind cuts follows from the registry: the action whose `example_kinds` names the kind
(sentence, paragraph: rewrite; heading: summarise; section: expand), on nodes of the kind of the same
name if the action applies to it, else of the action's first node kind (section: headings); a span is
kept when it is not empty and is aligned to that node itself. `plain` (continue windows), `outline`
(the heading lines, from `outline_span`) and `history` (the writer's pairs) are not one node's span.
"""

from __future__ import annotations

from array import array
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

from engine.actions import ACTIONS, EXAMPLE_KINDS, WritingAction, document_title, outline_span
from engine.document import Document, InputRefused
from engine.tasks import LEVELS

WHOLE_DOCUMENT_KINDS = ("plain", "outline", "history")  # not cut from one node

# example kind -> the registry action whose span rule cuts it
ACTION_OF: dict[str, WritingAction] = {k: a for a in ACTIONS.values() for k in a.example_kinds}


def _node_kind(kind: str, action: WritingAction) -> str:
    return kind if kind in action.node_kinds else action.node_kinds[0]


# example kind -> (action, kind of node it is cut from), for the kinds that are one node's span
NODE_KINDS: dict[str, tuple[WritingAction, str]] = {
    k: (ACTION_OF[k], _node_kind(k, ACTION_OF[k])) for k in EXAMPLE_KINDS if k not in WHOLE_DOCUMENT_KINDS}

ROW = 5  # int32s per span: start, end, index in engine.tasks.LEVELS, heading level, node index
POOL_MIN_CHARS = 8_000_000  # below this, starting the worker processes costs more than it saves
PREMISE_CHARS = 300  # a longer first sentence is no premise; the title stands in


@dataclass(frozen=True)
class SpanRow:
    start: int
    end: int
    level: str
    heading_level: int
    node: int  # index in tree order (root excluded)


@dataclass
class SpanTable:
    """One document's spans per example kind, the heading lines of its outline and its premise."""

    rows: dict[str, array] = field(default_factory=dict)  # kind -> flat int32 rows of ROW values
    outline: str = ""  # outline_span(doc).prefix: every heading line and a newline after each
    outline_ends: array = field(default_factory=lambda: array("i"))  # end offset in `outline` of each line
    premise: str = ""

    def count(self, kind: str) -> int:
        return len(self.rows.get(kind, ())) // ROW

    def row(self, kind: str, i: int) -> SpanRow:
        r = self.rows[kind]
        s, e, lv, hl, node = r[i * ROW:(i + 1) * ROW]
        return SpanRow(s, e, LEVELS[lv], hl, node)

    def outline_lines(self) -> list[str]:
        starts = [0, *self.outline_ends[:-1]]
        return [self.outline[a:b - 1] for a, b in zip(starts, self.outline_ends)]

    def kinds(self) -> set[str]:
        """The example kinds this document can give (plain always)."""
        out = {"plain"} | {k for k in self.rows if self.count(k)}
        if len(self.outline_ends) >= 2:
            out.add("outline")
        return out


def span_table(text: str) -> SpanTable:
    """The span table of one Markdown text (empty but for plain windows when the tree refuses the text)."""
    try:
        doc = Document.from_markdown(text)
    except InputRefused:
        return SpanTable()
    if doc.to_markdown() != text:  # import is exact; offsets below are offsets into `text`
        raise AssertionError("the document tree did not read the text back exactly")
    table = SpanTable(rows={k: array("i") for k in NODE_KINDS})
    wanted = {}
    for kind, (action, node_kind) in NODE_KINDS.items():
        wanted.setdefault(node_kind, []).append((kind, action))
    nodes = doc.walk()
    next(nodes)  # the root
    for index, node in enumerate(nodes):
        for kind, action in wanted.get(str(node.kind), ()):
            span = action.span(doc, node.id)
            if span.start < span.end and span.node_id == node.id:
                table.rows[kind].extend((span.start, span.end, LEVELS.index(span.level), span.heading_level, index))
    _add_outline(table, doc)
    return table


def _add_outline(table: SpanTable, doc: Document) -> None:
    heads = outline_span(doc).prefix
    pos = 0
    for n in doc.walk():
        if str(n.kind) == "heading":
            pos += len(n.text.strip()) + 1
            table.outline_ends.append(pos)
    assert pos == len(heads), "outline_span lists every heading line"
    table.outline = heads
    table.premise = outline_premise(doc)


def outline_premise(doc: Document) -> str:
    """The one-line premise a training outline is conditioned on: the first sentence of the document's
    first paragraph (up to 300 characters), else its title (engine.actions.document_title, the editor's
    default premise)."""
    for n in doc.walk():
        if str(n.kind) == "paragraph":
            first = next((s.text for s in n.children if s.text.strip()), "")
            if first and len(first) <= PREMISE_CHARS:
                return first
            break
    return document_title(doc)


def span_tables(texts: list[str], workers: int = 1) -> list[SpanTable]:
    """span_table of each text, in `workers` processes (1, or less text than a pool pays for: in this
    one). Parsing is pure Python: a pool is what makes the whole corpus (250 MB) take seconds, not minutes."""
    if workers <= 1 or len(texts) < 2 or sum(map(len, texts)) < POOL_MIN_CHARS:
        return [span_table(t) for t in texts]
    chunk = max(1, len(texts) // (workers * 8))
    # spawn: the trainer may hold CUDA and threads, which a forked child must not inherit
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(span_table, texts, chunksize=chunk))
