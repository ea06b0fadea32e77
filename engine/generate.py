"""Sampling several candidates from the model: prefill the prompt by the parallel pass (through a
cache of states keyed by exact prompt prefixes), then `step` all candidates together, one byte at a
time, masking every byte that would make the output invalid UTF-8 and every control byte but the
stop byte. Seeded, cancellable, streaming.

Two decoding paths, the same rules. Eager (the CPU, or a model that cannot be graphed): one step per
byte from Python, sampling on the host. Graphed (CUDA): the step and the sampling of the next byte are
one CUDA graph per batch size (engine/cuda_graph.py), captured when the engine loads; the UTF-8 masks
are a table indexed by each stream's UTF-8 state on the GPU, the randomness is pre-drawn noise, and the
host reads the bytes back once per block of BLOCK steps (stop rules are applied there, so a stream that
stops mid-block has its extra bytes dropped)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from typing import Callable

import torch
from torch import Tensor

from engine.bytes import BOS, CONTROL_BYTES, Utf8State, allowed_mask
from engine.model import HNetLM, LMState
from engine.protocol import Candidate, GenerationRequest
from engine.sampling import mask_table
from engine.state import tree_bytes, tree_map

log = logging.getLogger("scriba.engine")

SEGMENT = 1024  # prefill in fixed segments: states at segment ends are what the cache keeps (CPU)
SEGMENT_CUDA = 16384  # a GPU reads a long document in few large parallel passes (each pass is launch-bound)
BLOCK = 8  # graphed decoding: steps between two reads of the sampled bytes by the host
GRAPH_BATCHES = (1, 2, 3, 4, 8, 16, 32, 64)  # the candidates of a request, and the server's batch sizes


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


class Sampler:
    def __init__(self, model: HNetLM, cache: PrefixCache | None = None, segment: int | None = None):
        self.model = model
        self.cache = cache if cache is not None else PrefixCache()
        self.device = model.embed.weight.device
        self.segment = segment or segment_for(self.device)
        self.graphs = None  # engine.cuda_graph.DecodeGraphs once warm_up captured them (CUDA)
        self.lock = threading.Lock()  # one generation at a time per model

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
            from engine.cuda_graph import DecodeGraphs, graphable

            ok, why = graphable(self.model)
            if ok:
                self.graphs = DecodeGraphs(self.model, batches, BLOCK)
                report["graph_batches"] = list(self.graphs.sizes)
                self.generate(GenerationRequest(probe[:64], stop=[], n=1, max_bytes=2 * BLOCK, seed=0))
            else:
                log.warning("decoding: eager (no CUDA graphs): %s", why)
        report["seconds"] = time.perf_counter() - t0
        log.info("warm-up: %s", report)
        return report

    def decode_path(self, n: int) -> str:
        return "graph" if self.graphs is not None and self.graphs.fits(n) else "eager"

    # ---------------------------------------------------------------- prefill
    @torch.inference_mode()
    def prefill(self, prompt: bytes, cache: bool = True) -> tuple[Tensor, LMState]:
        """Logits for the byte after `prompt` (1, 256) and the state after it. Segment boundaries are
        fixed multiples of self.segment, so a cached and an uncached run do the very same arithmetic."""
        if not prompt:
            prompt = bytes([BOS])
        seg = self.segment
        cuts = list(range(seg, len(prompt), seg)) + [len(prompt)]
        start, state, logits = 0, None, None
        for cut in reversed(cuts if cache else []):  # longest cached prefix first
            hit = self.cache.get(prompt[:cut])
            if hit is not None:
                logits, state = hit
                start = cut
                self.cache.hits += 1
                break
        else:
            self.cache.misses += 1
        for cut in cuts:
            if cut <= start:
                continue
            ids = torch.tensor(list(prompt[start:cut]), dtype=torch.long, device=self.device)[None]
            with self.model.fast_prefill():
                out = self.model(ids, state=state, return_state=True)
            # contiguous: the decoding step's compiled regions are built for contiguous states (engine/cpu_compile.py)
            logits, state = out.logits[:, -1], tree_map(torch.Tensor.contiguous, out.state)
            if cache:
                self.cache.put(prompt[:cut], logits, state)
            start = cut
        return logits, state

    # ---------------------------------------------------------------- sampling
    @staticmethod
    def _mask(streams: list[Utf8State], allow_stop: list[int], device) -> Tensor:
        """(n, 256) bool: True where a byte may come next for that stream."""
        rows = bytearray().join(allowed_mask(u, tuple(allow_stop)) for u in streams)
        return torch.frombuffer(rows, dtype=torch.bool).view(len(streams), 256).to(device)

    @staticmethod
    def _sample(logits: Tensor, temperature: float, top_p: float, gen: torch.Generator) -> Tensor:
        if temperature <= 0:
            return logits.argmax(-1)
        probs = torch.softmax(logits / temperature, dim=-1)
        if top_p < 1.0:
            sorted_p, idx = probs.sort(dim=-1, descending=True)
            drop = sorted_p.cumsum(-1) - sorted_p > top_p  # keep the smallest set reaching top_p
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, idx, sorted_p)
        return torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(-1).to(logits.device)

    @torch.inference_mode()
    def generate(self, req: GenerationRequest, on_update: Callable[[list[Candidate]], None] | None = None,
                 cancel: threading.Event | None = None, update_every: int = 8) -> list[Candidate]:
        with self.lock:
            return self._generate(req, on_update, cancel, update_every)

    def _generate(self, req, on_update, cancel, update_every) -> list[Candidate]:
        if self.decode_path(max(1, req.n)) == "graph":
            return self._generate_graphed(req, on_update, cancel)
        return self._generate_eager(req, on_update, cancel, update_every)

    def _generate_graphed(self, req, on_update, cancel) -> list[Candidate]:
        n = max(1, req.n)
        seed = req.seed if req.seed is not None else int(time.time_ns() % 2**31)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        stop_bytes = [s[0] for s in req.stop if len(s) == 1 and s[0] in CONTROL_BYTES]
        stop_seqs = [s for s in req.stop if not (len(s) == 1 and s[0] in CONTROL_BYTES)]
        logits, state = self.prefill(req.prompt)
        graph = self.graphs.get(n)
        allowed, transitions = mask_table(stop_bytes)
        graph.start(logits, state, allowed, transitions, req.temperature, req.top_p)

        cands = [Candidate("") for _ in range(n)]
        out = [bytearray() for _ in range(n)]
        utf8 = [Utf8State() for _ in range(n)]
        active = list(range(n))
        done = 0
        while active and done < req.max_bytes:
            if cancel is not None and cancel.is_set():
                for c in active:
                    cands[c].finish = "cancelled"
                break
            k = min(BLOCK, req.max_bytes - done)
            block, logps = graph.run(k, gen)  # (k, rows) lists: one host sync per block
            for j in range(k):
                still = []
                for c in active:
                    b = block[j][c]
                    cands[c].logprob += logps[j][c]
                    if b in stop_bytes:
                        cands[c].finish = "stop"
                        continue
                    utf8[c].push(b)
                    out[c].append(b)
                    if utf8[c].complete():
                        hit = next((s for s in stop_seqs if out[c].endswith(s)), None)
                        if hit is not None:
                            del out[c][len(out[c]) - len(hit):]
                            cands[c].finish = "stop"
                            continue
                        if any(out[c].endswith(s) for s in req.stop_after):
                            cands[c].finish = "stop"
                            continue
                    still.append(c)
                active = still
                if not active:
                    break
            done += k
            for c in range(n):
                cands[c].text = _valid_prefix(out[c]).decode("utf-8")
                cands[c].nbytes = len(out[c])
            if on_update is not None and active:
                on_update([Candidate(**vars(c)) for c in cands])
        for c in active:
            if cands[c].finish == "running":
                cands[c].finish = "length"
        for c in range(n):
            cands[c].text = _valid_prefix(out[c]).decode("utf-8")
            cands[c].nbytes = len(out[c])
        if on_update is not None:
            on_update([Candidate(**vars(c)) for c in cands])
        return cands

    def _generate_eager(self, req, on_update, cancel, update_every) -> list[Candidate]:
        n = max(1, req.n)
        gen = torch.Generator().manual_seed(req.seed if req.seed is not None else int(time.time_ns() % 2**31))
        stop_bytes = [s[0] for s in req.stop if len(s) == 1 and s[0] in CONTROL_BYTES]
        stop_seqs = [s for s in req.stop if not (len(s) == 1 and s[0] in CONTROL_BYTES)]
        logits, state = self.prefill(req.prompt)
        logits = logits.expand(n, -1)
        state = tree_map(lambda t: t.repeat_interleave(n, dim=0) if t.dim() else t, state)

        cands = [Candidate("") for _ in range(n)]
        out = [bytearray() for _ in range(n)]
        utf8 = [Utf8State() for _ in range(n)]
        active = list(range(n))  # candidate index of each row still in the batch
        for i in range(req.max_bytes):
            if cancel is not None and cancel.is_set():
                for c in active:
                    cands[c].finish = "cancelled"
                break
            mask = self._mask([utf8[c] for c in active], stop_bytes, logits.device)
            logits = logits.masked_fill(~mask, float("-inf"))
            nxt = self._sample(logits, req.temperature, req.top_p, gen)
            logp = torch.log_softmax(logits / max(req.temperature, 1e-6), -1).gather(1, nxt[:, None])[:, 0]
            keep_rows = []
            for row, c in enumerate(active):
                b = int(nxt[row])
                cands[c].logprob += float(logp[row])
                if b in stop_bytes:
                    cands[c].finish = "stop"
                    continue
                utf8[c].push(b)
                out[c].append(b)
                hit = next((s for s in stop_seqs if utf8[c].complete() and out[c].endswith(s)), None)
                if hit is not None:
                    del out[c][len(out[c]) - len(hit):]
                    cands[c].finish = "stop"
                    continue
                if utf8[c].complete() and any(out[c].endswith(s) for s in req.stop_after):
                    cands[c].finish = "stop"
                    continue
                keep_rows.append(row)
            for c in active:
                cands[c].text = _valid_prefix(out[c]).decode("utf-8")
                cands[c].nbytes = len(out[c])
            if on_update is not None and (i % update_every == 0 or len(keep_rows) < len(active)):
                on_update([Candidate(**vars(c)) for c in cands])
            if not keep_rows:
                active = []
                break
            if len(keep_rows) < len(active):  # drop finished streams from the batch
                idx = torch.tensor(keep_rows, device=logits.device)
                state = tree_map(lambda t, idx=idx: t.index_select(0, idx) if t.dim() else t, state)
                nxt = nxt.index_select(0, idx)
                active = [active[r] for r in keep_rows]
            logits, state, _ = self.model.step(nxt, state)
        for c in active:
            if cands[c].finish == "running":
                cands[c].finish = "length"
        for c in range(n):
            cands[c].text = _valid_prefix(out[c]).decode("utf-8")
        if on_update is not None:
            on_update([Candidate(**vars(c)) for c in cands])
        return cands


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
