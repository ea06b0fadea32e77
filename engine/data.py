"""Training data: documents -> a mixture of plain left-to-right windows and structural infills -> packed rows.

Sources: the corpus (`corpus_dir()/*.jsonl.xz`, records {"id", "source", "title", "text"}), any folder of
.md/.txt files, and pairs from the writer's history (`HistoryPair`, produced by app.actions.history_pairs;
nothing here imports app). Documents are split into train/validation deterministically by a hash of
their id.

Every example is built by engine.tasks (`fit`, `build_example`, `trim_prefix`), so training and inference
prompts are byte-identical by construction:
  plain      BOS + trim_prefix(text[:q], budget)    (a window ending at q, heading path kept; = continue)
  sentence   rewrite:sentence   FIM on one sentence of a paragraph (sentences by sentencex)
  paragraph  rewrite:paragraph  FIM on one paragraph
  section    expand:section:N   FIM on a section body (heading line + blank line stay in the prefix)
  heading    summarise:heading:N  FIM on a heading line
  outline    outline:document   premise (first sentence of the document) -> the remaining heading lines
  history    the writer's accepted revisions: (document before, span, new text), old text + instruction
FIM examples use PSM or SPM order (spm_rate). Rows are packed without padding: each row is filled with
whole examples built to fit the room left in it; when less than `min_example` bytes remain, a raw plain
window of exactly that size ends the row. (`carry` in the state is kept for bytes that overflow a row;
the packer never produces any today.)

The stream is a pure function of (seed, epoch, cursor, carry), which is its whole state: resuming a
run from a checkpoint continues with exactly the rows it would have seen.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import lzma
import os
import queue
import random
import re
import threading
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from engine import tasks
from engine.bytes import BOS, EOS
from engine.protocol import HistoryPair
from engine.tasks import Action, Task

log = logging.getLogger("scriba.data")

KINDS = ("plain", "sentence", "paragraph", "section", "heading", "outline", "history")
FIM_KINDS = ("sentence", "paragraph", "section", "heading", "outline", "history")

DEFAULT_MIXTURE = {"plain": 0.5, "sentence": 0.14, "paragraph": 0.14, "section": 0.08, "heading": 0.09,
                   "outline": 0.05, "history": 0.0}


def corpus_dir() -> Path:
    """The shared corpus folder: $SCRIBA_SHARED/corpus, else ../shared/corpus beside the checkout."""
    shared = os.environ.get("SCRIBA_SHARED")
    base = Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared"
    return base / "corpus"


# ---------------------------------------------------------------------------------------- documents
@dataclass
class SourceDoc:
    id: str
    source: str
    title: str
    text: str


def read_history_jsonl(path: str | Path) -> list[HistoryPair]:
    """History pairs saved one JSON object a line (the fields of HistoryPair)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(HistoryPair(**json.loads(line)))
    return out


def read_jsonl(path: str | Path) -> Iterator[SourceDoc]:
    """Documents of a .jsonl or .jsonl.xz file (records need "text"; "id", "source", "title" optional)."""
    path = Path(path)
    opener = lzma.open if path.suffix == ".xz" else open
    default_source = path.name.split(".")[0]
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            rec = json.loads(line)
            if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
                raise ValueError(f"{path}:{n + 1}: a record needs a string 'text' field")
            yield SourceDoc(str(rec.get("id", f"{default_source}-{n}")), str(rec.get("source", default_source)),
                            str(rec.get("title", "")), rec["text"])


def read_folder(path: str | Path) -> Iterator[SourceDoc]:
    """Every .md / .txt file under a folder (sorted; id = relative path, source = the folder's name)."""
    path = Path(path)
    for f in sorted(p for p in path.rglob("*") if p.suffix in (".md", ".txt") and p.is_file()):
        text = f.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        yield SourceDoc(str(f.relative_to(path)), path.name, f.stem, text)


