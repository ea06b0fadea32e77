"""One H-Net stage's recurrent routing and dechunking, fused per stream: the router's boundary probability
p = (1 - cos(q_t, k_{t-1})) / 2 (1 before a stream's first byte) and decision p >= 0.5, then the EMA of the
inner output, zbar = w up(z) + (1 - w) zbar where a boundary fired (w = p clamped into (0, 1)), and the
decoder's input residual(h) + zbar. The torch versions are `Stage.step`'s arithmetic (engine/hnet.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

P_EPS = 1e-4  # as engine.hnet.P_EPS (kept here so this module needs nothing above it)


def route_step(q: Tensor, k_prev: Tensor, has_prev: Tensor, impl: str = "torch") -> tuple[Tensor, Tensor]:
    """q, k_prev (b, d); has_prev (b,) bool -> p (b,) fp32, fired (b,) bool."""
    if impl == "triton":
        from engine.kernels import _triton

        return _triton.route_step(q, k_prev, has_prev)
    cos = F.cosine_similarity(q.float(), k_prev.float(), dim=-1)
    p = torch.where(has_prev, ((1 - cos) / 2).clamp(0.0, 1.0), torch.ones_like(cos))
    return p, p >= 0.5


def dechunk_step(p: Tensor, fired: Tensor, up_z: Tensor, zbar: Tensor, res: Tensor,
                 impl: str = "torch") -> tuple[Tensor, Tensor]:
    """p (b,) fp32; fired (b,) bool; up_z (b, d) the inner output projected up; zbar (b, d) fp32; res (b, d)
    residual(h) -> new zbar (b, d) fp32, decoder input res + zbar (res's dtype)."""
    if impl == "triton":
        from engine.kernels import _triton

        return _triton.dechunk_step(p, fired, up_z, zbar, res, P_EPS)
    w = p.clamp(P_EPS, 1 - P_EPS)[:, None]
    new = torch.where(fired[:, None], w * up_z.float() + (1 - w) * zbar, zbar)
    return new, res + new.to(res.dtype)
