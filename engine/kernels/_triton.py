"""Triton kernels for the decoding step (see mamba_step.py and hnet_step.py for what each computes and
for the torch references with the same signatures). One program per (stream, head) for the Mamba-2 step,
one per stream for the row kernels: at decoding batch sizes each reads a few KB of state and weights, so
the point is fewer launches and one pass over memory, not tiling."""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def _conv_window(conv_ptr, s_cb, s_cc, s_ck, xbc_ptr, s_xb, w_ptr, s_wc, bias_ptr, out_ptr, b, ch, mask, write,
                 C_DIM: tl.constexpr, K: tl.constexpr, BK: tl.constexpr):
    """Shift in this position's input for channels `ch`, write the new window (where `write`), return silu(conv)."""
    offs_k = tl.arange(0, BK)
    mk = offs_k[None, :] < K
    prev = tl.load(conv_ptr + b * s_cb + ch[:, None] * s_cc + (offs_k[None, :] + 1) * s_ck,
                   mask=mask[:, None] & (offs_k[None, :] < K - 1), other=0.0).to(tl.float32)
    new = tl.load(xbc_ptr + b * s_xb + ch, mask=mask, other=0.0).to(tl.float32)
    win = tl.where(offs_k[None, :] == K - 1, new[:, None], prev)
    w = tl.load(w_ptr + ch[:, None] * s_wc + offs_k[None, :], mask=mask[:, None] & mk, other=0.0).to(tl.float32)
    acc = tl.sum(win * w, axis=1) + tl.load(bias_ptr + ch, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + (b * C_DIM + ch[:, None]) * K + offs_k[None, :], win.to(out_ptr.dtype.element_ty),
             mask=write & mask[:, None] & mk)
    return acc * tl.sigmoid(acc)


