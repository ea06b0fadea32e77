"""Training examples: the data section of a run config (`DataConfig`) and the examples it asks for.

Every example is the editor's prompt for a span plus the span and EOS: the span is cut from the
document's span table (engine.spans: the editor's tree and the registry's span rules), its task is
`engine.actions.span_task` of it and its prompt `engine.tasks.build_prompt(fit(task, ...))`, exactly
what `make_task` builds for that node and action with the same byte budgets. The kinds
(engine.actions.EXAMPLE_KINDS):
  plain      BOS + trim_prefix(text[:q], budget)    (a window ending at q, heading path kept; = continue)
  sentence   rewrite:sentence   FIM on a sentence node
  paragraph  rewrite:paragraph  FIM on a paragraph node
  section    expand:section:N   FIM on the body of a heading node (heading line + blank line stay in the prefix)
  heading    summarise:heading:N  FIM on a heading node's line
  outline    outline:document   premise (first sentence of the document) -> the remaining heading lines
  history    the writer's accepted revisions: (document before, span, new text), old text + instruction
FIM examples use PSM or SPM order (spm_rate). A share (instruction_rate) of sentence, paragraph and section
examples carry an instruction made of forms true of their middle (engine.instructions: words it contains,
its length, its opening words, list or prose), without the old text, exactly as `make_task` sends such an
instruction; their action is "instruct". Heading lines longer than max_heading_bytes are not used. A share
(short_prefix_rate) of FIM examples keep at most SHORT_PREFIX_BYTES of prefix, so the suffix is worth reading.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import asdict, dataclass, field

from engine import instructions, tasks
from engine.actions import EXAMPLE_KINDS, Span, span_task
from engine.bytes import BOS, EOS
from engine.corpus import SourceDoc
from engine.protocol import HistoryPair
from engine.spans import ACTION_OF, NODE_KINDS, ROW, SpanRow, SpanTable, span_table
from engine.tasks import Action, Task

KINDS = EXAMPLE_KINDS
SHORT_PREFIX_BYTES = 1024  # the longest prefix a short_prefix_rate example keeps
DEFAULT_MIXTURE = {"plain": 0.5, "sentence": 0.14, "paragraph": 0.14, "section": 0.08, "heading": 0.09,
                   "outline": 0.05, "history": 0.0}
assert set(DEFAULT_MIXTURE) == set(KINDS), "the default mixture names every example kind of the registry"


@dataclass
class DataConfig:
    paths: list[str] = field(default_factory=list)  # corpus files / folders; [] = the shared corpus
    seq_len: int = 4096  # bytes per packed row
    mixture: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIXTURE))
    spm_rate: float = 0.5  # share of FIM examples in SPM order (the rest PSM)
    history_weight: float = 0.1  # mixture weight of "history" when history pairs are given
    val_fraction: float = 0.01  # of documents, by id hash
    max_middle_fraction: float = 0.5  # a span longer than this share of the room is not used as a middle
    min_context: int = 64  # bytes of context at least on the prefix side of a FIM example
    min_example: int = 256  # below this much room left in a row, a plain window overflows into the next
    val_examples: int = 256  # size of the fixed validation set
    sources: dict[str, float] = field(default_factory=dict)  # optional per-source weight multipliers
    augment: float = 0.0  # share of training documents rewritten whole into other formats (engine.augment)
    instruction_rate: float = 0.0  # share of sentence/paragraph/section examples given an instruction
    max_heading_bytes: int = 120  # a longer heading line is no heading a summarise should learn to write
    short_prefix_rate: float = 0.0  # share of FIM examples whose prefix is cut to min_context..SHORT_PREFIX_BYTES

    @classmethod
    def from_dict(cls, d: dict) -> "DataConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown data config keys: {', '.join(sorted(unknown))}")
        cfg = cls(**d)
        bad = set(cfg.mixture) - set(KINDS)
        if bad:
            raise ValueError(f"unknown mixture kinds {sorted(bad)} (known: {', '.join(KINDS)})")
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Example:
    kind: str
    source: str
    data: bytes
    target_start: int  # first byte whose prediction is this example's own target (the middle, for FIM)
    action: str = ""  # the registry action (engine.actions.ACTIONS) the middle was cut for
    node: int | None = None  # the node it was cut for: its index in tree order (as `scriba tree` lists it)
    order: str = "psm"  # FIM order of the prompt
    budgets: tuple[int, int] = (0, 0)  # (prefix, suffix) bytes the task was fitted to (engine.tasks.fit)


def row_task(kind: str, row: SpanRow, text: str) -> Task:
    """The untrimmed task of a span-table row: what `make_task` builds for that node and action before
    `fit` (a heading is summarised, as in make_task)."""
    span = Span(row.level, row.start, row.end, text, row.heading_level)
    return span_task(span, Action.SUMMARISE if row.level == "heading" else ACTION_OF[kind].action)


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


class ExampleBuilder:
    """Builds one example of a given kind from one document, within a byte budget. Keeps each document's
    span table once built (a book is visited hundreds of times an epoch; parsing it again would dominate);
    `tables` may hand in tables built ahead (engine.spans.span_tables, in parallel)."""

    def __init__(self, cfg: DataConfig, tables: dict[str, SpanTable] | None = None):
        self.cfg = cfg
        self.tables: dict[str, SpanTable] = dict(tables or {})

    def table(self, doc: SourceDoc) -> SpanTable:
        t = self.tables.get(doc.id)
        if t is None:
            t = self.tables[doc.id] = span_table(doc.text)
        return t

    def available(self, doc: SourceDoc) -> set[str]:
        return self.table(doc).kinds()

    # -- plain
    def plain(self, rng: random.Random, doc: SourceDoc, budget: int, exact: bool = False) -> Example:
        """BOS + a window of the document ending at a random point, heading path kept (= a continue prompt).
        exact=True: a raw window of exactly `budget` bytes where the document allows (a row filler)."""
        text = doc.text
        room = budget - 1
        if exact:  # a window of `room` characters encodes to >= room bytes (unless the text ends first)
            start = rng.randrange(0, max(1, len(text) - room + 1))
            data = text[start:start + room].encode("utf-8")
            end = min(room, len(data))
            while 0 < end < len(data) and (data[end] & 0xC0) == 0x80:
                end -= 1  # never cut a character in two
            return Example("plain", doc.source, bytes([BOS]) + data[:end], 1, ACTION_OF["plain"].name)
        q = len(text)
        if len(text) > room // 2:
            q = rng.randrange(min(len(text), max(1, room // 2)), len(text) + 1)
        window = tasks.trim_prefix(text[:q], room) if room > 0 else ""
        data = tasks.build_prompt(Task(Action.CONTINUE, "paragraph", window, "")).data
        return Example("plain", doc.source, data, 1, ACTION_OF["plain"].name)

    # -- infills
    def fim(self, rng: random.Random, task: Task, middle: str, budget: int, source: str, kind: str,
            node: int | None = None, action: str | None = None) -> Example | None:
        """The example of `task` with `middle`: the prefix and suffix fitted to the room the budget leaves."""
        order = "spm" if rng.random() < self.cfg.spm_rate else "psm"
        bare = dataclasses.replace(task, prefix="", suffix="")
        room = budget - len(tasks.build_example(bare, middle, order))
        if order == "spm" and task.suffix.strip():
            room -= tasks.SUFFIX_HEAD_BYTES + 1  # the suffix head (tasks.suffix_head) comes on top of the suffix
        if room < self.cfg.min_context:
            return None
        share = rng.uniform(0.5, 0.95)
        pre_have = utf8_len(task.prefix[-room:])
        suf_have = utf8_len(task.suffix[:room])
        pre_want = min(pre_have, int(room * share))
        short = bool(self.cfg.short_prefix_rate) and bool(task.suffix.strip()) \
            and rng.random() < self.cfg.short_prefix_rate
        if short:
            # with a long prefix the suffix adds little a small model cannot guess, so it learns to ignore it;
            # a short prefix makes the suffix the better evidence, and the model learns to read it
            pre_want = min(pre_want, rng.randint(self.cfg.min_context, SHORT_PREFIX_BYTES))
        suf_b = min(suf_have, room - pre_want)
        pre_b = min(pre_have, room - suf_b, pre_want if short else room)
        prompt = tasks.build_prompt(tasks.fit(task, pre_b, suf_b), order).data
        data = prompt + middle.encode("utf-8") + bytes([EOS])
        assert len(data) <= budget, (len(data), budget)
        return Example(kind, source, data, len(prompt), action or ACTION_OF[kind].name, node, order, (pre_b, suf_b))

    def _max_middle(self, budget: int) -> int:
        return int((budget - self.cfg.min_context - 40) * self.cfg.max_middle_fraction)

    def _pick(self, rng: random.Random, table: SpanTable, kind: str, text: str, budget: int):
        """A random span of `kind` whose text fits the middle budget (a few random tries, then a random
        one of those that fit), or None."""
        limit, n = self._max_middle(budget), table.count(kind)
        for _ in range(4):
            row = table.row(kind, rng.randrange(n))
            if utf8_len(text[row.start:row.end]) <= limit:
                return row
        fitting = [i for i in range(n) if self._fits(table, kind, i, text, limit)]
        return table.row(kind, fitting[rng.randrange(len(fitting))]) if fitting else None

    @staticmethod
    def _fits(table: SpanTable, kind: str, i: int, text: str, limit: int) -> bool:
        s, e = table.rows[kind][i * ROW], table.rows[kind][i * ROW + 1]
        return e - s <= limit and utf8_len(text[s:e]) <= limit

    def build(self, rng: random.Random, kind: str, doc: SourceDoc, budget: int) -> Example | None:
        """An example of `kind` from doc within budget bytes, or None when the document has no fitting span."""
        if kind == "plain":
            return self.plain(rng, doc, budget)
        if kind == "outline":
            return self.outline(rng, doc, budget)
        if kind not in NODE_KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        table, text = self.table(doc), doc.text
        if not table.count(kind):
            return None
        # headings are short and a summarise prompt needs one whatever its length: no middle limit
        row = (table.row(kind, rng.randrange(table.count(kind))) if kind == "heading"
               else self._pick(rng, table, kind, text, budget))
        if row is None:
            return None
        middle = text[row.start:row.end]
        if kind == "heading" and utf8_len(middle.split("\n")[0]) > self.cfg.max_heading_bytes:
            return None  # the summarise stop rule writes one line of sensible length: train it that way
        task, action = row_task(kind, row, text), None
        if self.cfg.instruction_rate and kind in instructions.LEVEL_FORMS and rng.random() < self.cfg.instruction_rate:
            forms = instructions.derive(rng, middle, row.level)
            if forms:
                task, action = dataclasses.replace(task, instruction=instructions.canonical(forms)), "instruct"
        return self.fim(rng, task, middle, budget, doc.source, kind, row.node, action)

    def outline(self, rng: random.Random, doc: SourceDoc, budget: int) -> Example | None:
        """The premise and the first k heading lines -> the rest of them (halved until they fit)."""
        table = self.table(doc)
        lines = table.outline_lines()
        if len(lines) < 2:
            return None
        k = rng.randrange(0, len(lines))
        prefix_lines, middle_lines = lines[:k], lines[k:]
        while True:
            heads = "".join(line + "\n" for line in prefix_lines)
            span = Span("document", len(doc.text), len(doc.text), new_prefix=heads, new_suffix="")
            task = span_task(span, Action.OUTLINE, table.premise)
            ex = self.fim(rng, task, "\n".join(middle_lines), budget, doc.source, "outline")
            if ex is not None or len(middle_lines) <= 1:
                return ex
            middle_lines = middle_lines[: len(middle_lines) // 2]

    def history(self, rng: random.Random, pair: HistoryPair, budget: int) -> Example | None:
        if utf8_len(pair.after) > self._max_middle(budget):
            return None
        return self.fim(rng, pair.task(), pair.after, budget, "history", "history", action=pair.action)
