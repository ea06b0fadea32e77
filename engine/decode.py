"""The decode loop every generation runs through, in process and served: `SlotDecoder` holds the rows of any
number of requests (`DecodeJob`s), each row a candidate with its own sampling parameters, and steps them
together a block of BLOCK bytes at a time; requests join between blocks and leave (finished, cancelled, past
their deadline) at the next one.

One step (`decode_step`): sample each row's next byte (engine/sampling.py: its UTF-8 mask, its stop bytes,
its temperature and top-p, noise keyed by its seed and byte index), advance its UTF-8 state, step the model.
On CUDA the step is replayed from CUDA graphs (engine/cuda_graph.py), one per batch size, over the first b
slots of static buffers (rows are kept packed in slots 0..n-1, the rest is padding); elsewhere the same
function runs eagerly on exactly the n rows. Either way the host reads the sampled bytes once per block and
applies the stop rules (`Stream.take`); a row that stopped mid-block has its extra bytes dropped."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from engine.bytes import CONTROL_BYTES
from engine.protocol import Candidate, GenerationRequest
from engine.sampling import Tables, counter_noise, row_key, sample_rows, stop_row
from engine.state import tree_cat, tree_leaves, tree_map

log = logging.getLogger("scriba.engine")

BLOCK = 8  # steps between two reads of the sampled bytes by the host


# ------------------------------------------------------------------------------------------------ host side
class Stream:
    """One candidate of a request: the bytes written, their log-probabilities, and the stop rules."""

    def __init__(self, job: "DecodeJob", index: int):
        self.job, self.index = job, index
        self.out = bytearray()
        self.finish = "running"
        self.logprob = 0.0
        self.logps: list[float] = []  # per sampled byte (stop byte included)
        self.margins: list[float] = []  # per sampled byte: how close the decision was (engine.sampling)
        self.pending = 0  # continuation bytes the last character still needs

    @property
    def running(self) -> bool:
        return self.finish == "running"

    def take(self, data: bytes, logps: list[float], margins: list[float]) -> bool:
        """Push one block's bytes in order until a stop rule or max_bytes ends the stream. True while running."""
        job = self.job
        for b, lp, mg in zip(data[:job.req.max_bytes - len(self.logps)], logps, margins):
            self.logprob += lp
            self.logps.append(lp)
            self.margins.append(mg)
            if b in job.stop_bytes:
                self.finish = "stop"
                return False
            self.out.append(b)
            # the device only writes valid UTF-8, so a lead byte says how many continuation bytes follow
            self.pending = (0 if b < 0x80 else self.pending - 1 if b < 0xC0 else 1 if b < 0xE0 else 2 if b < 0xF0
                            else 3)
            if job.watches and self.pending == 0 and self._stops_here():
                self.finish = "stop"
                return False
        if len(self.logps) >= job.req.max_bytes:
            self.finish = "length"
            return False
        return True

    def _stops_here(self) -> bool:
        out, job = self.out, self.job
        hit = next((s for s in job.stop_seqs if out.endswith(s)), None)
        if hit is not None:
            del out[len(out) - len(hit):]
            return True
        return any(out.endswith(s) for s in job.req.stop_after)

    def candidate(self) -> Candidate:
        return Candidate(_valid_prefix(self.out).decode("utf-8"), self.finish, len(self.out), self.logprob)


@dataclass
class DecodeJob:
    """One generation request in the loop: its candidates' streams, and where its updates and result go."""

    req: GenerationRequest
    on_update: Callable[[list[Candidate]], None] | None = None
    on_done: Callable[[], None] | None = None  # called once the result is set
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None  # time.monotonic() after which the job is cut ("timeout")
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Candidate] | None = None
    error: str | None = None  # "timeout" | a one-line failure
    submitted: float = field(default_factory=time.monotonic)
    first_byte: float | None = None

    def __post_init__(self) -> None:
        req = self.req
        self.n = max(1, req.n)
        self.seed = req.seed if req.seed is not None else int(time.time_ns() % 2**31)
        self.stop_bytes = frozenset(s[0] for s in req.stop if len(s) == 1 and s[0] in CONTROL_BYTES)
        self.stop_seqs = [s for s in req.stop if not (len(s) == 1 and s[0] in CONTROL_BYTES)]
        self.watches = bool(self.stop_seqs or req.stop_after)
        self.streams = [Stream(self, c) for c in range(self.n)]

    def candidates(self) -> list[Candidate]:
        return [s.candidate() for s in self.streams]

    def update(self) -> None:
        if self.on_update is not None:
            self.on_update(self.candidates())

    def cut(self, now: float) -> str | None:
        """Why the job must leave now: "cancelled", "timeout", or None."""
        if self.cancel.is_set():
            return "cancelled"
        if self.deadline is not None and now > self.deadline:
            return "timeout"
        return None

    def finish(self, reason: str | None = None) -> None:
        """End the job: streams still running end as "length" (or "cancelled" when it was cut)."""
        if self.done.is_set():
            return
        for s in self.streams:
            if s.running:
                s.finish = "cancelled" if reason else "length"
        self.error = reason if reason not in (None, "cancelled") else None
        self.result = self.candidates()
        self.update()
        self.done.set()
        if self.on_done is not None:
            self.on_done()


