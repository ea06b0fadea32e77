"""H-Net dynamic chunking (Hwang, Wang & Gu 2025): one `Stage` = encoder -> route -> chunk ->
inner network (a `Stack`, or another `Stage`) -> dechunk -> decoder, with `forward` and `step`.

Routing: p_t = (1 - cos(q_t, k_{t-1})) / 2 from adjacent encoder states (q/k start as identity, so
a boundary fires where the representation changes); b_t = p_t >= 0.5; the first position is always
a boundary. Chunking keeps the boundary positions. Dechunking smooths the inner outputs with an EMA
weighted by the boundary probability (which is what lets gradients reach the router), repeats each
chunk's value over its bytes, scales by a straight-through confidence (value 1, gradient of p),
and adds a projection of the encoder output (residual).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from engine.config import ModelConfig
from engine.layers import Stack
from engine.ssm import cpu_scan, kernels, reference
from engine.state import tree_select

P_EPS = 1e-4  # keeps the EMA weight inside (0, 1) so its log-decay is finite


def ratio_loss(boundary: Tensor, prob: Tensor, target: float, mask: Tensor | None = None) -> Tensor:
    """H-Net's ratio loss: N/(N-1) * ((N-1) F G + (1-F)(1-G)); F = fraction of hard boundaries,
    G = mean boundary probability, N = target bytes per chunk. Minimal (=1) when F = G = 1/N."""
    if mask is None:
        F_, G = boundary.float().mean(), prob.float().mean()
    else:
        n = mask.float().sum().clamp(min=1)
        F_, G = (boundary.float() * mask).sum() / n, (prob.float() * mask).sum() / n
    N = target
    return N / (N - 1) * ((N - 1) * F_ * G + (1 - F_) * (1 - G))


class Router(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        with torch.no_grad():
            self.q_proj.weight.copy_(torch.eye(d))
            self.k_proj.weight.copy_(torch.eye(d))

    def prob(self, q: Tensor, k_prev: Tensor) -> Tensor:
        cos = F.cosine_similarity(q.float(), k_prev.float(), dim=-1)
        return ((1 - cos) / 2).clamp(0.0, 1.0)

    def forward(self, h: Tensor, k_prev: Tensor | None) -> tuple[Tensor, Tensor]:
        """h (b, l, d) -> p (b, l) fp32 and the keys (b, l, d). k_prev: key before this segment, or None."""
        q, k = self.q_proj(h), self.k_proj(h)
        p = self.prob(q[:, 1:], k[:, :-1])
        first = p.new_ones(p.shape[0], 1) if k_prev is None else self.prob(q[:, 0], k_prev)[:, None]
        return torch.cat([first, p], dim=1), k


def ema(z: Tensor, weight: Tensor, init: Tensor | None, backend: str, chunk_size: int) -> Tensor:
    """zbar_j = weight_j * z_j + (1 - weight_j) * zbar_{j-1}, as a scalar-decay SSM scan.

    z (b, m, d); weight (b, m) in (0, 1); init (b, d) or None (zeros). With dt = -log(1 - w), A = -1,
    B = C = 1 and input w z / dt, the Mamba-2 recurrence is exactly this EMA, so the same kernels run it.
    """
    b, m, d = z.shape
    if m == 0:  # a prefill segment with no chunk in it: the Triton scan reads out of bounds on an empty sequence
        return z
    if backend != "mamba_ssm" and cpu_scan.active(z):  # the CPU prefill: one decay matrix for all channels
        return cpu_scan.ema(z, weight, init)
    hd = math.gcd(d, 64)
    dt = -torch.log1p(-weight.float())  # (b, m)
    x = (z.float() * (weight.float() / dt)[..., None]).view(b, m, d // hd, hd)
    dt_h = dt[..., None].expand(b, m, d // hd).contiguous()
    A = -torch.ones(d // hd, device=z.device)
    ones = torch.ones(b, m, 1, 1, device=z.device)
    s0 = None if init is None else init.float().view(b, d // hd, hd, 1)
    if backend == "mamba_ssm":
        y, _ = kernels.load().chunk_scan(x, dt_h, A, ones, ones, 256, initial_states=s0, return_final_states=True)
    else:
        y, _ = reference.ssd_scan(x, dt_h, A, ones, ones, chunk_size, initial_state=s0)
    return y.reshape(b, m, d).to(z.dtype)


def _rows(lengths: Tensor | None) -> dict:
    """The keyword a sub-network takes for rows padded at the end (none when the rows are whole)."""
    return {} if lengths is None else {"lengths": lengths}


@dataclass
class StageState:
    """Recurrent state of one H-Net stage for a batch of streams.

    encoder / decoder: layer states of the byte-side stacks
    k_prev:   (b, d) router key of the previous position
    has_prev: (b,) bool, False before the first position (which is always a boundary)
    inner:    state of the inner network (a Stack's list, or a nested StageState)
    zbar:     (b, d) the smoothed inner output of the current chunk (what every byte of it sees)
    """

    encoder: list
    k_prev: Tensor
    has_prev: Tensor
    inner: object
    zbar: Tensor
    decoder: list


@dataclass
class StageOutput:
    y: Tensor
    probs: list[Tensor]  # per stage from this one inwards: (b, l_s) boundary probabilities
    boundaries: list[Tensor]  # (b, l_s) bool
    masks: list[Tensor]  # (b, l_s) valid positions (chunk sequences are padded per row)
    state: StageState | None


class Stage(nn.Module):
    def __init__(self, cfg: ModelConfig, depth: int, layout: list):
        super().__init__()
        enc, inner, dec = layout
        d, d_inner = cfg.d_model[depth], cfg.d_model[depth + 1]
        self.depth, self.target_ratio, self.chunk_size = depth, cfg.target_ratio[depth], cfg.chunk_size
        self.backend = "torch"
        self.step_impl: str | None = None  # "triton": fused routing/dechunking in the static step (engine/kernels)
        self.encoder = Stack(enc, d, cfg)
        self.router = Router(d)
        self.down = nn.Linear(d, d_inner, bias=False)
        if len(inner) == 3:
            self.inner: nn.Module = Stage(cfg, depth + 1, inner)
        else:
            self.inner = Stack(inner[0], d_inner, cfg)
            if self.inner.has_attention:
                raise ValueError("attention layers are supported in isotropic models only (their KV caches "
                                 "cannot skip the positions where a stream has no boundary)")
        self.up = nn.Linear(d_inner, d, bias=False)
        self.residual = nn.Linear(d, d, bias=False)
        nn.init.zeros_(self.residual.weight)
        self.decoder = Stack(dec, d, cfg)

    # ---------------------------------------------------------------- parallel
    def forward(self, x: Tensor, state: StageState | None = None, return_state: bool = False,
                lengths: Tensor | None = None) -> StageOutput:
        """x (b, l, d). Rows of a stateful pass (a state given, or return_state) may be padded at the end:
        lengths (b,) gives each row's length (default: l); its state is the one after its own last byte.
        Chunk counts differ between rows, so the inner network gets them as its rows' lengths."""
        stateful = state is not None or return_state
        if stateful and lengths is None and x.shape[0] > 1:
            lengths = torch.full((x.shape[0],), x.shape[1], device=x.device)
        h, enc_state = self.encoder(x, None if state is None else state.encoder, return_state, **_rows(lengths))
        p, k = self.router(h, None if state is None else state.k_prev)
        if state is not None:  # a row with no byte before this pass starts a chunk at its first byte
            p = torch.cat([torch.where(state.has_prev, p[:, 0], torch.ones_like(p[:, 0]))[:, None], p[:, 1:]], dim=1)
        b = p >= 0.5
        if lengths is not None:
            valid = torch.arange(x.shape[1], device=x.device)[None] < lengths[:, None]
            b = b & valid
            rows = torch.arange(x.shape[0], device=x.device)
            k_last = k[rows, (lengths - 1).clamp(min=0)]
            has_prev = lengths > 0
            if state is not None:  # a row with no byte in this pass (an inner row with no chunk) keeps its key
                k_last = torch.where(has_prev[:, None], k_last, state.k_prev.to(k_last.dtype))
                has_prev = has_prev | state.has_prev
        else:
            k_last, has_prev = k[:, -1], torch.ones(x.shape[0], dtype=torch.bool, device=x.device)

        # chunk: gather the boundary positions of each row to the front (padded at the end: causal, harmless)
        counts = b.sum(1)
        m = int(counts.max())
        order = torch.argsort((~b).to(torch.int8), dim=1, stable=True)[:, :m]
        mask = torch.arange(m, device=x.device)[None] < counts[:, None]
        chunks = torch.gather(h, 1, order[..., None].expand(-1, -1, h.shape[-1]))
        chunk_p = torch.gather(p, 1, order)
        inner_rows = _rows(None if lengths is None else counts)

        inner_state = None if state is None else state.inner
        if isinstance(self.inner, Stage):
            if m == 0:
                inner_out = StageOutput(chunks.new_zeros(x.shape[0], 0, self.down.out_features), [], [], [],
                                        inner_state)
            else:
                inner_out = self.inner(self.down(chunks), inner_state, return_state, **inner_rows)
            z, new_inner = inner_out.y, inner_out.state
        else:
            inner_out = None
            if m == 0:
                z, new_inner = chunks.new_zeros(x.shape[0], 0, self.down.out_features), inner_state
            else:
                z, new_inner = self.inner(self.down(chunks), inner_state, return_state, **inner_rows)

        # dechunk: EMA over chunks, then each byte takes the value of the chunk it is in
        zbar_prev = None if state is None else state.zbar
        zbar = ema(self.up(z), chunk_p.clamp(P_EPS, 1 - P_EPS), zbar_prev, self.backend, self.chunk_size)
        if zbar_prev is None:
            start = zbar.new_zeros(zbar.shape[0], 1, zbar.shape[-1])
        else:
            start = zbar_prev[:, None].to(zbar.dtype)
        zbar_ext = torch.cat([start, zbar], dim=1)
        which = torch.cumsum(b, dim=1)  # 0 = still in the chunk begun before this segment
        up = torch.gather(zbar_ext, 1, which[..., None].expand(-1, -1, zbar.shape[-1]))
        conf = torch.where(b, p, 1 - p)
        ste = conf + (1 - conf).detach()  # value 1; gradient flows to p
        y, dec_state = self.decoder(self.residual(h) + up * ste[..., None].to(up.dtype),
                                    None if state is None else state.decoder, return_state, **_rows(lengths))

        new_state = None
        if return_state:
            last = zbar_ext[:, -1] if lengths is None else zbar_ext[torch.arange(x.shape[0], device=x.device), counts]
            new_state = StageState(enc_state, k_last, has_prev, new_inner, last.float(), dec_state)
        probs, bounds, masks = [p], [b], [torch.ones_like(b)]
        if inner_out is not None:
            probs += inner_out.probs
            bounds += inner_out.boundaries
            masks += [mk & mask for mk in inner_out.masks]
        return StageOutput(y, probs, bounds, masks, new_state)

    def ratio_losses(self, out: StageOutput) -> list[Tensor]:
        stages = self._nested()
        return [ratio_loss(b, p, s.target_ratio, mk)
                for s, b, p, mk in zip(stages, out.boundaries, out.probs, out.masks)]

    # ---------------------------------------------------------------- recurrent
    def allocate_state(self, batch: int, device=None) -> StageState:
        device = device or self.down.weight.device
        d = self.down.in_features
        return StageState(self.encoder.allocate_state(batch, device), torch.zeros(batch, d, device=device),
                          torch.zeros(batch, dtype=torch.bool, device=device),
                          self.inner.allocate_state(batch, device), torch.zeros(batch, d, device=device),
                          self.decoder.allocate_state(batch, device))

    def step(self, x: Tensor, state: StageState, static: bool = False) -> tuple[Tensor, StageState, list[Tensor]]:
        """x (b, d) one byte per stream -> y (b, d), new state, boundary flags per stage [(b,), ...].

        The inner network advances only for the streams where a boundary fires. By default it is
        not run at all when none fires (a host sync per byte, cheapest on a CPU); `static=True`
        always runs it and masks the result, so the step has no data-dependent control flow and
        can be captured in a CUDA graph."""
        h, enc_state = self.encoder.step(x, state.encoder)
        q, k = self.router.q_proj(h), self.router.k_proj(h)
        if static and self.step_impl is not None:
            return self._fused_static_step(h, q, k, enc_state, state)
        first = torch.ones_like(h[:, 0], dtype=torch.float32)  # the first position is always a boundary
        p = torch.where(state.has_prev, self.router.prob(q, state.k_prev), first)
        b = p >= 0.5
        inner_state, zbar = state.inner, state.zbar
        inner_fired = [torch.zeros_like(b)] * (len(self._nested()) - 1)
        if static or bool(b.any()):
            if isinstance(self.inner, Stage):
                z, stepped, inner_fired = self.inner.step(self.down(h), state.inner, static)
            else:
                z, stepped = self.inner.step(self.down(h), state.inner)
            inner_state = stepped if not static and bool(b.all()) else tree_select(b, stepped, state.inner)
            w = p.clamp(P_EPS, 1 - P_EPS)[:, None]
            zbar = torch.where(b[:, None], w * self.up(z).float() + (1 - w) * state.zbar, state.zbar)
        fired = [b] + [b & f for f in inner_fired]
        y, dec_state = self.decoder.step(self.residual(h) + zbar.to(h.dtype), state.decoder)
        return y, StageState(enc_state, k, torch.ones_like(state.has_prev), inner_state, zbar, dec_state), fired

    def _fused_static_step(self, h, q, k, enc_state, state: StageState):
        """`step(static=True)` with the router and the dechunking EMA as one kernel each (engine/kernels)."""
        from engine.kernels.hnet_step import dechunk_step, route_step

        p, b = route_step(q, state.k_prev, state.has_prev, self.step_impl)
        if isinstance(self.inner, Stage):
            z, stepped, inner_fired = self.inner.step(self.down(h), state.inner, True)
        else:
            (z, stepped), inner_fired = self.inner.step(self.down(h), state.inner), []
        inner_state = tree_select(b, stepped, state.inner)
        zbar, dec_in = dechunk_step(p, b, self.up(z), state.zbar, self.residual(h), self.step_impl)
        y, dec_state = self.decoder.step(dec_in, state.decoder)
        fired = [b] + [b & f for f in inner_fired]
        return y, StageState(enc_state, k, torch.ones_like(state.has_prev), inner_state, zbar, dec_state), fired

    def _nested(self) -> list["Stage"]:
        stages = [self]
        while isinstance(stages[-1].inner, Stage):
            stages.append(stages[-1].inner)
        return stages
