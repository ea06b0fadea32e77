"""One decoding step captured in a CUDA graph.

Decoding is launch-bound: a step of a small model is hundreds of tiny kernels that each finish in
microseconds, so eager PyTorch spends its time launching them. Capturing `model.step(static=True)`
(no data-dependent branches) for a fixed batch, with the state in static buffers updated in place,
replays the whole step as one launch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.model import HNetLM, LMState
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
