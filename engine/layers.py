"""Building blocks shared by every level of the network: RMSNorm, causal attention, and `Stack`,
an isotropic run of pre-norm residual layers (Mamba-2 or attention) with `forward` and `step`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from engine.config import ModelConfig, parse_layers
from engine.ssm import Mamba2Mixer, MixerState


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))
        self.step_impl: str | None = None  # "triton": one position per row in one kernel (engine/kernels)

    def forward(self, x: Tensor) -> Tensor:
        if self.step_impl is not None and x.dim() == 2:  # the recurrent step's (b, d); training is (b, l, d)
            from engine.kernels.mamba_step import rmsnorm_rows

            return rmsnorm_rows(x, self.weight, self.eps, x.dtype, self.step_impl)
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()).to(x.dtype)


@dataclass
class AttentionState:
    """Key/value cache of one attention layer: k, v (b, heads, t, head_dim)."""

    k: Tensor
    v: Tensor


def rotary(x: Tensor, start: int) -> Tensor:
    """Rotary position embedding for x (b, h, t, d) at positions start..start+t-1."""
    d, t = x.shape[-1], x.shape[-2]
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
    ang = torch.arange(start, start + t, device=x.device, dtype=torch.float32)[:, None] * inv
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x.float()[..., 0::2], x.float()[..., 1::2]
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)
    return out.to(x.dtype)


class CausalAttention(nn.Module):
    """Multi-head causal self-attention (torch SDPA) with rotary positions and a KV cache for `step`."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"d_model {d} not divisible by {n_heads} attention heads")
        self.n_heads, self.head_dim = n_heads, d // n_heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=False)

    def _qkv(self, x: Tensor, start: int) -> tuple[Tensor, Tensor, Tensor]:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return rotary(q, start), rotary(k, start), v

    def forward(self, x: Tensor, state: AttentionState | None = None,
                return_state: bool = False) -> tuple[Tensor, AttentionState | None]:
        start = 0 if state is None else state.k.shape[2]
        q, k, v = self._qkv(x, start)
        if state is not None:
            k, v = torch.cat([state.k, k], dim=2), torch.cat([state.v, v], dim=2)
            mask = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=x.device).tril(start)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        y = self.out_proj(y.transpose(1, 2).reshape(x.shape))
        return y, (AttentionState(k, v) if return_state else None)

    def allocate_state(self, batch: int, device=None, dtype=torch.float32) -> AttentionState:
        device = device or self.qkv.weight.device
        empty = torch.zeros(batch, self.n_heads, 0, self.head_dim, device=device, dtype=dtype)
        return AttentionState(empty, empty.clone())

    def step(self, x: Tensor, state: AttentionState) -> tuple[Tensor, AttentionState]:
        y, state = self.forward(x[:, None], state, return_state=True)
        return y[:, 0], state


class SwiGLU(nn.Module):
    """Position-wise feed-forward layer (SwiGLU, hidden 8/3 d rounded to 64): the MLP half of a Transformer
    block. Stateless, so `step` is `forward` on one position."""

    def __init__(self, d: int):
        super().__init__()
        hidden = 64 * round(8 * d / 3 / 64)
        self.fc = nn.Linear(d, 2 * hidden, bias=False)
        self.out_proj = nn.Linear(hidden, d, bias=False)

    def forward(self, x: Tensor, state: None = None, return_state: bool = False) -> tuple[Tensor, None]:
        gate, up = self.fc(x).chunk(2, dim=-1)
        return self.out_proj(F.silu(gate) * up), None

    def allocate_state(self, batch: int, device=None, dtype=torch.float32) -> None:
        return None

    def step(self, x: Tensor, state: None) -> tuple[Tensor, None]:
        return self.forward(x)


class Stack(nn.Module):
    """Pre-norm residual layers at one width, then a final norm. `spec` like "m4", "m3t1" or "t1f1t1f1"."""

    def __init__(self, spec: str, d: int, cfg: ModelConfig):
        super().__init__()
        self.kinds = parse_layers(spec)
        self.norms = nn.ModuleList(RMSNorm(d) for _ in self.kinds)
        self.mixers = nn.ModuleList(self._layer(k, d, cfg) for k in self.kinds)
        self.final_norm = RMSNorm(d)

    @staticmethod
    def _layer(kind: str, d: int, cfg: ModelConfig) -> nn.Module:
        if kind == "m":
            return Mamba2Mixer(d, cfg.d_state, cfg.headdim, cfg.expand, cfg.d_conv, cfg.chunk_size)
        if kind == "t":
            return CausalAttention(d, cfg.n_attn_heads)
        return SwiGLU(d)

    @property
    def has_attention(self) -> bool:
        return "t" in self.kinds

    def forward(self, x: Tensor, state: list | None = None, return_state: bool = False,
                lengths: Tensor | None = None) -> tuple[Tensor, list | None]:
        """lengths (b,): rows padded at the end (Mamba-2 layers only: see Mamba2Mixer.forward)."""
        if lengths is not None and self.has_attention:
            raise ValueError("rows of several lengths in one pass need Mamba-2 layers (an attention cache would "
                             "keep the padding)")
        new_state = []
        for i, (norm, mixer) in enumerate(zip(self.norms, self.mixers)):
            more = {} if lengths is None or not isinstance(mixer, Mamba2Mixer) else {"lengths": lengths}
            y, s = mixer(norm(x), None if state is None else state[i], return_state, **more)
            x = x + y
            new_state.append(s)
        return self.final_norm(x), (new_state if return_state else None)

    def allocate_state(self, batch: int, device=None) -> list:
        return [m.allocate_state(batch, device) for m in self.mixers]

    def step(self, x: Tensor, state: list) -> tuple[Tensor, list]:
        new_state = []
        for norm, mixer, s in zip(self.norms, self.mixers, state):
            y, s = mixer.step(norm(x), s)
            x = x + y
            new_state.append(s)
        return self.final_norm(x), new_state


__all__ = ["RMSNorm", "CausalAttention", "SwiGLU", "AttentionState", "Stack", "MixerState"]
