"""The training stream: packed rows of examples (engine.examples), deterministic and resumable, and the
fixed validation set; `Loader` packs batches in a background thread.

Rows are packed without padding: each row is filled with whole examples built to fit the room left in
it; when less than `min_example` bytes remain, a raw plain window of exactly that size ends the row.
(`carry` in the state is kept for bytes that overflow a row; the packer never produces any today.)

The stream is a pure function of (seed, epoch, cursor, carry), which is its whole state: resuming a
run from a checkpoint continues with exactly the rows it would have seen.
"""

from __future__ import annotations

import queue
import random
import threading
from collections import Counter
from dataclasses import dataclass

from engine.corpus import SourceDoc
from engine.examples import DataConfig, Example, ExampleBuilder
from engine.protocol import HistoryPair
from engine.spans import SpanTable


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
                 history: list[HistoryPair] | None = None, state: StreamState | None = None,
                 tables: dict[str, SpanTable] | None = None):
        if not docs and not history:
            raise ValueError("no training documents")
        self.docs, self.cfg, self.seed, self.rank, self.world = docs, cfg, seed, rank, world
        self.history = list(history or [])
        self.builder = ExampleBuilder(cfg, tables)  # tables built ahead (by document id), else as visited
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
def validation_set(docs: list[SourceDoc], cfg: DataConfig, n: int | None = None, seed: int = 1234,
                   tables: dict[str, SpanTable] | None = None) -> list[Example]:
    """A fixed set of examples from validation documents: kinds in proportion to the mixture (each
    kind with a positive weight at least once), sources round-robin, one example per row of seq_len."""
    n = cfg.val_examples if n is None else n
    if not docs or n <= 0:
        return []
    builder = ExampleBuilder(cfg, tables)
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
        import torch  # here, not at the top: the stream itself is torch-free

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
        except BaseException as exc:  # noqa: BLE001 - surfaced in the training loop
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
