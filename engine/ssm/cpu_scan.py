"""The SSD scan and the H-Net EMA on a CPU, fast: the same functions as `reference.ssd_scan` and the
reference EMA (engine/hnet.py's `ema` on the torch backend, outside `fast_prefill()`), in fewer passes over memory.

A prefill segment (1,024 bytes) is bound here by memory traffic and per-op overhead, not by arithmetic
(the bf16 matmuls around the scan run at ~800 GFLOP/s on AVX512-BF16), so the reference's form cost ~75 %
of a prefill. What changes, and why the result stays the reference's (fp32 throughout):
- the within-chunk decay exp(A_cum_i - A_cum_j) is a difference of cumsums (as mamba_ssm's Triton kernels
  form it) computed in place: 3 passes over the (heads, T, T) tile instead of segsum's 8, and no
  (T, T) masks rebuilt per call;
- the chunk states and the carried-in state's readout are each one matmul over all heads in the
  natural (position, head * headdim) layout: no permuted copies of x per head;
- chunks pass their state on by a loop of one fused op per chunk instead of the (c+1)^2 decay matrix;
- the EMA's channels share one decay, so its within-chunk matrix is formed once per chunk, not once per
  64-channel head, and its state is the output itself (B = C = 1).
tests/engine/test_ssm.py holds both to the reference at several lengths.

`active(x)` says whether the fast path runs for a tensor: on a CPU, without autograd, inside `fast_prefill()`
(the sampler's prefill). Scoring, inspection and training outside it keep the reference, bit for bit."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK = 64  # positions per chunk: measured best on AVX512 at 10-16 heads of 64 (32: +15 %, 128: +20 % time)

_prefill = threading.local()


@contextmanager
def fast_prefill():
    """The fast CPU prefill kernels (this module's scans, engine/fast_cpu.py's PrefillLinear) run inside."""
    before = getattr(_prefill, "on", False)
    _prefill.on = True
    try:
        yield
    finally:
        _prefill.on = before


def in_fast_prefill() -> bool:
    return getattr(_prefill, "on", False)


def active(x: Tensor) -> bool:
    return in_fast_prefill() and x.device.type == "cpu" and not torch.is_grad_enabled()


_masks: dict[int, Tensor] = {}


def _above_diagonal(T: int) -> Tensor:
    if T not in _masks:
        _masks[T] = torch.ones(T, T, dtype=torch.bool).triu(1)
    return _masks[T]


def _decay_tile(A_cum: Tensor) -> Tensor:
    """A_cum (..., T) -> (..., T, T): exp(A_cum_i - A_cum_j) for i >= j, 0 above the diagonal (masked to -inf
    before the exp: above it the difference is positive and could overflow)."""
    T = A_cum.shape[-1]
    tile = A_cum[..., :, None] - A_cum[..., None, :]
    return tile.masked_fill_(_above_diagonal(T), float("-inf")).exp_()


def ssd_scan(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, chunk_size: int = CHUNK,
             D: Tensor | None = None, initial_state: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """`reference.ssd_scan`, same arguments and results (y (b, l, h, p) in x's dtype, final state (b, h, p, n)
    fp32). chunk_size only sets how the work is cut: any value gives the same function.

    Within a chunk, y_t = sum_{s<=t} C_t.B_s exp(A_cum_t - A_cum_s) dt_s x_s + exp(A_cum_t) C_t S_in. The decay
    factors: exp(A_cum_t - A_cum_s) = exp(A_cum_t - mid) exp(mid - A_cum_s), mid the chunk's half-way decay,
    so y = e_out ∘ (CB @ (e_in dt ∘ x) + C @ (exp(mid) S_in)): C B^T is shared by the heads of a group, and
    the whole chunk is two matmuls over all heads at once instead of a (T, T) tile per head. Scaling every
    term of a sum by one positive factor leaves its rounding as it was; the factors stay below exp(WIDE / 2),
    so nothing overflows. A head whose decay over a chunk is more than WIDE (a few in a thousand on the
    bundled model) has that chunk recomputed the reference's way, with its decay tile (`_tiles`)."""
    b, l, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    r = h // g
    in_dtype = x.dtype
    x, dt, A, B, C = (t.float() for t in (x, dt, A, B, C))
    T = chunk_size
    pad = (-l) % T
    if pad:  # dt = 0 on padding: no decay, no input, so the final state is unaffected
        x, B, C = (F.pad(t, (0, 0, 0, 0, 0, pad)) for t in (x, B, C))
        dt = F.pad(dt, (0, 0, 0, pad))
    c = (l + pad) // T
    xc, dtc = x.view(b, c, T, h, p), dt.view(b, c, T, h)
    A_cum = torch.cumsum(dtc * A, dim=2)  # (b, c, T, h), falling: dt >= 0, A < 0
    A_last = A_cum[:, :, -1]  # (b, c, h): the decay over the whole chunk
    Bc, Cc = B.view(b, c, T, g, n).transpose(2, 3), C.view(b, c, T, g, n).transpose(2, 3)  # (b, c, g, T, n)
    CB = (Cc @ Bc.transpose(-1, -2)).masked_fill_(_above_diagonal(T), 0.0)  # (b, c, g, T, T), causal

    # each chunk's contribution to the state at its end: S^T (n, r*p) = B^T (n, T) @ (decay dt x) (T, r*p)
    Xd = (xc * (dtc * torch.exp(A_last[:, :, None] - A_cum))[..., None]).view(b, c, T, g, r * p).transpose(2, 3)
    states = (Bc.transpose(-1, -2) @ Xd).view(b, c, g, n, r, p)
    # the state entering each chunk, chunk by chunk: S_k = exp(A_last_{k-1}) S_{k-1} + states_{k-1}; it is
    # kept times exp(mid_k), the factor its readout needs below
    if initial_state is None:
        S = x.new_zeros(b, g, n, r, p)
    else:  # (b, h, p, n) -> (b, g, n, r, p)
        S = initial_state.float().view(b, g, r, p, n).permute(0, 1, 4, 2, 3)
    mid = (A_last / 2).clamp_(min=-WIDE / 2)  # clamped: a wide head's S_in stays recoverable (`_tiles`)
    chunk_decay, mid_decay = torch.exp(A_last).view(b, c, g, 1, r, 1), torch.exp(mid).view(b, c, g, 1, r, 1)
    S_in = x.new_empty(b, c, g, n, r, p)
    for k in range(c):
        torch.mul(S, mid_decay[:, k], out=S_in[:, k])
        S = torch.addcmul(states[:, k], S, chunk_decay[:, k])
    final = S.permute(0, 1, 3, 4, 2).reshape(b, h, p, n)

    # the outputs, factored (see above); the clamps only matter in the wide chunks, recomputed below
    e_in = torch.exp((mid[:, :, None] - A_cum).clamp_(max=WIDE / 2))  # (b, c, T, h)
    e_out = torch.exp((A_cum - mid[:, :, None]).clamp_(min=-WIDE / 2))[..., None]
    U = (xc * (dtc * e_in)[..., None]).view(b, c, T, g, r * p).transpose(2, 3)  # (b, c, g, T, r*p)
    k = b * c * g
    Y = torch.bmm(CB.reshape(k, T, T), U.reshape(k, T, r * p))
    Y.baddbmm_(Cc.reshape(k, T, n), S_in.view(k, n, r * p))  # accumulated by the GEMM: no pass of its own
    y = Y.view(b, c, g, T, r * p).transpose(2, 3).reshape(b, c, T, h, p).mul_(e_out)
    wide = (A_last < -WIDE).nonzero(as_tuple=True)  # (batch, chunk, head) indices
    if wide[0].numel():
        y.transpose(2, 3)[wide] = _tiles(xc, dtc, A, A_cum, CB, Cc, S_in, mid_decay, wide)
    y = y.view(b, c * T, h, p)[:, :l]
    if D is not None:
        y.addcmul_(x[:, :l], D.float()[:, None])
    return y.to(in_dtype), final


