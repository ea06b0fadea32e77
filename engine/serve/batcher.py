"""Continuous batching: one decode loop thread owns the model; requests join and leave its batch at any step.

A request is prefilled through the engine's Sampler (its PrefixCache keeps the state at every segment end,
so the prompt is prefilled one SEGMENT per loop turn by asking for ever longer prefixes: the running
streams wait one segment, not a whole prompt). Its n rows then join the running batch (states concatenated
along dim 0); every turn samples one byte for every row, each request with its own seeded generator and
sampling parameters, exactly as `Sampler._generate` does for one request; rows that finish, are cancelled
or run past their deadline leave the batch (index_select). A request that runs alone gets the very bytes
the in-process engine gives for the same seed.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from engine.bytes import CONTROL_BYTES, Utf8State
from engine.generate import SEGMENT, Sampler, _valid_prefix
from engine.protocol import Candidate, GenerationRequest

log = logging.getLogger("scriba.serve")

UPDATE_EVERY = 8  # bytes between streamed updates (as the in-process engine's on_update)


def tree_cat(a, b):
    """Two states of the same model stacked along the batch dim (ints such as LMState.position: a's)."""
    if isinstance(a, Tensor):
        return torch.cat([a, b], 0) if a.dim() else a
    if dataclasses.is_dataclass(a):
        return type(a)(**{f.name: tree_cat(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)})
    if isinstance(a, (list, tuple)):
        return type(a)(tree_cat(x, y) for x, y in zip(a, b))
    return a


def _select(state, idx: Tensor):
    from engine.state import tree_map

    return tree_map(lambda t: t.index_select(0, idx) if t.dim() else t, state)


@dataclass
class Job:
    """One generation request in the loop: its rows' progress, its generator, and where updates go."""

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
        seed = req.seed if req.seed is not None else int(time.time_ns() % 2**31)
        self.gen = torch.Generator().manual_seed(seed)
        self.stop_bytes = [s[0] for s in req.stop if len(s) == 1 and s[0] in CONTROL_BYTES]
        self.stop_seqs = [s for s in req.stop if not (len(s) == 1 and s[0] in CONTROL_BYTES)]
        self.cands = [Candidate("") for _ in range(self.n)]
        self.out = [bytearray() for _ in range(self.n)]
        self.utf8 = [Utf8State() for _ in range(self.n)]
        self.active = list(range(self.n))  # candidate index of each of this job's rows in the batch
        self.written = 0  # bytes sampled per row so far (the in-process loop's i)
        prompt = req.prompt
        self.cuts = [prompt[:c] for c in range(SEGMENT, len(prompt), SEGMENT)] + [prompt]

    def snapshot(self) -> list[Candidate]:
        return [Candidate(**vars(c)) for c in self.cands]

    def update(self) -> None:
        if self.on_update is not None:
            self.on_update(self.snapshot())

    def finish(self, reason: str | None = None) -> None:
        """Leave the loop: rows still running end as "length" (or "cancelled" when cut)."""
        for c in self.active:
            if self.cands[c].finish == "running":
                self.cands[c].finish = "cancelled" if reason else "length"
        for c in range(self.n):
            self.cands[c].text = _valid_prefix(self.out[c]).decode("utf-8")
        self.active = []
        self.error = reason if reason not in (None, "cancelled") else None
        self.result = self.snapshot()
        self.update()
        self.done.set()
        if self.on_done is not None:
            self.on_done()


class _Masks:
    """Sampler._mask's rows, built once per UTF-8 state and stop set (a stream's allowed bytes depend on
    nothing else), so a step over hundreds of rows does not build hundreds of masks."""

    def __init__(self) -> None:
        self.rows: dict[tuple, Tensor] = {}

    def row(self, u: Utf8State, stops: tuple[int, ...]) -> Tensor:
        key = (tuple(u.allowed_range()), u.complete(), stops)
        m = self.rows.get(key)
        if m is None:
            m = self.rows[key] = Sampler._mask([u], list(stops), "cpu")[0]
        return m


@dataclass
class BatcherStats:
    active_streams: int = 0  # requests whose rows are in the batch or being prefilled
    queued: int = 0
    rows: int = 0
    steps: int = 0
    bytes_generated: int = 0


class Batcher:
    """The decode loop. `submit` a GenerationRequest from any thread; `Job.done` is set when it ends."""

    def __init__(self, sampler: Sampler, lock: threading.Lock | None = None, max_rows: int = 1024):
        self.sampler = sampler
        self.model = sampler.model
        self.lock = lock if lock is not None else sampler.lock  # held per turn: score/inspect run between
        self.max_rows = max_rows
        self.waiting: deque[Job] = deque()  # submitted, prefill not finished
        self.jobs: list[Job] = []  # in the batch, in row order
        self.state = None
        self.logits: Tensor | None = None
        self.masks = _Masks()
        self.stats = BatcherStats()
        self.wake = threading.Condition()
        self.stopping = False
        self.on_bytes: Callable[[int], None] | None = None  # metrics hook: bytes written this turn
        self.thread = threading.Thread(target=self._run, name="scriba-decode", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ any thread
    def submit(self, req: GenerationRequest, on_update=None, cancel: threading.Event | None = None,
               timeout: float | None = None, on_done=None) -> Job:
        job = Job(req, on_update, on_done, cancel or threading.Event(),
                  None if timeout is None else time.monotonic() + timeout)
        with self.wake:
            self.waiting.append(job)
            self.stats.queued = len(self.waiting)
            self.stats.active_streams += 1
            self.wake.notify()
        return job

    def generate(self, req: GenerationRequest, on_update=None, cancel=None, timeout: float | None = None):
        job = self.submit(req, on_update, cancel, timeout)
        job.done.wait()
        return job

    def close(self) -> None:
        with self.wake:
            self.stopping = True
            self.wake.notify()
        self.thread.join(timeout=10)

    # ------------------------------------------------------------------ the loop thread
    def _run(self) -> None:
        if self.model.embed.weight.device.type == "cpu":
            torch.set_flush_denormal(True)  # as load_engine does for its thread (subnormals: ~20x slower)
        while True:
            with self.wake:
                while not self.stopping and not self.waiting and not self.jobs:
                    self.wake.wait()
                if self.stopping:
                    break
            try:
                with self.lock, torch.inference_mode():
                    self._turn()
            except Exception as exc:  # noqa: BLE001 - a failed step must end its requests, not the server
                log.exception("decode step failed")
                reason = f"the engine failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                for job in list(self.jobs) + list(self.waiting):
                    self._leave(job, reason)
                self.jobs, self.state, self.logits = [], None, None
                with self.wake:
                    self.waiting.clear()
        for job in list(self.jobs) + list(self.waiting):
            self._leave(job, "the server is shutting down")

    def _leave(self, job: Job, reason: str | None) -> None:
        job.finish(reason)
        with self.wake:
            self.stats.active_streams -= 1

    def _turn(self) -> None:
        while self._prefill_one():  # newcomers whose prompts are cached join at once
            pass
        if self.jobs:
            self._decode()

    def _prefill_one(self) -> bool:
        """Advance the first waiting job's prefill by at most one computed prompt segment; a job whose
        prompt is done joins the batch. True when no segment was computed (the next may go this turn)."""
        with self.wake:
            job = self.waiting[0] if self.waiting else None
        if job is None:
            return False
        if job.cancel.is_set() or (job.deadline is not None and time.monotonic() > job.deadline):
            with self.wake:
                self.waiting.popleft()
                self.stats.queued = len(self.waiting)
            self._leave(job, "cancelled" if job.cancel.is_set() else "timeout")
            return True
        if sum(len(j.active) for j in self.jobs) + job.n > self.max_rows and self.jobs:
            return False  # the batch is full: wait for rows to leave
        computed = False
        while job.cuts:
            prefix = job.cuts[0]
            if computed and self.sampler.cache.get(prefix) is None:
                return False  # one computed segment per turn: the running streams wait no longer
            computed = computed or self.sampler.cache.get(prefix) is None
            logits, state = self.sampler.prefill(prefix)
            job.cuts.pop(0)
        with self.wake:
            self.waiting.popleft()
            self.stats.queued = len(self.waiting)
        from engine.state import tree_map

        n = job.n
        logits = logits.expand(n, -1)
        state = tree_map(lambda t: t.repeat_interleave(n, dim=0) if t.dim() else t, state)
        if job.req.max_bytes <= 0:
            self._leave(job, None)
            return not computed
        self.jobs.append(job)
        self.logits = logits if self.logits is None else torch.cat([self.logits, logits], 0)
        self.state = state if self.state is None else tree_cat(self.state, state)
        return not computed

    def _decode(self) -> None:
        """One byte for every row: Sampler._generate's loop body, per job, on the shared batch."""
        now = time.monotonic()
        logits = self.logits
        # rows of each job (contiguous, in job order)
        spans, start = [], 0
        for job in self.jobs:
            spans.append((start, start + len(job.active)))
            start += len(job.active)
        mask = torch.stack([self.masks.row(job.utf8[c], tuple(job.stop_bytes))
                            for job in self.jobs for c in job.active]).to(logits.device)
        logits = logits.masked_fill(~mask, float("-inf"))
        nxt_parts: list[Tensor | None] = [None] * len(self.jobs)
        logp_parts: list[Tensor | None] = [None] * len(self.jobs)
        # jobs with the same sampling parameters are sampled together (the same ops as Sampler._sample)
        groups: dict[tuple[float, float], list[int]] = {}
        for j, job in enumerate(self.jobs):
            groups.setdefault((float(job.req.temperature), float(job.req.top_p)), []).append(j)
        for (temperature, top_p), members in groups.items():
            rows = [r for j in members for r in range(*spans[j])]
            whole = len(rows) == logits.shape[0]
            g = logits if whole else logits.index_select(0, torch.tensor(rows, device=logits.device))
            logp_all = torch.log_softmax(g / max(temperature, 1e-6), -1)
            if temperature <= 0:
                nxt_g = g.argmax(-1)
                parts = []
                at = 0
                for j in members:
                    k = spans[j][1] - spans[j][0]
                    parts.append(nxt_g[at:at + k])
                    at += k
            else:
                probs = torch.softmax(g / temperature, dim=-1)
                if top_p < 1.0:
                    sorted_p, idx = probs.sort(dim=-1, descending=True)
                    drop = sorted_p.cumsum(-1) - sorted_p > top_p
                    sorted_p = sorted_p.masked_fill(drop, 0.0)
                    probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
                probs = probs.cpu()
                parts, at = [], 0
                for j in members:
                    k = spans[j][1] - spans[j][0]
                    parts.append(torch.multinomial(probs[at:at + k], 1, generator=self.jobs[j].gen).squeeze(-1))
                    at += k
                nxt_g = torch.cat(parts).to(logits.device)
                parts = list(torch.split(nxt_g, [spans[j][1] - spans[j][0] for j in members]))
            logp_g = logp_all.gather(1, nxt_g[:, None])[:, 0]
            at = 0
            for j, part in zip(members, parts):
                k = part.shape[0]
                nxt_parts[j] = part
                logp_parts[j] = logp_g[at:at + k]
                at += k
        nxt = torch.cat([p for p in nxt_parts if p is not None])
        logp = torch.cat([p for p in logp_parts if p is not None])
        nxt_list, logp_list = nxt.tolist(), logp.tolist()

        keep_rows: list[int] = []
        still: list[Job] = []
        written = 0
        for job, (a, b) in zip(self.jobs, spans):
            kept = self._advance(job, nxt_list[a:b], logp_list[a:b])
            written += b - a
            if job.first_byte is None:
                job.first_byte = now
            cut = "cancelled" if job.cancel.is_set() else (
                "timeout" if job.deadline is not None and now > job.deadline else None)
            if kept and not cut and job.written < job.req.max_bytes:
                keep_rows.extend(a + r for r in kept)
                job.active = [job.active[r] for r in kept]
                still.append(job)
            else:
                if not cut:
                    job.active = [job.active[r] for r in kept]  # these end as "length"
                self._leave(job, cut)
        self.stats.steps += 1
        self.stats.bytes_generated += written
        if self.on_bytes is not None:
            self.on_bytes(written)
        self.jobs = still
        if not still:
            self.state, self.logits = None, None
            return
        if len(keep_rows) < nxt.shape[0]:
            idx = torch.tensor(keep_rows, device=nxt.device)
            self.state = _select(self.state, idx)
            nxt = nxt.index_select(0, idx)
        self.logits, self.state, _ = self.model.step(nxt, self.state)

    @staticmethod
    def _advance(job: Job, nxt: list[int], logp: list[float]) -> list[int]:
        """Push one sampled byte per row of `job`; the rows (0-based within the job) still running."""
        keep = []
        for row, c in enumerate(job.active):
            b = nxt[row]
            cand = job.cands[c]
            cand.logprob += logp[row]
            if b in job.stop_bytes:
                cand.finish = "stop"
                continue
            job.utf8[c].push(b)
            job.out[c].append(b)
            out = job.out[c]
            hit = next((s for s in job.stop_seqs if job.utf8[c].complete() and out.endswith(s)), None)
            if hit is not None:
                del out[len(out) - len(hit):]
                cand.finish = "stop"
                continue
            if job.utf8[c].complete() and any(out.endswith(s) for s in job.req.stop_after):
                cand.finish = "stop"
                continue
            keep.append(row)
        for c in job.active:
            job.cands[c].text = _valid_prefix(job.out[c]).decode("utf-8")
            job.cands[c].nbytes = len(job.out[c])
        i = job.written
        job.written += 1
        if job.on_update is not None and (i % UPDATE_EVERY == 0 or len(keep) < len(job.active)):
            job.update()
        return keep