# ------------------------------------------------------------------------------------------------ device side
@dataclass
class Rows:
    """Per-row device tensors (first dim: the row), the model state included."""

    logits: Tensor  # (n, 256) float32: the distribution of the next byte
    ustate: Tensor  # (n,) long: UTF-8 automaton state
    count: Tensor  # (n,) long: bytes sampled so far (the noise's counter)
    key: Tensor  # (n,) long: noise key (engine.sampling.row_key)
    temperature: Tensor  # (n,) float32
    top_p: Tensor  # (n,) float32
    stop: Tensor  # (n, 256) bool: the row's stop bytes
    state: object  # the model's LMState for these rows

    STEPPED = ("logits", "ustate", "count", "state")  # what a step changes; the rest is fixed per row


def decode_step(model, tables: Tables, rows: Rows, static: bool) -> tuple[Tensor, Tensor, Tensor, Rows]:
    """Sample one byte per row and step the model on it: (bytes, log-probs, margins, the rows after)."""
    noise = counter_noise(rows.key, rows.count, tables.byte_offsets)
    nxt, logp, margin = sample_rows(rows.logits, tables.mask(rows.ustate, rows.stop), noise, rows.temperature,
                                    rows.top_p)
    logits, state, _ = model.step(nxt, rows.state, static=static)
    return nxt, logp, margin, dataclasses.replace(rows, logits=logits.float(), ustate=tables.advance(
        rows.ustate, nxt, rows.stop), count=rows.count + 1, state=state)


def new_rows(job: DecodeJob, logits: Tensor, state, device) -> Rows:
    """The rows of a job after its prefill: every candidate from the prompt's logits (1, 256) and state (batch 1)."""
    n, req = job.n, job.req
    return Rows(logits.float().expand(n, -1).contiguous(),
                torch.zeros(n, dtype=torch.long, device=device),
                torch.zeros(n, dtype=torch.long, device=device),
                torch.tensor([row_key(job.seed, c) for c in range(n)], dtype=torch.long, device=device),
                torch.full((n,), float(req.temperature), device=device),
                torch.full((n,), float(req.top_p), device=device),
                stop_row(job.stop_bytes).to(device).expand(n, -1).contiguous(),
                tree_map(lambda t: t.repeat_interleave(n, dim=0) if t.dim() else t, state))


@dataclass
class DecoderStats:
    steps: int = 0  # decode steps run (a block is k steps)
    blocks: int = 0
    bytes: int = 0  # bytes kept by the streams
    step_s: float = 0.0  # seconds per step, moving average over blocks (host sync included)


