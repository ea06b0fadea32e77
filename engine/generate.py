"""Sampling several candidates from the model: prefill the prompt by the parallel pass (through a
cache of states keyed by exact prompt prefixes), then decode the candidates as rows of the shared
SlotDecoder (engine/decode.py: one loop for the CPU and the GPU, in process and served): each byte
masked to keep the output valid UTF-8 and free of control bytes but the stop bytes, sampled by noise
keyed by the seed, so a seed names the same sample on every path. Cancellable, streaming.

On CUDA, `warm_up` compiles the prefill kernels and captures the decoder's graphs (one per batch size)
when the engine loads; elsewhere the decoder runs the same step eagerly."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Callable

import torch
from torch import Tensor

from engine.bytes import BOS
from engine.decode import BLOCK, DecodeJob, SlotDecoder
from engine.layers import CausalAttention
from engine.model import HNetLM, LMState
from engine.protocol import Candidate, GenerationRequest
from engine.state import tree_bytes, tree_cat, tree_map

log = logging.getLogger("scriba.engine")

SEGMENT = 1024  # prefill in fixed segments: states at segment ends are what the cache keeps (CPU)
SEGMENT_CUDA = 16384  # a GPU reads a long document in few large parallel passes (each pass is launch-bound)
GRAPH_BATCHES = (1, 2, 3, 4, 8, 16, 32, 64, 128, 256)  # the candidates of a request, and the server's batches


def segment_for(device) -> int:
    return SEGMENT_CUDA if torch.device(device).type == "cuda" else SEGMENT


class PrefixCache:
    """LRU map from an exact byte prefix to (logits after it, model state after it), within a byte budget."""

    def __init__(self, budget_bytes: int = 512 << 20):
        self.budget = budget_bytes
        self.entries: OrderedDict[bytes, tuple[Tensor, LMState, int]] = OrderedDict()
        self.used = 0
        self.hits = self.misses = 0

    @staticmethod
    def key(prefix: bytes) -> bytes:
        return hashlib.blake2b(prefix, digest_size=20).digest() + len(prefix).to_bytes(8, "little")

    def get(self, prefix: bytes):
        k = self.key(prefix)
        if k in self.entries:
            self.entries.move_to_end(k)
            return self.entries[k][:2]
        return None

    def clear(self) -> None:
        self.entries.clear()
        self.used = 0

    def put(self, prefix: bytes, logits: Tensor, state: LMState) -> None:
        k = self.key(prefix)
        if k in self.entries:
            return
        size = tree_bytes(state) + logits.numel() * 4
        self.entries[k] = (logits, state, size)
        self.used += size
        while self.used > self.budget and len(self.entries) > 1:
            _, (_, _, s) = self.entries.popitem(last=False)
            self.used -= s


class PrefillTask:
    """A prompt being prefilled piece by piece: pieces end at its segment cuts (where the prefix cache keeps
    states), or sooner under a pass's budget (engine.serve.batcher)."""

    def __init__(self, prompt: bytes, segment: int):
        self.prompt = prompt or bytes([BOS])
        self.cuts = list(range(segment, len(self.prompt), segment)) + [len(self.prompt)]
        self.done = 0  # prompt bytes computed
        self.logits: Tensor | None = None
        self.state: LMState | None = None
        self.looked_up = False  # whether the prefix cache was asked

    @property
    def finished(self) -> bool:
        return self.done == len(self.prompt)


