"""Data-parallel training (DDP under torchrun): the process group, and the few collectives the loop needs."""

from __future__ import annotations

import os

import torch
import torch.distributed as tdist
from torch.nn.parallel import DistributedDataParallel


class Dist:
    """This process's place in the run, from torchrun's environment (one process: rank 0 of 1)."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def start(self) -> None:
        if self.enabled:
            tdist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")

    def stop(self, barrier: bool = True) -> None:
        """Leave the process group (after every rank got here, unless this rank failed)."""
        if self.enabled and tdist.is_initialized():
            if barrier:
                tdist.barrier()
            tdist.destroy_process_group()

    def barrier(self) -> None:
        if self.enabled:
            tdist.barrier()

    def wrap(self, model, device: torch.device):
        """The model the loop calls: DDP around it when data-parallel."""
        if not self.enabled:
            return model
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def mean(self, x: float, device) -> float:
        if not self.enabled:
            return x
        t = torch.tensor([x], device=device, dtype=torch.float64)
        tdist.all_reduce(t)
        return float(t) / tdist.get_world_size()

    def any(self, flag: bool, device) -> bool:
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order (on every rank)."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        tdist.all_gather_object(out, obj)
        return out