class SlotDecoder:
    """The rows of every running request, stepped together. `admit` a job's rows after its prefill, then
    `run_block` until it is done; jobs of any number join and leave between blocks. Not thread-safe: the
    caller holds the model's lock (Sampler.lock) around each call."""

    def __init__(self, model, graph_sizes=(), block: int = BLOCK, capture: bool = True):
        """graph_sizes: the batch sizes to capture (none: eager steps on exactly the running rows).
        capture=False runs the graphed path's body without capturing it (a CPU, where tests check its logic)."""
        self.model, self.block = model, block
        self.device = model.embed.weight.device
        self.tables = Tables.on(self.device)
        self.slots: list[Stream] = []  # the stream in each row, in row order
        self.stats = DecoderStats()
        self.graphs = None
        self.rows: Rows | None = None  # eager: exactly the running rows; graphed: the static buffers
        if graph_sizes:
            from engine.cuda_graph import SlotGraphs

            sizes = tuple(sorted(set(graph_sizes)))
            self.rows = self._buffers(sizes[-1])
            self.graphs = SlotGraphs(model, decode_step, self.tables, self.rows, sizes, block, capture=capture)
        log.info("decoding: %s", self.describe())

    def describe(self) -> str:
        if self.graphs is None:
            return f"eager steps on {self.device}, blocks of {self.block}"
        how = "CUDA graphs" if self.graphs.captured else "static buffers, uncaptured"
        return f"{how} for batch sizes {self.graphs.sizes}, blocks of {self.block}"

    @property
    def capacity(self) -> int | None:
        return None if self.graphs is None else self.graphs.sizes[-1]

    def free(self) -> int | None:
        """Rows that may still join (None: no limit)."""
        return None if self.graphs is None else self.capacity - len(self.slots)

    def fits(self, n: int) -> bool:
        free = self.free()
        return free is None or n <= free

    @property
    def idle(self) -> bool:
        return not self.slots

    def _buffers(self, capacity: int) -> Rows:
        d = self.device

        def longs():
            return torch.zeros(capacity, dtype=torch.long, device=d)

        return Rows(torch.zeros(capacity, 256, device=d), longs(), longs(), longs(), torch.ones(capacity, device=d),
                    torch.ones(capacity, device=d), torch.zeros(capacity, 256, dtype=torch.bool, device=d),
                    self.model.allocate_state(capacity))

    # ---------------------------------------------------------------- joining and leaving
    def admit(self, job: DecodeJob, logits: Tensor, state) -> None:
        """Add the job's rows (its prefill's logits (1, 256) and state); a job asking for no bytes ends here."""
        if job.req.max_bytes <= 0:
            job.finish()
            return
        if not self.fits(job.n):
            raise RuntimeError(f"{job.n} rows do not fit: {self.free()} free")
        rows = new_rows(job, logits, state, self.device)
        if self.graphs is None:
            self.rows = rows if self.rows is None else tree_cat(self.rows, rows)
        else:
            at = len(self.slots)
            for dst, src in zip(tree_leaves(self.rows), tree_leaves(rows), strict=True):
                dst[at:at + job.n].copy_(src)
        self.slots.extend(job.streams)

    def abandon(self) -> list[DecodeJob]:
        """Empty the decoder (after a failed step): the jobs that were in it, for the caller to end."""
        jobs = list({id(s.job): s.job for s in self.slots}.values())
        self._keep([])
        return jobs

    def _keep(self, keep: list[int]) -> None:
        """Only these rows (indices into the slots, in order) stay."""
        if len(keep) == len(self.slots):
            return
        self.slots = [self.slots[i] for i in keep]
        if not keep:
            if self.graphs is None:
                self.rows = None
            return
        idx = torch.tensor(keep, device=self.device)
        if self.graphs is None:
            self.rows = tree_map(lambda t: t.index_select(0, idx) if t.dim() else t, self.rows)
        elif keep != list(range(len(keep))):  # pack the survivors into slots 0..m-1
            for t in tree_leaves(self.rows):
                t[:len(keep)] = t.index_select(0, idx)

    def _drop_cut_jobs(self) -> None:
        now = time.monotonic()
        cut: dict[int, tuple[DecodeJob, str]] = {}
        for s in self.slots:
            if id(s.job) not in cut:
                reason = s.job.cut(now)
                if reason is not None:
                    cut[id(s.job)] = (s.job, reason)
        if cut:
            self._keep([i for i, s in enumerate(self.slots) if id(s.job) not in cut])
            for job, reason in cut.values():
                job.finish(reason)

    # ---------------------------------------------------------------- stepping
    def run_block(self) -> None:
        """Up to BLOCK steps for every row; streams take their bytes; finished jobs leave."""
        self._drop_cut_jobs()
        n = len(self.slots)
        if not n:
            return
        k = min(self.block, max(s.job.req.max_bytes - len(s.logps) for s in self.slots))
        t0 = time.perf_counter()
        if self.graphs is None:
            outs, logps, margins = [], [], []
            rows = self.rows
            for _ in range(k):
                nxt, logp, margin, rows = decode_step(self.model, self.tables, rows, static=False)
                outs.append(nxt)
                logps.append(logp)
                margins.append(margin)
            self.rows = rows
            out, logp, margin = torch.stack(outs), torch.stack(logps), torch.stack(margins)
        else:
            out, logp, margin = self.graphs.run(n, k)
        data = out.to(torch.uint8).T.cpu().numpy()  # the block's one host sync
        logp_rows, margin_rows = logp.T.tolist(), margin.T.tolist()
        seconds = time.perf_counter() - t0
        st = self.stats
        st.step_s = seconds / k if not st.blocks else 0.8 * st.step_s + 0.2 * seconds / k
        st.steps += k
        st.blocks += 1

        keep, touched, now = [], {}, time.monotonic()
        for i, s in enumerate(self.slots):
            before = len(s.out)
            if s.take(data[i].tobytes(), logp_rows[i], margin_rows[i]):
                keep.append(i)
            st.bytes += len(s.out) - before
            touched[id(s.job)] = s.job
        self._keep(keep)
        running = {id(s.job) for s in self.slots}
        for key, job in touched.items():
            if job.first_byte is None:
                job.first_byte = now
            if key in running:
                job.update()
            elif all(not s.running for s in job.streams):
                job.finish()

    def run(self, job: DecodeJob) -> list[Candidate]:
        """Decode `job` (admitted) to its end, stepping every other row in the decoder with it."""
        while not job.done.is_set():
            self.run_block()
        return job.result


def _valid_prefix(data: bytearray) -> bytes:
    """Drop an incomplete UTF-8 sequence at the end (a candidate cut mid-character by max_bytes)."""
    data = bytes(data)
    for cut in range(len(data), max(len(data) - 4, -1), -1):
        try:
            data[:cut].decode("utf-8")
            return data[:cut]
        except UnicodeDecodeError:
            continue
    return b""
