"""One Mamba-2 layer's recurrent step after in_proj, fused: conv-state shift, depthwise causal conv, SiLU,
SSM state update (S = exp(dt A) S + dt x B^T), readout (y = S C + D x) and the SiLU gate; then the row
RMSNorm of Mamba-2's gated norm (norm after gate, ngroups 1). The torch versions are the reference: the
same arithmetic as `Mamba2Mixer.step` (engine/ssm/mixer.py), which the equivalence tests hold them to.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.ssm import reference


def conv_ssm_step(conv_state: Tensor, xBC: Tensor, conv_w: Tensor, conv_b: Tensor, ssm_state: Tensor, dt: Tensor,
                  dt_bias: Tensor, A_log: Tensor, D: Tensor, z: Tensor,
                  impl: str = "torch") -> tuple[Tensor, Tensor, Tensor]:
    """conv_state (b, c, k) the last k conv inputs; xBC (b, c) this position's (c = h*p + 2n); conv_w (c, k);
    conv_b (c,); ssm_state (b, h, p, n) fp32; dt (b, h) before softplus; dt_bias, A_log (A = -exp(A_log)), D (h,);
    z (b, h*p) the gate. Returns the new conv state (b, c, k, conv_state's dtype), the new SSM state
    (b, h, p, n) fp32 and y (b, h*p) fp32 = (S C + D x) * silu(z). Inputs are not modified."""
    if impl == "triton":
        from engine.kernels import _triton

        return _triton.conv_ssm_step(conv_state, xBC, conv_w, conv_b, ssm_state, dt, dt_bias, A_log, D, z)
    b, h, p, n = ssm_state.shape
    conv = torch.cat([conv_state[..., 1:], xBC[..., None].to(conv_state.dtype)], dim=-1)
    xbc = F.silu((conv * conv_w).sum(-1) + conv_b)
    x, B, C = torch.split(xbc, [h * p, n, n], dim=-1)
    dt = F.softplus(dt.float() + dt_bias.float())
    A = -torch.exp(A_log.float())
    y, ssm = reference.ssd_step(ssm_state, x.view(b, h, p), dt, A, B.view(b, 1, n), C.view(b, 1, n), D)
    return conv, ssm, y.reshape(b, h * p) * F.silu(z.float())


def rmsnorm_rows(x: Tensor, weight: Tensor, eps: float, out_dtype: torch.dtype, impl: str = "torch") -> Tensor:
    """x (b, d) -> x / rms(x) * weight, computed in fp32, returned as out_dtype."""
    if impl == "triton":
        from engine.kernels import _triton

        return _triton.rmsnorm_rows(x, weight, eps, out_dtype)
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(out_dtype)
