"""The Mamba-2 mixer layer. Parameter names and shapes are those of `mamba_ssm.modules.mamba2.Mamba2`
(ngroups=1, gated RMSNorm, norm after gate, scalar D), so checkpoints move between backends.

backend "torch": pure PyTorch (reference.py), runs anywhere.
backend "mamba_ssm": the Triton SSD kernels (kernels.py), CUDA only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from engine.ssm import cpu_scan, kernels, reference

TRITON_CHUNK = 256  # chunk length the Triton kernels are tuned for


@dataclass
class MixerState:
    """Recurrent state of one Mamba-2 layer for a batch of streams.

    conv: (b, conv_dim, d_conv) the last d_conv inputs of the depthwise causal convolution
    ssm:  (b, nheads, headdim, d_state) float32, the SSM state S_t
    """

    conv: Tensor
    ssm: Tensor

    def select(self, keep: Tensor, other: "MixerState") -> "MixerState":
        """Per stream: this state where keep[i], else `other`'s (for streams that did not step)."""
        return MixerState(torch.where(keep[:, None, None], self.conv, other.conv),
                          torch.where(keep[:, None, None, None], self.ssm, other.ssm))

    def map(self, fn) -> "MixerState":
        return MixerState(fn(self.conv), fn(self.ssm))