@triton.jit
def _conv_ssm_step_kernel(conv_ptr, s_cb, s_cc, s_ck, xbc_ptr, s_xb, w_ptr, s_wc, bias_ptr,
                          ssm_ptr, s_sb, s_sh, s_sp, s_sn, dt_ptr, s_db, dt_bias_ptr, a_log_ptr, d_ptr, z_ptr, s_zb,
                          conv_out_ptr, ssm_out_ptr, y_ptr,
                          H: tl.constexpr, P: tl.constexpr, N: tl.constexpr, K: tl.constexpr,
                          BP: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    b = tl.program_id(0)
    h = tl.program_id(1)
    HP: tl.constexpr = H * P
    C_DIM: tl.constexpr = HP + 2 * N
    offs_p = tl.arange(0, BP)
    offs_n = tl.arange(0, BN)
    mp = offs_p < P
    mn = offs_n < N
    ch_x = h * P + offs_p
    x = _conv_window(conv_ptr, s_cb, s_cc, s_ck, xbc_ptr, s_xb, w_ptr, s_wc, bias_ptr, conv_out_ptr, b, ch_x, mp,
                     h >= 0, C_DIM, K, BK)  # each head writes its own x channels
    # B and C are shared by all heads (ngroups 1): every program computes them, head 0 writes their window
    B = _conv_window(conv_ptr, s_cb, s_cc, s_ck, xbc_ptr, s_xb, w_ptr, s_wc, bias_ptr, conv_out_ptr, b,
                     HP + offs_n, mn, h == 0, C_DIM, K, BK)
    C = _conv_window(conv_ptr, s_cb, s_cc, s_ck, xbc_ptr, s_xb, w_ptr, s_wc, bias_ptr, conv_out_ptr, b,
                     HP + N + offs_n, mn, h == 0, C_DIM, K, BK)
    dt = tl.load(dt_ptr + b * s_db + h).to(tl.float32) + tl.load(dt_bias_ptr + h).to(tl.float32)
    e = tl.exp(dt)
    one_e = 1.0 + e
    soft = tl.where(one_e == 1.0, e, tl.log(one_e) * e / (one_e - 1.0))  # log1p(e), accurate for small e
    dt = tl.where(dt > 20.0, dt, soft)  # F.softplus's threshold
    decay = tl.exp(-dt * tl.exp(tl.load(a_log_ptr + h).to(tl.float32)))  # exp(dt A), A = -exp(A_log)
    m2 = mp[:, None] & mn[None, :]
    S = tl.load(ssm_ptr + b * s_sb + h * s_sh + offs_p[:, None] * s_sp + offs_n[None, :] * s_sn, mask=m2, other=0.0)
    S = S * decay + (dt * x)[:, None] * B[None, :]
    tl.store(ssm_out_ptr + ((b * H + h) * P + offs_p[:, None]) * N + offs_n[None, :], S, mask=m2)
    y = tl.sum(S * C[None, :], axis=1) + tl.load(d_ptr + h).to(tl.float32) * x
    z = tl.load(z_ptr + b * s_zb + ch_x, mask=mp, other=0.0).to(tl.float32)
    tl.store(y_ptr + b * HP + ch_x, y * z * tl.sigmoid(z), mask=mp)


def conv_ssm_step(conv_state, xBC, conv_w, conv_b, ssm_state, dt, dt_bias, A_log, D, z):
    b, h, p, n = ssm_state.shape
    c, k = conv_state.shape[1], conv_state.shape[2]
    for t, name in ((xBC, "xBC"), (dt, "dt"), (z, "z"), (conv_w, "conv_w")):
        if t.stride(-1) != 1:
            raise ValueError(f"{name} must be contiguous in its last dimension")
    conv_out = torch.empty(b, c, k, device=xBC.device, dtype=conv_state.dtype)
    ssm_out = torch.empty(b, h, p, n, device=xBC.device, dtype=torch.float32)
    y = torch.empty(b, h * p, device=xBC.device, dtype=torch.float32)
    _conv_ssm_step_kernel[(b, h)](
        conv_state, conv_state.stride(0), conv_state.stride(1), conv_state.stride(2), xBC, xBC.stride(0),
        conv_w, conv_w.stride(0), conv_b, ssm_state, *ssm_state.stride(), dt, dt.stride(0), dt_bias, A_log, D,
        z, z.stride(0), conv_out, ssm_out, y, H=h, P=p, N=n, K=k,
        BP=triton.next_power_of_2(p), BN=triton.next_power_of_2(n), BK=triton.next_power_of_2(k))
    return conv_out, ssm_out, y


@triton.jit
def _rmsnorm_rows_kernel(x_ptr, s_xb, w_ptr, out_ptr, D: tl.constexpr, eps, BD: tl.constexpr):
    r = tl.program_id(0)
    offs = tl.arange(0, BD)
    m = offs < D
    x = tl.load(x_ptr + r * s_xb + offs, mask=m, other=0.0).to(tl.float32)
    rstd = tl.rsqrt(tl.sum(x * x, axis=0) / D + eps)
    w = tl.load(w_ptr + offs, mask=m, other=0.0).to(tl.float32)
    tl.store(out_ptr + r * D + offs, (x * rstd * w).to(out_ptr.dtype.element_ty), mask=m)


def rmsnorm_rows(x: Tensor, weight: Tensor, eps: float, out_dtype: torch.dtype) -> Tensor:
    b, d = x.shape
    out = torch.empty(b, d, device=x.device, dtype=out_dtype)
    _rmsnorm_rows_kernel[(b,)](x, x.stride(0), weight, out, D=d, eps=eps, BD=triton.next_power_of_2(d))
    return out


@triton.jit
def _route_kernel(q_ptr, s_qb, k_ptr, s_kb, has_ptr, p_ptr, fired_ptr, D: tl.constexpr, BD: tl.constexpr):
    r = tl.program_id(0)
    offs = tl.arange(0, BD)
    m = offs < D
    q = tl.load(q_ptr + r * s_qb + offs, mask=m, other=0.0).to(tl.float32)
    k = tl.load(k_ptr + r * s_kb + offs, mask=m, other=0.0).to(tl.float32)
    nq = tl.maximum(tl.sqrt(tl.sum(q * q, axis=0)), 1e-8)  # torch's cosine_similarity: each norm clamped
    nk = tl.maximum(tl.sqrt(tl.sum(k * k, axis=0)), 1e-8)
    cos = tl.sum((q / nq) * (k / nk), axis=0)
    p = tl.minimum(tl.maximum((1.0 - cos) / 2.0, 0.0), 1.0)
    has = tl.load(has_ptr + r).to(tl.int32)
    p = tl.where(has != 0, p, 1.0)
    tl.store(p_ptr + r, p)
    tl.store(fired_ptr + r, (p >= 0.5).to(tl.int8))


def route_step(q: Tensor, k_prev: Tensor, has_prev: Tensor) -> tuple[Tensor, Tensor]:
    b, d = q.shape
    p = torch.empty(b, device=q.device, dtype=torch.float32)
    fired = torch.empty(b, device=q.device, dtype=torch.int8)
    _route_kernel[(b,)](q, q.stride(0), k_prev, k_prev.stride(0), has_prev.to(torch.int8), p, fired, D=d,
                        BD=triton.next_power_of_2(d))
    return p, fired.bool()


@triton.jit
def _dechunk_kernel(p_ptr, fired_ptr, u_ptr, s_ub, zbar_ptr, s_zb, res_ptr, s_rb, zbar_out_ptr, dec_ptr,
                    D: tl.constexpr, P_EPS_: tl.constexpr, BD: tl.constexpr):
    r = tl.program_id(0)
    offs = tl.arange(0, BD)
    m = offs < D
    w = tl.minimum(tl.maximum(tl.load(p_ptr + r), P_EPS_), 1.0 - P_EPS_)
    fired = tl.load(fired_ptr + r).to(tl.int32) != 0
    u = tl.load(u_ptr + r * s_ub + offs, mask=m, other=0.0).to(tl.float32)
    zb = tl.load(zbar_ptr + r * s_zb + offs, mask=m, other=0.0).to(tl.float32)
    new = tl.where(fired, w * u + (1.0 - w) * zb, zb)
    tl.store(zbar_out_ptr + r * D + offs, new, mask=m)
    # res + zbar in res's dtype, as the reference: zbar rounded to it, the sum in fp32 and rounded once
    out_ty = dec_ptr.dtype.element_ty
    res = tl.load(res_ptr + r * s_rb + offs, mask=m, other=0.0).to(tl.float32)
    tl.store(dec_ptr + r * D + offs, (res + new.to(out_ty).to(tl.float32)).to(out_ty), mask=m)


def dechunk_step(p: Tensor, fired: Tensor, up_z: Tensor, zbar: Tensor, res: Tensor,
                 p_eps: float) -> tuple[Tensor, Tensor]:
    b, d = zbar.shape
    new = torch.empty(b, d, device=zbar.device, dtype=torch.float32)
    dec = torch.empty(b, d, device=zbar.device, dtype=res.dtype)
    _dechunk_kernel[(b,)](p, fired.to(torch.int8), up_z, up_z.stride(0), zbar, zbar.stride(0), res, res.stride(0),
                          new, dec, D=d, P_EPS_=p_eps, BD=triton.next_power_of_2(d))
    return new, dec
