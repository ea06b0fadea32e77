"""Decoding steps captured in CUDA graphs: `GraphedStep` (the model's step alone, for the bench) and
`GraphedSampler` / `DecodeGraphs` (step + sampling, one graph per batch size: the product path).

Decoding is launch-bound: a step of a small model is hundreds of tiny kernels that each finish in
microseconds, so eager PyTorch spends its time launching them. Capturing `model.step(static=True)`
(no data-dependent branches) for a fixed batch, with the state in static buffers updated in place,
replays the whole step as one launch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.model import HNetLM, LMState
from engine.sampling import sample_rows, utf8_tables
from engine.state import tree_leaves


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


class GraphedSampler:
    """For a fixed batch: sample the next byte from the current logits (UTF-8 mask table indexed by each
    stream's UTF-8 state, pre-drawn noise), record it, advance the UTF-8 state, and step the model on it
    — all in one CUDA graph. `run(k)` replays it k times and reads the k bytes per stream back at once."""

    def __init__(self, model: HNetLM, batch: int, block: int, warmup: int = 3, capture: bool = True):
        """capture=False replays the same body eagerly (a CPU, where the tests check the logic)."""
        self.model, self.batch, self.block = model, batch, block
        dev = model.embed.weight.device
        self._sample = sample_rows
        nxt, allowed, _ = utf8_tables()
        self.allowed, self.transitions = allowed.to(dev), nxt.to(dev)
        self.logits = torch.zeros(batch, 256, device=dev)
        self.ustate = torch.zeros(batch, dtype=torch.long, device=dev)
        self.noise = torch.ones(block, batch, 256, device=dev)
        self.temperature = torch.ones((), device=dev)
        self.top_p = torch.ones((), device=dev)
        self.pos = torch.zeros(1, dtype=torch.long, device=dev)
        self.out = torch.zeros(block, batch, dtype=torch.long, device=dev)
        self.logp = torch.zeros(block, batch, device=dev)
        self.state: LMState = model.allocate_state(batch)
        self.graph = None
        if not capture:
            return
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(warmup):  # compile kernels, allocate workspaces outside the capture
                self._body()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self._body()

    def _body(self) -> None:
        nxt, logp = self._sample(self.logits, self.allowed[self.ustate], self.noise.index_select(0, self.pos)[0],
                                 self.temperature, self.top_p)
        self.out.index_copy_(0, self.pos, nxt[None])
        self.logp.index_copy_(0, self.pos, logp[None])
        self.ustate.copy_(self.transitions[self.ustate, nxt])
        self.pos.copy_((self.pos + 1) % self.block)
        logits, new_state, _ = self.model.step(nxt, self.state, static=True)
        self.logits.copy_(logits)
        _copy_into(self.state, new_state)

    def start(self, logits: Tensor, state: LMState, allowed: Tensor, transitions: Tensor, temperature: float,
              top_p: float) -> None:
        """Begin a request: every row from `logits` (1, 256) and `state` (batch 1, broadcast to the rows)."""
        self.logits.copy_(logits.float().expand_as(self.logits))
        for d, s in zip(tree_leaves(self.state), tree_leaves(state), strict=True):
            d.copy_(s.expand_as(d) if s.dim() else s)
        self.allowed.copy_(allowed)
        self.transitions.copy_(transitions)
        self.ustate.zero_()
        self.pos.zero_()
        self.temperature.fill_(float(temperature))
        self.top_p.fill_(float(top_p))

    def run(self, k: int, gen: torch.Generator) -> tuple[list[list[int]], list[list[float]]]:
        self.noise.exponential_(generator=gen)
        for _ in range(k):
            if self.graph is None:
                with torch.no_grad():
                    self._body()
            else:
                self.graph.replay()
        self.pos.zero_()
        return self.out[:k].tolist(), self.logp[:k].tolist()


class DecodeGraphs:
    """One GraphedSampler per batch size; a request of n candidates runs on the smallest size >= n."""

    def __init__(self, model: HNetLM, sizes, block: int, capture: bool = True):
        import logging
        import time

        t0 = time.perf_counter()
        self.sizes = tuple(sorted(set(sizes)))
        self.graphs = {b: GraphedSampler(model, b, block, capture=capture) for b in self.sizes}
        logging.getLogger("scriba.engine").info(
            "decoding: %s for batch sizes %s, ready in %.2f s", "CUDA graphs" if capture else "blocked eager steps",
            self.sizes, time.perf_counter() - t0)

    def fits(self, n: int) -> bool:
        return n <= self.sizes[-1]

    def get(self, n: int) -> GraphedSampler:
        return self.graphs[next(b for b in self.sizes if b >= n)]