class Mamba2Mixer(nn.Module):
    def __init__(self, d_model: int, d_state: int = 64, headdim: int = 32, expand: int = 2, d_conv: int = 4,
                 chunk_size: int = 64, dt_min: float = 1e-3, dt_max: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.d_model, self.d_state, self.d_conv, self.headdim = d_model, d_state, d_conv, headdim
        self.d_inner = expand * d_model
        self.nheads = self.d_inner // headdim
        self.ngroups = 1
        self.chunk_size = chunk_size
        self.eps = eps
        self.conv_dim = self.d_inner + 2 * self.ngroups * d_state
        self.backend = "torch"
        self.step_impl: str | None = None  # "triton": the fused step kernels (engine/kernels), else the reference

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner + 2 * self.ngroups * d_state + self.nheads, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1)
        # dt initialised log-uniformly in [dt_min, dt_max], stored through the inverse softplus
        dt = torch.exp(torch.rand(self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.nheads).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(self.nheads))
        for p in (self.dt_bias, self.A_log, self.D):
            p._no_weight_decay = True
        self.norm = nn.Module()  # named like mamba_ssm's RMSNormGated so the key is norm.weight
        self.norm.weight = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    # ---------------------------------------------------------------- parallel
    def forward(self, u: Tensor, state: MixerState | None = None, return_state: bool = False,
                lengths: Tensor | None = None) -> tuple[Tensor, MixerState | None]:
        """u: (b, l, d_model) -> (b, l, d_model), and the state after the last position if asked.
        lengths (b,): rows padded at the end; the state is each row's after its own last position (dt = 0
        on the padding leaves the SSM state as it was; the conv state is gathered at the row's end)."""
        A = -torch.exp(self.A_log.float())
        zxbcdt = self.in_proj(u)
        # the fused call goes through causal_conv1d's channel-last kernel, which refuses a sequence this short
        # ("strides ... multiples of 8": a 1-byte forward crashed on the H200); short ones take the path below
        if self.backend == "mamba_ssm" and state is None and not return_state and u.shape[1] >= 8 and lengths is None:
            fused = kernels.load().split_conv1d_scan
            if fused is not None:  # one Triton call for conv + scan + norm + out_proj
                return fused(zxbcdt, rearrange(self.conv1d.weight, "d 1 w -> d w"), self.conv1d.bias, self.dt_bias,
                             A, self.D, TRITON_CHUNK, activation="silu", rmsnorm_weight=self.norm.weight,
                             rmsnorm_eps=self.eps, outproj_weight=self.out_proj.weight, outproj_bias=None,
                             headdim=self.headdim, ngroups=self.ngroups, norm_before_gate=False), None
        z, xBC, dt = torch.split(zxbcdt, [self.d_inner, self.conv_dim, self.nheads], dim=-1)
        fast = self.backend == "torch" and cpu_scan.active(u)  # the CPU prefill's kernels (engine/ssm/cpu_scan.py)

        xBC_t = xBC.transpose(1, 2)
        if state is None:
            history = xBC_t.new_zeros(xBC_t.shape[0], self.conv_dim, self.d_conv - 1)
        else:
            history = state.conv[..., 1:].to(xBC_t.dtype)
        if fast:  # (b, d_conv - 1 + l, conv_dim), the in_proj's layout; `full` is its channels-first view
            full_rows = torch.cat([history.transpose(1, 2), xBC], dim=1)
            full = full_rows.transpose(1, 2)
        else:
            full = torch.cat([history, xBC_t], dim=-1)
        if lengths is None:
            conv_state = full[..., -self.d_conv:]
        else:  # full[..., t + d_conv - 1] is position t: the last d_conv inputs up to position length - 1
            at = (lengths[:, None] - 1 + torch.arange(self.d_conv, device=u.device)).clamp(min=0)
            conv_state = full.gather(2, at[:, None, :].expand(-1, full.shape[1], -1))
            if state is not None:  # a row with no position in this pass keeps its state whole
                conv_state = torch.where((lengths == 0)[:, None, None], state.conv.to(conv_state.dtype), conv_state)
        if fast:
            xBC = cpu_scan.causal_conv(full_rows, self.conv1d.weight, self.conv1d.bias)
        else:
            xBC = F.silu(F.conv1d(full, self.conv1d.weight, self.conv1d.bias, groups=self.conv_dim)).transpose(1, 2)

        x, B, C = torch.split(xBC, [self.d_inner, self.d_state, self.d_state], dim=-1)
        x = rearrange(x, "b l (h p) -> b l h p", p=self.headdim)
        B = rearrange(B, "b l (g n) -> b l g n", g=self.ngroups)
        C = rearrange(C, "b l (g n) -> b l g n", g=self.ngroups)
        init = None if state is None else state.ssm
        valid = None if lengths is None else torch.arange(u.shape[1], device=u.device)[None] < lengths[:, None]
        if self.backend == "mamba_ssm":
            k = kernels.load()
            if valid is None:
                y, final = k.chunk_scan(x, dt, A, B, C, TRITON_CHUNK, D=self.D, dt_bias=self.dt_bias,
                                        dt_softplus=True, initial_states=init, return_final_states=True)
            else:
                dt = F.softplus(dt.float() + self.dt_bias.float()) * valid[..., None]
                y, final = k.chunk_scan(x, dt, A, B, C, TRITON_CHUNK, D=self.D, initial_states=init,
                                        return_final_states=True)
            y = rearrange(y, "b l h p -> b l (h p)")
            y = k.rmsnorm_gated(y, self.norm.weight, None, z=z, eps=self.eps,
                                group_size=self.d_inner // self.ngroups, norm_before_gate=False)
        else:
            dt = F.softplus(dt.float() + self.dt_bias.float())
            if valid is not None:
                dt = dt * valid[..., None]
            scan = cpu_scan.ssd_scan if fast else reference.ssd_scan
            y, final = scan(x, dt, A, B, C, cpu_scan.CHUNK if fast else self.chunk_size, D=self.D, initial_state=init)
            y = rearrange(y, "b l h p -> b l (h p)")
            if fast and self.ngroups == 1 and y.dtype == torch.float32 and z.dtype == torch.float32:
                y = cpu_scan.rmsnorm_gated(y, z, self.norm.weight, self.eps)
            else:
                y = reference.rmsnorm_gated(y, z, self.norm.weight, self.eps, self.d_inner // self.ngroups)
        out = self.out_proj(y)
        return out, (MixerState(conv_state, final.float()) if return_state else None)

    # ---------------------------------------------------------------- recurrent
    def allocate_state(self, batch: int, device=None, dtype=torch.float32) -> MixerState:
        device = device or self.in_proj.weight.device
        return MixerState(torch.zeros(batch, self.conv_dim, self.d_conv, device=device, dtype=dtype),
                          torch.zeros(batch, self.nheads, self.headdim, self.d_state, device=device))

    def step(self, u: Tensor, state: MixerState) -> tuple[Tensor, MixerState]:
        """u: (b, d_model) one position -> (b, d_model), new state. Same maths on both backends."""
        z, xBC, dt = torch.split(self.in_proj(u), [self.d_inner, self.conv_dim, self.nheads], dim=-1)
        if self.step_impl is not None:  # two kernels for all that follows in_proj (engine/kernels/mamba_step.py)
            from engine.kernels.mamba_step import conv_ssm_step, rmsnorm_rows

            conv, ssm, y = conv_ssm_step(state.conv, xBC, self.conv1d.weight[:, 0], self.conv1d.bias, state.ssm, dt,
                                         self.dt_bias, self.A_log, self.D, z, self.step_impl)
            return self.out_proj(rmsnorm_rows(y, self.norm.weight, self.eps, u.dtype, self.step_impl)), \
                MixerState(conv, ssm)
        A = -torch.exp(self.A_log.float())
        conv = torch.cat([state.conv[..., 1:], xBC[..., None].to(state.conv.dtype)], dim=-1)
        # plain views rather than einops here: this runs once per byte per layer, and on a CPU the
        # per-call overhead is a visible part of decoding time
        xBC = (conv * self.conv1d.weight[:, 0]).sum(-1) + self.conv1d.bias
        xBC = F.silu(xBC)
        x, B, C = torch.split(xBC, [self.d_inner, self.d_state, self.d_state], dim=-1)
        dt = F.softplus(dt.float() + self.dt_bias.float())
        b = u.shape[0]
        y, ssm = reference.ssd_step(state.ssm, x.view(b, self.nheads, self.headdim), dt, A,
                                    B.view(b, self.ngroups, -1), C.view(b, self.ngroups, -1), self.D)
        y = reference.rmsnorm_gated(y.view(b, self.d_inner), z, self.norm.weight, self.eps,
                                    self.d_inner // self.ngroups)
        return self.out_proj(y), MixerState(conv, ssm)
