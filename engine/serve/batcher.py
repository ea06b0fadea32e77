"""Continuous batching: one loop thread feeds the engine's SlotDecoder (engine/decode.py, the decoder the
in-process engine uses too) with requests from any number of clients.

A request waits while its prompt is prefilled, then its rows join the decoder between two blocks; rows leave
when they finish, or at the next block when their client cancels or they run past their deadline. Prefill is
time-bounded while streams run: a turn of the loop runs at most one prefill pass of at most `prefill_budget`
prompt bytes (newcomers' pieces batched together, engine.generate.Sampler.prefill_pieces), then one block of
decoding, so a long newcomer costs the running streams one pass per block, never its whole prompt. With no
stream running, waiting prompts are prefilled whole. A request alone gets the very computation the in-process
engine does for it (on a CPU the same bytes; on a GPU the same up to batch-size rounding, see the GPU tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import torch

from engine.decode import DecodeJob
from engine.generate import PrefillTask, Sampler
from engine.protocol import GenerationRequest

log = logging.getLogger("scriba.serve")

CUDA_PREFILL_BUDGET = 4096  # prompt bytes per pass while streams run on a GPU (a pass is launch-bound below it)


@dataclass
class BatcherStats:
    active_streams: int = 0  # requests waiting for prefill or decoding
    queued: int = 0  # of those, still waiting
    rows: int = 0  # rows in the decoder
    steps: int = 0  # decode steps run
    bytes_generated: int = 0
    prefill_passes: int = 0
    prefill_bytes: int = 0
    # while streams ran: the most prompt bytes prefilled between two blocks, and that gap in decode steps
    # (the pass's seconds over the decoder's seconds per step)
    max_gap_prefill_bytes: int = 0
    max_gap_steps: float = 0.0


class Batcher:
    """The decode loop. `submit` a GenerationRequest from any thread; `DecodeJob.done` is set when it ends."""

    def __init__(self, sampler: Sampler, lock: threading.Lock | None = None, max_rows: int = 1024,
                 prefill_budget: int | None = None):
        self.sampler = sampler
        self.lock = lock if lock is not None else sampler.lock  # held per turn: other requests run between
        self.decoder = sampler.decoder_for(1)
        cap = self.decoder.capacity
        self.max_rows = max_rows if cap is None else min(max_rows, cap)
        self.prefill_budget = prefill_budget or (CUDA_PREFILL_BUDGET if sampler.device.type == "cuda"
                                                 else sampler.segment)
        self.waiting: deque[tuple[DecodeJob, PrefillTask]] = deque()  # submitted, prefill not finished
        self.ready: deque[tuple[DecodeJob, PrefillTask]] = deque()  # prefilled, waiting for free rows
        self.stats = BatcherStats()
        self.wake = threading.Condition()
        self.stopping = False
        self.on_bytes: Callable[[int], None] | None = None  # metrics hook: bytes written per block
        self._gap_bytes, self._gap_s = 0, 0.0
        log.info("serving decoder: %s; prefill while streams run: %d bytes per pass", self.decoder.describe(),
                 self.prefill_budget)
        self.thread = threading.Thread(target=self._run, name="scriba-decode", daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ any thread
    def submit(self, req: GenerationRequest, on_update=None, cancel: threading.Event | None = None,
               timeout: float | None = None, on_done=None) -> DecodeJob:
        def done() -> None:
            with self.wake:
                self.stats.active_streams -= 1
            if on_done is not None:
                on_done()

        job = DecodeJob(req, on_update, done, cancel or threading.Event(),
                        None if timeout is None else time.monotonic() + timeout)
        with self.wake:
            self.stats.active_streams += 1
            if job.n > self.max_rows:
                job.finish(f"{job.n} candidates are more than this server's {self.max_rows} rows")
                return job
            self.waiting.append((job, PrefillTask(req.prompt, self.sampler.segment)))
            self.stats.queued = len(self.waiting) + len(self.ready)
            self.wake.notify()
        return job

    def generate(self, req: GenerationRequest, on_update=None, cancel=None, timeout: float | None = None):
        job = self.submit(req, on_update, cancel, timeout)
        job.done.wait()
        return job

    def counters(self) -> dict:
        """The loop's counters for the metrics endpoint (and the benchmark's report)."""
        st, dec = self.stats, self.decoder.stats
        return {"path": self.decoder.describe(), "steps": st.steps, "rows": st.rows, "step_us": dec.step_s * 1e6,
                "prefill_passes": st.prefill_passes, "prefill_bytes": st.prefill_bytes,
                "prefill_budget_bytes": self.prefill_budget, "max_gap_prefill_bytes": st.max_gap_prefill_bytes,
                "max_gap_steps": st.max_gap_steps}

    def close(self) -> None:
        """Stop the loop and join its thread (requests still running end with a message)."""
        with self.wake:
            self.stopping = True
            self.wake.notify()
        self.thread.join(timeout=60)
        if self.thread.is_alive():
            log.error("the decode loop did not stop within 60 s")

    # ------------------------------------------------------------------ the loop thread
    def _run(self) -> None:
        if self.sampler.device.type == "cpu":
            torch.set_flush_denormal(True)  # as load_engine does for its thread (subnormals: ~20x slower)
        while True:
            with self.wake:
                while not self.stopping and not self.waiting and not self.ready and self.decoder.idle:
                    self.wake.wait(0.5)  # the in-process engine may have left rows of ours to finish
                if self.stopping:
                    break
            try:
                with self.lock, torch.inference_mode():
                    self._turn()
            except Exception as exc:  # noqa: BLE001 - a failed step must end its requests, not the server
                log.exception("decode step failed")
                first = str(exc).splitlines()[0] if str(exc) else ""
                self._abandon(f"the engine failed: {type(exc).__name__}: {first}")
        with self.lock:
            self._abandon("the server is shutting down")

    def _abandon(self, reason: str) -> None:
        with self.wake:
            waiting = [job for job, _ in list(self.waiting) + list(self.ready)]
            self.waiting.clear()
            self.ready.clear()
        for job in waiting + self.decoder.abandon():
            job.finish(reason)

    def _turn(self) -> None:
        running = not self.decoder.idle
        self._prefill(bounded=running)
        self._admit()
        if not self.decoder.idle:
            before = self.decoder.stats.bytes
            self.decoder.run_block()
            st = self.stats
            if self._gap_bytes:
                st.max_gap_prefill_bytes = max(st.max_gap_prefill_bytes, self._gap_bytes)
                st.max_gap_steps = max(st.max_gap_steps, self._gap_s / max(self.decoder.stats.step_s, 1e-9))
            self._gap_bytes, self._gap_s = 0, 0.0
            st.steps, st.rows = self.decoder.stats.steps, len(self.decoder.slots)
            written = self.decoder.stats.bytes - before
            st.bytes_generated += written
            if self.on_bytes is not None:
                self.on_bytes(written)

    def _prefill(self, bounded: bool) -> None:
        """One pass over the waiting prompts (at most prefill_budget bytes while streams run; else all of them)."""
        now = time.monotonic()
        with self.wake:
            live = []
            for job, task in self.waiting:
                reason = job.cut(now)
                if reason is None:
                    live.append((job, task))
                else:
                    job.finish(reason)
            self.waiting = deque(live)
            batch = list(self.waiting)
        if not batch:
            return
        t0 = time.perf_counter()
        done = self.sampler.prefill_pieces([task for _, task in batch], self.prefill_budget if bounded else None)
        seconds = time.perf_counter() - t0
        st = self.stats
        st.prefill_passes += 1
        st.prefill_bytes += done
        if bounded:
            self._gap_bytes += done
            self._gap_s += seconds
        with self.wake:
            for job, task in batch:
                if task.finished:
                    self.waiting.remove((job, task))
                    self.ready.append((job, task))

    def _admit(self) -> None:
        while True:
            with self.wake:
                if not self.ready:
                    break
                job, task = self.ready[0]
                if job.cut(time.monotonic()) is None and not self.decoder.fits(job.n):
                    break  # the batch is full: wait for rows to leave
                self.ready.popleft()
                self.stats.queued = len(self.waiting) + len(self.ready)
            reason = job.cut(time.monotonic())
            if reason is not None:
                job.finish(reason)
            else:
                self.decoder.admit(job, task.logits, task.state)