class Sampler:
    def __init__(self, model: HNetLM, cache: PrefixCache | None = None, segment: int | None = None):
        self.model = model
        self.cache = cache if cache is not None else PrefixCache()
        self.device = model.embed.weight.device
        self.segment = segment or segment_for(self.device)
        self.decoder: SlotDecoder | None = None  # graphed once warm_up captured it (CUDA); eager otherwise
        self.lock = threading.Lock()  # one generation at a time per model
        # several prompts in one prefill pass (rows padded to the longest) need Mamba-2 layers only
        self.batched_prefill = not any(isinstance(m, CausalAttention) for m in model.modules())

    # ---------------------------------------------------------------- warm-up
    def warm_up(self, batches=GRAPH_BATCHES, fused: str = "auto", graphs: bool = True) -> dict:
        """On CUDA, before the first request: choose the fused step kernels, run the prefill kernels once
        on a prompt that crosses segment boundaries (Triton compiles and autotunes them now, or reads them
        from its cache), and capture the decoding graphs. Returns what it did and how long it took."""
        from engine.kernels.select import use_fused_step

        t0 = time.perf_counter()
        report = {"fused_step": use_fused_step(self.model, fused), "graph_batches": []}
        if self.device.type != "cuda":
            return report
        probe = bytes([BOS]) + b"Warm-up text, with words of several lengths. " * (2 * self.segment // 46 + 1)
        # Triton specialises integer arguments on divisibility by 16: lengths of both kinds, with and without a state
        for n in (2 * self.segment + 17, 1003, 1024):
            self.prefill(probe[:n], cache=False)
        torch.cuda.synchronize()
        report["prefill_s"] = time.perf_counter() - t0
        if graphs:
            from engine.cuda_graph import graphable

            ok, why = graphable(self.model)
            if ok:
                self.decoder = SlotDecoder(self.model, batches)
                report["graph_batches"] = list(self.decoder.graphs.sizes)
                self.generate(GenerationRequest(probe[:64], stop=[], n=1, max_bytes=2 * BLOCK, seed=0))
            else:
                log.warning("decoding: eager (no CUDA graphs): %s", why)
        report["seconds"] = time.perf_counter() - t0
        log.info("warm-up: %s", report)
        return report

    def decode_path(self, n: int) -> str:
        graphed = self.decoder is not None and self.decoder.capacity is not None
        return "graph" if graphed and n <= self.decoder.capacity else "eager"

    # ---------------------------------------------------------------- prefill
    @torch.inference_mode()
    def prefill(self, prompt: bytes, cache: bool = True) -> tuple[Tensor, LMState]:
        """Logits for the byte after `prompt` (1, 256) and the state after it. Segment boundaries are
        fixed multiples of self.segment, so a cached and an uncached run do the very same arithmetic."""
        task = PrefillTask(prompt, self.segment)
        while not task.finished:
            self.prefill_pieces([task], cache=cache)
        return task.logits, task.state

    @torch.inference_mode()
    def prefill_pieces(self, tasks: list["PrefillTask"], budget: int | None = None, cache: bool = True) -> int:
        """One pass: advance each task by its next piece (up to its next segment cut), the pieces of equal
        length and kind run as one batched forward; with a budget, at most that many prompt bytes in all
        (a piece is cut shorter to fit, but never below one byte). Returns the prompt bytes computed."""
        pieces: list[tuple[PrefillTask, int]] = []
        total = 0
        for task in tasks:
            if not task.looked_up:
                self._look_up(task, cache)
            if task.finished:
                continue
            if budget is not None and total >= budget and pieces:
                break
            end = next(c for c in task.cuts if c > task.done)
            if budget is not None:
                end = min(end, task.done + max(1, budget - total))
            pieces.append((task, end))
            total += end - task.done
        groups: dict[object, list[tuple[PrefillTask, int]]] = {}
        for task, end in pieces:  # one batched forward per kind (from nothing, from a state): rows padded
            kind = task.state is None if self.batched_prefill else id(task)
            groups.setdefault(kind, []).append((task, end))
        for group in groups.values():
            for (task, end), (logits, state) in zip(group, self._forward_pieces(group)):
                task.logits, task.state, task.done = logits, state, end
                if cache and end in task.cuts:
                    self.cache.put(task.prompt[:end], logits, state)
        return total

    def _look_up(self, task: "PrefillTask", cache: bool) -> None:
        """Start a task from the longest prefix of its prompt that the cache holds (at a segment cut)."""
        task.looked_up = True
        for cut in reversed(task.cuts if cache else []):
            hit = self.cache.get(task.prompt[:cut])
            if hit is not None:
                task.logits, task.state = hit
                task.done = cut
                self.cache.hits += 1
                return
        self.cache.misses += 1

    def _forward_pieces(self, group: list[tuple["PrefillTask", int]]) -> list[tuple[Tensor, LMState]]:
        """The logits (1, 256) and state after each task's piece: one forward over all (rows padded to the
        longest, each row's state and logits taken at its own end); a piece alone runs unpadded."""
        if len(group) == 1:
            task, end = group[0]
            ids = torch.tensor(list(task.prompt[task.done:end]), dtype=torch.long, device=self.device)[None]
            with self.model.fast_prefill():
                res = self.model(ids, state=task.state, return_state=True)
            # contiguous: the CPU step's compiled regions are built for contiguous states (engine/cpu_compile.py)
            return [(res.logits[:, -1], tree_map(torch.Tensor.contiguous, res.state))]
        pieces = [task.prompt[task.done:end] for task, end in group]
        width = max(len(p) for p in pieces)
        ids = torch.tensor([list(p.ljust(width, b"\0")) for p in pieces], dtype=torch.long, device=self.device)
        lengths = torch.tensor([len(p) for p in pieces], device=self.device)
        state = None
        if group[0][0].state is not None:
            state = group[0][0].state
            for task, _ in group[1:]:
                state = tree_cat(state, task.state)
        with self.model.fast_prefill():
            res = self.model(ids, state=state, return_state=True, lengths=lengths)
        logits = res.logits[torch.arange(len(group), device=self.device), lengths - 1]
        return [(logits[i:i + 1].clone(), tree_map(lambda t, i=i: t[i:i + 1].clone() if t.dim() else t, res.state))
                for i in range(len(group))]

    # ---------------------------------------------------------------- decoding
    def decoder_for(self, n: int) -> SlotDecoder:
        """The decoder a request of n candidates joins: the shared one (graphed once warm_up captured it),
        or, for more candidates than its graphs hold, eager steps of their own (logged: a slower path)."""
        if self.decoder is None:
            self.decoder = SlotDecoder(self.model)
        cap = self.decoder.capacity
        if cap is not None and n > cap:
            log.warning("decoding: %d candidates are more than the %d rows the CUDA graphs hold: eager steps", n, cap)
            return SlotDecoder(self.model)
        return self.decoder

    def generate(self, req: GenerationRequest, on_update: Callable[[list[Candidate]], None] | None = None,
                 cancel: threading.Event | None = None) -> list[Candidate]:
        """The candidates for `req`, decoded in the shared SlotDecoder (with any served rows already in it)."""
        return self.run_job(DecodeJob(req, on_update, cancel=cancel or threading.Event())).result

    @torch.inference_mode()
    def run_job(self, job: DecodeJob) -> DecodeJob:
        """Prefill the job's prompt and decode it to its end; the job keeps each stream's per-byte record."""
        with self.lock:
            logits, state = self.prefill(job.req.prompt)
            decoder = self.decoder_for(job.n)
            while not decoder.fits(job.n):  # served rows hold the slots: step them until enough leave
                decoder.run_block()
            decoder.admit(job, logits, state)
            decoder.run(job)
            return job