def iter_documents(paths: Iterable[str | Path] | None = None) -> Iterator[SourceDoc]:
    """Documents of corpus files, folders and single Markdown files (default: the shared corpus)."""
    if paths is None or not list(paths):
        paths = sorted(corpus_dir().glob("*.jsonl.xz"))
        if not paths:
            raise FileNotFoundError(f"no corpus at {corpus_dir()} (set SCRIBA_SHARED or pass data paths)")
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from read_folder(p)
        elif p.name.endswith((".jsonl", ".jsonl.xz")):
            yield from read_jsonl(p)
        elif p.suffix in (".md", ".txt"):
            yield SourceDoc(p.name, p.parent.name or "files", p.stem, p.read_text(encoding="utf-8"))
        else:
            raise ValueError(f"do not know how to read {p} (.jsonl.xz, .jsonl, .md, .txt or a folder)")


def is_validation(doc_id: str, val_fraction: float) -> bool:
    """Deterministic split by a hash of the document id (stable across runs, machines and Python versions)."""
    h = int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little")
    return (h % 1_000_000) < val_fraction * 1_000_000


def split_documents(docs: Iterable[SourceDoc], val_fraction: float) -> tuple[list[SourceDoc], list[SourceDoc]]:
    train, val = [], []
    for d in docs:
        (val if is_validation(d.id, val_fraction) else train).append(d)
    return train, val


# ---------------------------------------------------------------------------------------- structure
@dataclass
class Structure:
    """Aligned spans (str offsets) of one Markdown text, from a light line-based scan."""

    headings: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, level): the line
    paragraphs: list[tuple[int, int]] = field(default_factory=list)  # prose paragraphs (not lists/quotes/code)
    sections: list[tuple[int, int, int]] = field(default_factory=list)  # (body start, body end, level), non-empty


_FENCE = re.compile(r"^(```|~~~)")
_NOT_PROSE = re.compile(r"^(?:[-*+][ \t]|\d{1,9}[.)][ \t]|>|\||<|    |\t|(?:[-*_][ \t]*){3,}$)")
_ATX = re.compile(r"^(#{1,6})[ \t]+\S")