WIDE = 100.0  # a head decaying by more than this over a chunk takes its decay tile; factors <= e^50 ~ 5e21


def _tiles(xc, dtc, A, A_cum, CB, Cc, S_in, mid_decay, wide) -> Tensor:
    """The outputs of some (batch, chunk, head) the reference's way: (C B^T ∘ exp(segsum)) dt x + exp(A_cum) C S_in.
    Returns (k, T, p) for the k index triples `wide`. The decay tile is the reference's segsum: over a wide
    chunk a difference of cumsums would lose ~|A_cum| * 6e-8 of relative precision (1e-4 at a decay of 2,000)."""
    from engine.ssm.reference import segsum

    bi, ci, hi = wide
    r = A_cum.shape[-1] // CB.shape[2]
    gi, ri = hi // r, hi % r
    a = A_cum[bi, ci, :, hi]  # (k, T)
    M = torch.exp(segsum(dtc[bi, ci, :, hi] * A[hi, None])).mul_(CB[bi, ci, gi])  # (k, T, T)
    X = xc[bi, ci, :, hi] * dtc[bi, ci, :, hi][..., None]  # (k, T, p)
    S = S_in[bi, ci, gi, :, ri] / mid_decay[bi, ci, gi, 0, ri, None]  # (k, n, p): the state as it entered
    y_off = torch.bmm(Cc[bi, ci, gi], S) * torch.exp(a)[..., None]
    return torch.baddbmm(y_off, M, X)


