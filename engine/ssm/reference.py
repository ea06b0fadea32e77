"""Pure-PyTorch Mamba-2 (SSD) kernels: the CPU path and the oracle for the Triton kernels.

The state-space recurrence, per head h (headdim P, state size N):
    S_t = exp(dt_t * A_h) * S_{t-1} + dt_t * x_t B_t^T        S_t: (P, N)
    y_t = S_t C_t + D_h * x_t
`ssd_scan` computes it for a whole sequence in chunks (quadratic inside a chunk, a
recurrence across chunks: the "state space duality" of Dao & Gu 2024); `ssd_sequential`
is the plain loop, used only by tests; `ssd_step` advances one position (generation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def segsum(x: Tensor) -> Tensor:
    """out[..., i, j] = x[..., j+1] + ... + x[..., i] for i >= j, -inf above the diagonal.

    Built with a masked cumsum rather than a difference of cumsums, which loses precision."""
    T = x.size(-1)
    x = x[..., None].expand(*x.shape, T)  # x[..., i, j] = x_i
    below = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=-1)
    x = x.masked_fill(~below, 0)
    out = torch.cumsum(x, dim=-2)
    keep = torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=0)
    return out.masked_fill(~keep, float("-inf"))


def ssd_scan(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int,
             D: Tensor | None = None, initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Chunked SSD scan.

    x: (b, l, h, p)  dt: (b, l, h) (already softplus'ed)  A: (h,)  B, C: (b, l, g, n)
    initial_state: (b, h, p, n) or None.  Returns y (b, l, h, p) and the final state (b, h, p, n).
    Computes in float32 whatever the input dtype. Heads are viewed as (g, r = h/g): the r heads of a
    group share B and C, so C B^T is formed once per group, not once per head.
    """
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    r = h // g
    in_dtype = x.dtype
    x, dt, A, B, C = (t.float() for t in (x, dt, A, B, C))
    pad = (-l) % chunk_size
    if pad:  # dt = 0 on padding: no decay, no input, so the final state is unaffected
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    c, T = (l + pad) // chunk_size, chunk_size
    X = (x * dt[..., None]).reshape(b, c, T, g, r, p)
    B, C = B.reshape(b, c, T, g, n), C.reshape(b, c, T, g, n)
    A_dt = (dt * A).reshape(b, c, T, g, r).permute(0, 1, 3, 4, 2)  # (b, c, g, r, T)
    A_cum = torch.cumsum(A_dt, dim=-1)

    # 1. within each chunk: y = (C B^T ∘ decay) X
    CB = torch.einsum("bclgn,bcsgn->bcgls", C, B)[:, :, :, None]  # (b, c, g, 1, T, T)
    M = CB * torch.exp(segsum(A_dt))  # (b, c, g, r, T, T)
    y_diag = M @ X.permute(0, 1, 3, 4, 2, 5)  # (b, c, g, r, T, p)
    # 2. each chunk's contribution to the state at its end
    decay_to_end = torch.exp(A_cum[..., -1:] - A_cum)  # (b, c, g, r, T)
    Xd = X.permute(0, 1, 3, 4, 5, 2) * decay_to_end[..., None, :]  # (b, c, g, r, p, T)
    states = Xd @ B.permute(0, 1, 3, 2, 4)[:, :, :, None]  # (b, c, g, r, p, n)
    # 3. carry states across chunks
    if initial_state is None:
        initial_state = torch.zeros(b, h, p, n, device=x.device)
    states = torch.cat([initial_state.float().reshape(b, 1, g, r, p, n), states], dim=1)  # (b, c+1, g, r, p, n)
    chunk_decay = torch.exp(segsum(F.pad(A_cum[..., -1].permute(0, 2, 3, 1), (1, 0))))  # (b, g, r, c+1, c+1)
    states = torch.einsum("bgrzc,bcgrpn->bzgrpn", chunk_decay, states)
    states, final_state = states[:, :-1], states[:, -1]
    # 4. the carried-in state's contribution to each position
    y_off = (C.permute(0, 1, 3, 2, 4)[:, :, :, None] @ states.transpose(-1, -2))  # (b, c, g, r, T, p)
    y_off = y_off * torch.exp(A_cum)[..., None]
    y = (y_diag + y_off).permute(0, 1, 4, 2, 3, 5).reshape(b, c * T, h, p)[:, :l]
    if D is not None:
        y = y + x[:, :l] * D.float()[:, None]
    return y.to(in_dtype), final_state.reshape(b, h, p, n)


def ssd_sequential(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The recurrence, one position at a time (test oracle for `ssd_scan`)."""
    b, l, h, p = x.shape
    state = torch.zeros(b, h, p, B.shape[-1]) if initial_state is None else initial_state.float()
    ys = []
    for t in range(l):
        y, state = ssd_step(state, x[:, t], dt[:, t], A, B[:, t], C[:, t], D)
        ys.append(y)
    return torch.stack(ys, dim=1), state


def ssd_step(state: Tensor, x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor,
             D: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One position. state (b, h, p, n) fp32; x (b, h, p); dt (b, h); B, C (b, g, n).
    Heads are viewed as (g, h/g) so B and C broadcast over their group without being copied."""
    b, h, p, n = state.shape
    g = B.shape[1]
    dt, x = dt.float(), x.float()
    decay = torch.exp(dt * A.float()).view(b, g, h // g, 1, 1)
    dtx = (dt[..., None] * x).view(b, g, h // g, p, 1)
    new = torch.addcmul(state.view(b, g, h // g, p, n) * decay, dtx, B.float()[:, :, None, None, :])
    y = (new @ C.float()[:, :, None, :, None]).view(b, h, p)
    if D is not None:
        y = y + x * D.float()[:, None]
    return y, new.view(b, h, p, n)


def rmsnorm_gated(x: Tensor, z: Tensor | None, weight: Tensor, eps: float, group_size: int) -> Tensor:
    """Mamba-2's output norm: RMSNorm(x * silu(z)) per group of `group_size` channels, times weight."""
    dtype = x.dtype
    x = x.float()
    if z is not None:
        x = x * F.silu(z.float())
    shape = x.shape
    x = x.reshape(*shape[:-1], shape[-1] // group_size, group_size)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return (x.reshape(shape) * weight.float()).to(dtype)