def scan(text: str) -> Structure:
    s = Structure()
    pos, n = 0, len(text)
    fenced = False
    para_start = None
    heads: list[tuple[int, int, int]] = []

    def close(end: int) -> None:
        nonlocal para_start
        if para_start is not None:
            a, b = tasks.align(text, para_start, end)
            if b > a:
                s.paragraphs.append((a, b))
            para_start = None

    while pos < n:
        nl = text.find("\n", pos)
        end = n if nl < 0 else nl
        line = text[pos:end]
        if _FENCE.match(line):
            close(pos)
            fenced = not fenced
        elif fenced:
            pass
        elif not line.strip():
            close(pos)
        else:
            m = _ATX.match(line)
            if m:
                close(pos)
                a, b = tasks.align(text, pos, end)
                heads.append((a, b, len(m.group(1))))
            elif para_start is None:
                if not _NOT_PROSE.match(line):
                    para_start = pos
                else:
                    para_start = None
                    # a list / quote / table block: skip to its blank line
                    nxt = text.find("\n\n", pos)
                    if nxt < 0:
                        break
                    pos = nxt + 1
                    continue
        pos = end + 1
    close(n)
    s.headings = heads
    for i, (a, b, lvl) in enumerate(heads):
        stop = n
        for a2, _, l2 in heads[i + 1:]:
            if l2 <= lvl:
                stop = a2
                break
        bs, be = tasks.align(text, b, stop)
        if be > bs:
            s.sections.append((bs, be, lvl))
    return s


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Aligned sentence spans inside text[start:end] (one paragraph)."""
    out, pos = [], start
    for sent in tasks.split_sentences(text[start:end]):
        a, b = tasks.align(text, pos, pos + len(sent))
        if b > a:
            out.append((a, b))
        pos += len(sent)
    return out


def utf8_len(s: str) -> int:
    return len(s.encode("utf-8"))


# ---------------------------------------------------------------------------------------- config
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

    @classmethod
    def from_dict(cls, d: dict) -> "DataConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown data config keys: {', '.join(sorted(unknown))}")
        cfg = cls(**d)
        bad = set(cfg.mixture) - set(KINDS)
        if bad:
            raise ValueError(f"unknown mixture kinds {sorted(bad)} (known: {', '.join(KINDS)})")
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------- examples
@dataclass
class Example:
    kind: str
    source: str
    data: bytes
    target_start: int  # first byte whose prediction is this example's own target (the middle, for FIM)


class ExampleBuilder:
    """Builds one example of a given kind from one document, within a byte budget. Keeps each document's
    Structure once scanned (all of them by default: a few tens of MB for the whole corpus; a book is visited
    hundreds of times an epoch, so re-scanning it would dominate)."""

    def __init__(self, cfg: DataConfig, cache_size: int | None = None):
        self.cfg = cfg
        self._cache: OrderedDict[str, Structure] = OrderedDict()
        self.cache_size = cache_size

    def structure(self, doc: SourceDoc) -> Structure:
        st = self._cache.get(doc.id)
        if st is None:
            st = scan(doc.text)
            self._cache[doc.id] = st
            if self.cache_size is not None and len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(doc.id)
        return st

    def available(self, doc: SourceDoc) -> set[str]:
        st = self.structure(doc)
        kinds = {"plain"}
        if st.paragraphs:
            kinds |= {"sentence", "paragraph"}
        if st.headings:
            kinds.add("heading")
        if st.sections:
            kinds.add("section")
        if len(st.headings) >= 2:
            kinds.add("outline")
        return kinds

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
            return Example("plain", doc.source, bytes([BOS]) + data[:end], 1)
        q = len(text)
        if len(text) > room // 2:
            q = rng.randrange(min(len(text), max(1, room // 2)), len(text) + 1)
        window = tasks.trim_prefix(text[:q], room) if room > 0 else ""
        return Example("plain", doc.source, tasks.build_prompt(Task(Action.CONTINUE, "paragraph", window, "")).data, 1)

    # -- infills
    def fim(self, rng: random.Random, task: Task, middle: str, budget: int, source: str, kind: str) -> Example | None:
        order = "spm" if rng.random() < self.cfg.spm_rate else "psm"
        bare = dataclasses.replace(task, prefix="", suffix="")
        fixed = len(tasks.build_example(bare, middle, order))
        room = budget - fixed
        if room < self.cfg.min_context:
            return None
        share = rng.uniform(0.5, 0.95)
        pre_have = utf8_len(task.prefix[-room:])
        suf_have = utf8_len(task.suffix[:room])
        pre_want = min(pre_have, int(room * share))
        suf_b = min(suf_have, room - pre_want)
        pre_b = min(pre_have, room - suf_b)
        fitted = tasks.fit(task, pre_b, suf_b)
        prompt = tasks.build_prompt(fitted, order).data
        data = prompt + middle.encode("utf-8") + bytes([EOS])
        assert len(data) <= budget, (len(data), budget)
        return Example(kind, source, data, len(prompt))

    def _max_middle(self, budget: int) -> int:
        return int((budget - self.cfg.min_context - 40) * self.cfg.max_middle_fraction)

    def _pick(self, rng: random.Random, spans: list, text: str, budget: int) -> tuple | None:
        """A random span whose text fits the middle budget (a few random tries, then the shortest fitting)."""
        limit = self._max_middle(budget)
        for _ in range(4):
            sp = spans[rng.randrange(len(spans))]
            if utf8_len(text[sp[0]:sp[1]]) <= limit:
                return sp
        fitting = [sp for sp in spans if sp[1] - sp[0] <= limit and utf8_len(text[sp[0]:sp[1]]) <= limit]
        return fitting[rng.randrange(len(fitting))] if fitting else None

    def build(self, rng: random.Random, kind: str, doc: SourceDoc, budget: int) -> Example | None:
        """An example of `kind` from doc within budget bytes, or None when the document has no fitting span."""
        if kind == "plain":
            return self.plain(rng, doc, budget)
        text, st = doc.text, self.structure(doc)
        if kind in ("sentence", "paragraph"):
            if not st.paragraphs:
                return None
            if kind == "paragraph":
                sp = self._pick(rng, st.paragraphs, text, budget)
                if sp is None:
                    return None
                task = Task(Action.REWRITE, "paragraph", text[:sp[0]], text[sp[1]:])
                return self.fim(rng, task, text[sp[0]:sp[1]], budget, doc.source, kind)
            for _ in range(3):
                para = st.paragraphs[rng.randrange(len(st.paragraphs))]
                sents = sentence_spans(text, *para)
                sp = self._pick(rng, sents, text, budget) if sents else None
                if sp is not None:
                    task = Task(Action.REWRITE, "sentence", text[:sp[0]], text[sp[1]:])
                    return self.fim(rng, task, text[sp[0]:sp[1]], budget, doc.source, kind)
            return None
        if kind == "heading":
            if not st.headings:
                return None
            a, b, lvl = st.headings[rng.randrange(len(st.headings))]
            task = Task(Action.SUMMARISE, "heading", text[:a], text[b:], heading_level=lvl)
            return self.fim(rng, task, text[a:b], budget, doc.source, kind)
        if kind == "section":
            sp = self._pick(rng, st.sections, text, budget) if st.sections else None
            if sp is None:
                return None
            a, b, lvl = sp
            task = Task(Action.EXPAND, "section", text[:a], text[b:], heading_level=lvl)
            return self.fim(rng, task, text[a:b], budget, doc.source, kind)
        if kind == "outline":
            return self.outline(rng, doc, budget)
        raise ValueError(f"unknown kind {kind!r}")

    def outline(self, rng: random.Random, doc: SourceDoc, budget: int) -> Example | None:
        text, st = doc.text, self.structure(doc)
        lines = [text[a:b] for a, b, _ in st.headings]
        if len(lines) < 2:
            return None
        premise = outline_premise(text, st)
        k = rng.randrange(0, len(lines))
        prefix_lines, middle_lines = lines[:k], lines[k:]
        while True:
            task = Task(Action.OUTLINE, "document", "".join(l + "\n" for l in prefix_lines), "", instruction=premise)
            ex = self.fim(rng, task, "\n".join(middle_lines), budget, doc.source, "outline")
            if ex is not None or len(middle_lines) <= 1:
                return ex
            middle_lines = middle_lines[: len(middle_lines) // 2]

    def history(self, rng: random.Random, pair: HistoryPair, budget: int) -> Example | None:
        if utf8_len(pair.after) > self._max_middle(budget):
            return None
        return self.fim(rng, pair.task(), pair.after, budget, "history", "history")


def outline_premise(text: str, st: Structure | None = None) -> str:
    """The one-line premise a training outline is conditioned on: the first sentence of the document's
    first paragraph (up to 300 characters), else its title."""
    st = st or scan(text)
    if st.paragraphs:
        a, b = st.paragraphs[0]
        sents = sentence_spans(text, a, b)
        if sents:
            s = text[sents[0][0]:sents[0][1]]
            if len(s) <= 300:
                return s
    if st.headings:
        a, b, _ = st.headings[0]
        return text[a:b].lstrip("#").strip()
    return text[:300].split("\n")[0]


# ---------------------------------------------------------------------------------------- the stream
@dataclass
class StreamState:
    epoch: int = 0
    cursor: int = 0  # position in this epoch's schedule (for this rank)
    carry: bytes = b""  # bytes of a plain window that overflowed into the next row
    examples: int = 0  # examples produced so far

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor, "carry": self.carry.hex(), "examples": self.examples}

    @classmethod
    def from_dict(cls, d: dict) -> "StreamState":
        return cls(int(d["epoch"]), int(d["cursor"]), bytes.fromhex(d.get("carry", "")), int(d.get("examples", 0)))


class ExampleStream:
    """An endless, deterministic, resumable stream of packed rows for one rank.

    Each epoch visits every training document about len(text)/seq_len times (at least once), in an order
    shuffled by (seed, epoch); rank r of w takes every w-th visit. Each visit draws a kind from the mixture
    (among the kinds the document supports) with its own RNG seeded by (seed, epoch, visit)."""

    def __init__(self, docs: list[SourceDoc], cfg: DataConfig, seed: int = 0, rank: int = 0, world: int = 1,
                 history: list[HistoryPair] | None = None, state: StreamState | None = None):
        if not docs and not history:
            raise ValueError("no training documents")
        self.docs, self.cfg, self.seed, self.rank, self.world = docs, cfg, seed, rank, world
        self.history = list(history or [])
        self.builder = ExampleBuilder(cfg)
        self.state = state or StreamState()
        weights = dict(cfg.mixture)
        weights["history"] = (cfg.history_weight if "history" not in cfg.mixture or not cfg.mixture["history"]
                              else cfg.mixture["history"]) if self.history else 0.0
        self.weights = {k: float(v) for k, v in weights.items() if v and float(v) > 0}
        if not self.weights:
            raise ValueError("the mixture has no positive weight")
        self.counts: Counter = Counter()
        self.filler_bytes = 0
        self._schedule_epoch = -1
        self._schedule: list[int] = []

    # -- schedule
    def schedule(self, epoch: int) -> list[int]:
        if epoch != self._schedule_epoch:
            visits = []
            for i, d in enumerate(self.docs):
                w = self.cfg.sources.get(d.source, 1.0)
                n = max(1, round(w * len(d.text) / self.cfg.seq_len)) if w > 0 else 0
                visits += [i] * n
            if not visits:  # history only
                visits = [-1] * max(1, len(self.history))
            random.Random(f"{self.seed}:{epoch}:schedule").shuffle(visits)
            self._schedule = visits[self.rank::self.world] or visits[:1]
            self._schedule_epoch = epoch
        return self._schedule

    def _next_visit(self) -> tuple[int, random.Random]:
        st = self.state
        sched = self.schedule(st.epoch)
        if st.cursor >= len(sched):
            st.epoch += 1
            st.cursor = 0
            sched = self.schedule(st.epoch)
        rng = random.Random(f"{self.seed}:{st.epoch}:{self.rank}:{st.cursor}")
        doc_index = sched[st.cursor]
        st.cursor += 1
        return doc_index, rng

    def _choose(self, rng: random.Random, allowed: set[str]) -> str:
        kinds = [k for k in self.weights if k in allowed]
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]

    def next_example(self, budget: int) -> Example:
        """One example of at most `budget` bytes (budget >= 2)."""
        doc_index, rng = self._next_visit()
        self.state.examples += 1
        doc = self.docs[doc_index] if doc_index >= 0 else None
        allowed = (self.builder.available(doc) if doc is not None else set()) | ({"history"} if self.history else set())
        while allowed:
            kind = self._choose(rng, allowed)
            if kind == "history":
                ex = self.builder.history(rng, self.history[rng.randrange(len(self.history))], budget)
            else:
                ex = self.builder.build(rng, kind, doc, budget)
            if ex is not None:
                self.counts[ex.kind] += 1
                return ex
            allowed.discard(kind)
        if doc is None:  # history only, nothing fits: a filler from a history document
            doc = SourceDoc("history", "history", "", self.history[0].before)
        ex = self.builder.plain(rng, doc, budget, exact=True)
        self.counts[ex.kind] += 1
        return ex

    def next_row(self) -> bytes:
        """seq_len bytes: whole examples (each starting with BOS) packed end to end."""
        L = self.cfg.seq_len
        row = bytearray(self.state.carry[:L])
        self.state.carry = self.state.carry[L:]
        while len(row) < L:
            room = L - len(row)
            if room >= self.cfg.min_example:
                row += self.next_example(room).data
            else:  # too little room for a whole example: a raw plain window of exactly the room left
                doc_index, rng = self._next_visit()
                self.state.examples += 1
                doc = self.docs[doc_index] if doc_index >= 0 else SourceDoc("h", "history", "", self.history[0].before)
                ex = self.builder.plain(rng, doc, room, exact=True)
                self.counts["filler"] += 1
                self.filler_bytes += len(ex.data)
                row += ex.data
        self.state.carry = bytes(row[L:]) + self.state.carry
        return bytes(row[:L])

    def state_dict(self) -> dict:
        return self.state.to_dict()

    def load_state_dict(self, d: dict) -> None:
        self.state = StreamState.from_dict(d)


# ---------------------------------------------------------------------------------------- validation
def validation_set(docs: list[SourceDoc], cfg: DataConfig, n: int | None = None, seed: int = 1234) -> list[Example]:
    """A fixed set of examples from validation documents: kinds in proportion to the mixture (each
    kind with a positive weight at least once), sources round-robin, one example per row of seq_len."""
    n = cfg.val_examples if n is None else n
    if not docs or n <= 0:
        return []
    builder = ExampleBuilder(cfg)
    rng = random.Random(seed)
    kinds = [k for k, w in cfg.mixture.items() if w > 0 and k != "history"]
    total = sum(cfg.mixture[k] for k in kinds)
    quota = {k: max(1, round(n * cfg.mixture[k] / total)) for k in kinds}
    by_source: dict[str, list[SourceDoc]] = {}
    for d in docs:
        by_source.setdefault(d.source, []).append(d)
    sources = sorted(by_source)
    out: list[Example] = []
    for kind in kinds:
        made, tries = 0, 0
        while made < quota[kind] and tries < quota[kind] * 4:
            src = sources[tries % len(sources)]
            tries += 1
            doc = by_source[src][rng.randrange(len(by_source[src]))]
            ex = builder.build(rng, kind, doc, cfg.seq_len)
            if ex is not None:
                out.append(ex)
                made += 1
    return out


# ---------------------------------------------------------------------------------------- loading
class Loader:
    """Background thread that packs rows into batches ahead of the training loop, so the GPU never waits
    for data. Yields (batch: LongTensor[B, seq_len], stream state after this batch)."""

    def __init__(self, stream: ExampleStream, batch_size: int, prefetch: int = 8, pin_memory: bool = False):
        self.stream, self.batch_size, self.pin = stream, batch_size, pin_memory
        self.q: queue.Queue = queue.Queue(maxsize=prefetch)
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="scriba-data", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import torch

        try:
            while not self.stop_event.is_set():
                rows = [self.stream.next_row() for _ in range(self.batch_size)]
                batch = torch.frombuffer(bytearray(b"".join(rows)), dtype=torch.uint8).view(len(rows), -1).long()
                if self.pin:
                    batch = batch.pin_memory()
                item = (batch, self.stream.state_dict())
                while not self.stop_event.is_set():
                    try:
                        self.q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # surfaced in the training loop
            self.error = exc
            self.q.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.q.get()
        if item is None:
            raise RuntimeError(f"data loader failed: {self.error!r}") from self.error
        return item

    def close(self) -> None:
        self.stop_event.set()
        try:
            while True:
                self.q.get_nowait()
        except queue.Empty:
            pass
        self.thread.join(timeout=5)


def load_documents(paths: list[str] | None, val_fraction: float, limit: int | None = None
                   ) -> tuple[list[SourceDoc], list[SourceDoc]]:
    docs = []
    for d in iter_documents(paths or None):
        docs.append(d)
        if limit and len(docs) >= limit:
            break
    return split_documents(docs, val_fraction)