def rmsnorm_gated(x: Tensor, z: Tensor, weight: Tensor, eps: float) -> Tensor:
    """`reference.rmsnorm_gated` with one group (the mixer's, ngroups=1): torch's fused rms_norm over
    x * silu(z) instead of 6 elementwise passes (fp32 in, fp32 out)."""
    return F.rms_norm(x * F.silu(z), (x.shape[-1],), weight, eps)


def causal_conv_reference(full: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """silu(depthwise causal conv) as the mixer's forward computes it: full (b, k - 1 + l, ch) the inputs with
    the k - 1 before them, weight (ch, 1, k), bias (ch) -> (b, l, ch)."""
    ch = full.shape[-1]
    return F.silu(F.conv1d(full.transpose(1, 2), weight, bias, groups=ch)).transpose(1, 2)


def causal_conv(full: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """`causal_conv_reference`, same arguments and result: k multiply-adds of shifted views in the natural
    (position, channel) layout. oneDNN's grouped convolution wants the channels-first copy of a layout the
    in_proj output does not have, and took 5x longer (768 channels, 1,024 positions)."""
    k = weight.shape[-1]
    l = full.shape[1] - (k - 1)
    w = weight[:, 0].t()  # (k, ch)
    y = torch.addcmul(bias, full[:, :l], w[0])
    for j in range(1, k):
        y.addcmul_(full[:, j:j + l], w[j])
    return F.silu(y, inplace=True)


def ema(z: Tensor, weight: Tensor, init: Tensor | None, chunk_size: int = CHUNK) -> Tensor:
    """engine/hnet.py's reference `ema` (torch backend), same result. Every channel decays by the same
    exp(-dt_j) = 1 - w_j, so within a chunk y = L (w z) with one (T, T) matrix L for all channels; the state
    is y itself."""
    b, m, d = z.shape
    in_dtype = z.dtype
    w = weight.float()
    dt = -torch.log1p(-w)
    T = chunk_size
    pad = (-m) % T
    u = z.float() * w[..., None]  # w z = dt * (w z / dt): the reference's input times its dt
    if pad:
        u, dt = F.pad(u, (0, 0, 0, pad)), F.pad(dt, (0, pad))
    c = (m + pad) // T
    A_cum = torch.cumsum(-dt.view(b, c, T), dim=-1)  # (b, c, T)
    y = _decay_tile(A_cum) @ u.view(b, c, T, d)  # (b, c, T, d): each chunk from a zero state
    carry = torch.exp(A_cum)[..., None]  # (b, c, T, 1): what is left of the state entering the chunk
    prev = None if init is None else init.float()
    for k in range(c):
        if prev is not None:
            y[:, k].addcmul_(carry[:, k], prev[:, None])
        prev = y[:, k, -1]
    return y.view(b, c * T, d)[:, :m].to(in_dtype)
