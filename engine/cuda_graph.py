"""Decoding steps captured in CUDA graphs: `GraphedStep` (the model's step alone, for the bench) and
`SlotGraphs` (engine.decode's step + sampling over static row buffers, one graph per batch size: the
product path, in process and served).

Decoding is launch-bound: a step of a small model is hundreds of tiny kernels that each finish in
microseconds, so eager PyTorch spends its time launching them. Capturing `model.step(static=True)`
(no data-dependent branches) for a fixed batch, with the state in static buffers updated in place,
replays the whole step as one launch.
"""

from __future__ import annotations

import logging
import time

import torch
from torch import Tensor

from engine.model import HNetLM, LMState
from engine.state import tree_leaves, tree_map

log = logging.getLogger("scriba.engine")


def _copy_into(dst, src) -> None:
    for d, s in zip(tree_leaves(dst), tree_leaves(src), strict=True):
        d.copy_(s)


class GraphedStep:
    def __init__(self, model: HNetLM, batch: int, warmup: int = 3):
        if not model.embed.weight.is_cuda:
            raise RuntimeError("CUDA graphs need the model on a CUDA device")
        self.model, self.batch = model, batch
        self.ids = torch.zeros(batch, dtype=torch.long, device=model.embed.weight.device)
        self.state: LMState = model.allocate_state(batch)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(warmup):  # allocate workspaces and pick kernels outside the capture
                model.step(self.ids, self.state, static=True)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self.logits, new_state, _ = model.step(self.ids, self.state, static=True)
            _copy_into(self.state, new_state)

    def load_state(self, state: LMState) -> None:
        """Start from `state` (e.g. after prefill, repeated to the batch)."""
        _copy_into(self.state, state)

    def __call__(self, ids: Tensor) -> Tensor:
        self.ids.copy_(ids)
        self.graph.replay()
        return self.logits


def graphable(model: HNetLM) -> tuple[bool, str]:
    """Whether the step can be captured: on CUDA, and no attention layer (its KV cache grows each step)."""
    from engine.layers import CausalAttention

    if not model.embed.weight.is_cuda:
        return False, "the model is not on a CUDA device"
    if any(isinstance(m, CausalAttention) for m in model.modules()):
        return False, "the model has attention layers (their KV caches grow by a position per step)"
    return True, "ok"


class SlotGraphs:
    """engine.decode.decode_step captured once per batch size b over the first b rows of the decoder's
    static buffers (engine.decode.Rows), recording each step's bytes, log-probs and margins at the block
    position `pos`. `run(n, k)` replays the graph of the smallest size >= n k times; the host reads the
    block once. Captures run on a side stream in thread-local error mode, before any decode loop starts."""

    def __init__(self, model: HNetLM, step, tables, rows, sizes, block: int, warmup: int = 3, capture: bool = True):
        """step: engine.decode.decode_step. capture=False replays the same body eagerly (a CPU, where the tests
        check the slot logic)."""
        self.model, self.step, self.tables, self.rows, self.block = model, step, tables, rows, block
        self.sizes = tuple(sorted(set(sizes)))
        capacity = rows.logits.shape[0]
        if self.sizes[-1] > capacity:
            raise ValueError(f"batch size {self.sizes[-1]} over the buffers' {capacity} rows")
        dev = rows.logits.device
        self.pos = torch.zeros(1, dtype=torch.long, device=dev)
        self.out = torch.zeros(block, capacity, dtype=torch.long, device=dev)
        self.logp = torch.zeros(block, capacity, device=dev)
        self.margin = torch.zeros(block, capacity, device=dev)
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.captured = capture
        if not capture:
            return
        t0 = time.perf_counter()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for b in self.sizes:  # compile kernels, allocate workspaces outside the captures
                for _ in range(warmup):
                    self._body(b)
        torch.cuda.current_stream().wait_stream(side)
        for b in self.sizes:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, capture_error_mode="thread_local"), torch.no_grad():
                self._body(b)
            self.graphs[b] = g
        torch.cuda.synchronize()
        self.pos.zero_()
        log.info("decoding: CUDA graphs for batch sizes %s captured in %.2f s", self.sizes, time.perf_counter() - t0)

    def _body(self, b: int) -> None:
        view = tree_map(lambda t: t[:b] if t.dim() else t, self.rows)
        nxt, logp, margin, after = self.step(self.model, self.tables, view, static=True)
        for name in type(view).STEPPED:
            _copy_into(getattr(view, name), getattr(after, name))
        self.out[:, :b].index_copy_(0, self.pos, nxt[None])
        self.logp[:, :b].index_copy_(0, self.pos, logp[None])
        self.margin[:, :b].index_copy_(0, self.pos, margin[None])
        self.pos.copy_((self.pos + 1) % self.block)

    def size_for(self, n: int) -> int:
        return next(b for b in self.sizes if b >= n)

    def run(self, n: int, k: int) -> tuple[Tensor, Tensor, Tensor]:
        """k steps of the first n rows: bytes, log-probs, margins, each (k, n) on the device."""
        b = self.size_for(n)
        with torch.no_grad():
            for _ in range(k):
                if self.captured:
                    self.graphs[b].replay()
                else:
                    self._body(b)
        self.pos.zero_()
        return self.out[:k, :n], self.logp[:k, :n], self.margin[:k, :n]
