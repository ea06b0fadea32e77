"""Mamba-2 kernels: the chunked SSD scan against the plain recurrence, the mixer's step against its
forward, and (on the GPU) the mamba_ssm Triton backend against the PyTorch reference."""

import sys

import pytest
import torch

from engine.ssm import Mamba2Mixer, kernels
from engine.ssm.reference import segsum, ssd_scan, ssd_sequential


def random_ssm(b, l, h, p, g, n, seed, device="cpu", dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    def r(*s):
        return torch.randn(*s, generator=gen)
    x = r(b, l, h, p)
    dt = torch.nn.functional.softplus(r(b, l, h) - 2)
    A = -torch.rand(h, generator=gen) * 4 - 0.1
    B, C = r(b, l, g, n), r(b, l, g, n)
    D = r(h)
    return [t.to(device=device, dtype=dtype) for t in (x, dt, A, B, C, D)]


def test_segsum_matches_definition():
    x = torch.randn(7)
    s = segsum(x)
    for i in range(7):
        for j in range(7):
            expect = x[j + 1:i + 1].sum() if i >= j else float("-inf")
            assert torch.allclose(s[i, j], torch.as_tensor(expect), atol=1e-6) or (i < j and s[i, j] == float("-inf"))


@pytest.mark.parametrize("l,chunk", [(1, 4), (7, 4), (16, 4), (33, 8), (64, 64), (100, 16)])
@pytest.mark.parametrize("h,g", [(2, 1), (4, 2)])
@pytest.mark.parametrize("with_init", [False, True])
def test_chunked_scan_equals_sequential_recurrence(l, chunk, h, g, with_init):
    x, dt, A, B, C, D = random_ssm(2, l, h, 8, g, 16, seed=l * 31 + h)
    init = torch.randn(2, h, 8, 16) if with_init else None
    y, final = ssd_scan(x, dt, A, B, C, chunk, D=D, initial_state=init)
    y_ref, final_ref = ssd_sequential(x, dt, A, B, C, D=D, initial_state=init)
    torch.testing.assert_close(y, y_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(final, final_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("l", [1, 5, 40])
def test_mixer_step_reproduces_forward(l):
    torch.manual_seed(l)
    mixer = Mamba2Mixer(32, d_state=16, headdim=16, chunk_size=8).eval()
    u = torch.randn(3, l, 32)
    with torch.no_grad():
        y, final = mixer(u, return_state=True)
        state = mixer.allocate_state(3)
        for t in range(l):
            yt, state = mixer.step(u[:, t], state)
            torch.testing.assert_close(yt, y[:, t], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(state.ssm, final.ssm, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(state.conv, final.conv)


def test_mixer_parameter_names_match_mamba_ssm():
    """Checkpoints move between backends: names and shapes are mamba_ssm.Mamba2's (ngroups=1)."""
    mixer = Mamba2Mixer(64, d_state=32, headdim=16, expand=2, d_conv=4)
    shapes = {k: tuple(v.shape) for k, v in mixer.state_dict().items()}
    d_inner, nheads = 128, 8
    assert shapes == {
        "in_proj.weight": (2 * d_inner + 2 * 32 + nheads, 64),
        "conv1d.weight": (d_inner + 64, 1, 4), "conv1d.bias": (d_inner + 64,),
        "dt_bias": (nheads,), "A_log": (nheads,), "D": (nheads,),
        "norm.weight": (d_inner,), "out_proj.weight": (64, d_inner),
    }


def test_selective_scan_placeholder_is_registered_only_when_missing(monkeypatch):
    monkeypatch.delitem(sys.modules, "selective_scan_cuda", raising=False)
    assert kernels._install_selective_scan_placeholder() is True
    mod = sys.modules["selective_scan_cuda"]
    assert "placeholder" in mod.__doc__
    assert not hasattr(mod, "fwd")  # calling Mamba-1 would fail loudly, not silently
    assert kernels._install_selective_scan_placeholder() is False  # idempotent


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_mamba_ssm_backend_refuses_clearly_without_cuda():
    ok, why = kernels.availability()
    assert not ok and "CUDA" in why


# ------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-3), (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize("l", [64, 300, 1024])
def test_triton_mixer_equals_reference_forward_and_backward(dtype, tol, l):
    torch.manual_seed(0)
    ref = Mamba2Mixer(128, d_state=64, headdim=32).cuda()
    tri = Mamba2Mixer(128, d_state=64, headdim=32).cuda()
    tri.load_state_dict(ref.state_dict())
    tri.backend = "mamba_ssm"
    u = torch.randn(2, l, 128, device="cuda")
    outs, grads = [], []
    for m in (ref, tri):
        x = u.clone().requires_grad_(True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            y, _ = m(x)
        y.float().pow(2).mean().backward()
        outs.append(y.float())
        grads.append([x.grad] + [p.grad for p in m.parameters()])
        m.zero_grad()
    def rel(a, b):
        return ((a - b).norm() / b.norm().clamp(min=1e-12)).item()
    assert rel(outs[1], outs[0]) < tol
    for g_tri, g_ref in zip(grads[1], grads[0]):
        assert rel(g_tri.float(), g_ref.float()) < tol * 3


@pytest.mark.gpu
def test_triton_stateful_forward_equals_reference():
    torch.manual_seed(1)
    ref = Mamba2Mixer(64, d_state=32, headdim=32).cuda().eval()
    tri = Mamba2Mixer(64, d_state=32, headdim=32).cuda().eval()
    tri.load_state_dict(ref.state_dict())
    tri.backend = "mamba_ssm"
    u = torch.randn(1, 200, 64, device="cuda")
    with torch.no_grad():
        a_ref, s_ref = ref(u[:, :120], return_state=True)
        a_tri, s_tri = tri(u[:, :120], return_state=True)
        b_ref, _ = ref(u[:, 120:], s_ref, return_state=True)
        b_tri, _ = tri(u[:, 120:], s_tri, return_state=True)
    torch.testing.assert_close(a_tri, a_ref, rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(b_tri, b_ref, rtol=2e-3, atol=2e-3)
    torch.testing.assert_close(s_tri.ssm, s_ref.ssm, rtol=2e-3, atol=2e-3)


# ---------------------------------------------------------------- the CPU prefill kernels (engine/ssm/cpu_scan.py)
SCAN_FP32 = dict(rtol=1e-4, atol=1e-4)  # fp32 rounding: the same sums, formed in another order


@pytest.mark.parametrize("l", [1, 63, 64, 65, 1023, 1024, 1025, 4096])
@pytest.mark.parametrize("with_init", [False, True])
def test_cpu_scan_equals_reference_scan(l, with_init):
    """The fast CPU scan against the reference at lengths around its chunk size, with heads that decay by more
    than WIDE over a chunk (they take the per-head tile) beside heads that decay slowly (the factored form)."""
    from engine.ssm import cpu_scan

    x, dt, A, B, C, D = random_ssm(2, l, 8, 16, 2, 32, seed=l + 7 * with_init)
    A = A * torch.tensor([1, 1, 1, 1, 1, 1, 40, 100.0])  # two heads decay by ~10-40 per position: wide chunks
    init = torch.randn(2, 8, 16, 32) if with_init else None
    y_ref, final_ref = ssd_scan(x, dt, A, B, C, 64, D=D, initial_state=init)
    y, final = cpu_scan.ssd_scan(x, dt, A, B, C, cpu_scan.CHUNK, D=D, initial_state=init)
    torch.testing.assert_close(y, y_ref, **SCAN_FP32)
    torch.testing.assert_close(final, final_ref, **SCAN_FP32)
    if l >= 64:
        assert (A[:, None] * dt[0, :64].sum(0)).min() < -cpu_scan.WIDE  # the tile path ran


@pytest.mark.parametrize("chunk", [16, 32, 128])
def test_cpu_scan_is_the_same_function_at_any_chunk_size(chunk):
    from engine.ssm import cpu_scan

    x, dt, A, B, C, D = random_ssm(1, 300, 4, 8, 1, 16, seed=chunk)
    y_ref, final_ref = ssd_sequential(x, dt, A, B, C, D=D)
    y, final = cpu_scan.ssd_scan(x, dt, A, B, C, chunk, D=D)
    torch.testing.assert_close(y, y_ref, **SCAN_FP32)
    torch.testing.assert_close(final, final_ref, **SCAN_FP32)


@pytest.mark.parametrize("m", [1, 63, 64, 65, 300])
@pytest.mark.parametrize("with_init", [False, True])
def test_cpu_ema_equals_reference_ema(m, with_init):
    from engine.hnet import ema
    from engine.ssm import cpu_scan

    gen = torch.Generator().manual_seed(m)
    z = torch.randn(2, m, 320, generator=gen)
    w = torch.rand(2, m, generator=gen).clamp(1e-4, 1 - 1e-4)
    init = torch.randn(2, 320, generator=gen) if with_init else None
    reference = ema(z, w, init, "torch", 64)  # outside fast_prefill(): the reference scan
    torch.testing.assert_close(cpu_scan.ema(z, w, init), reference, **SCAN_FP32)


def test_cpu_causal_conv_equals_reference_conv():
    from engine.ssm import cpu_scan

    full = torch.randn(2, 3 + 100, 48)
    w, bias = torch.randn(48, 1, 4), torch.randn(48)
    torch.testing.assert_close(cpu_scan.causal_conv(full, w, bias), cpu_scan.causal_conv_reference(full, w, bias),
                               **SCAN_FP32)


def test_cpu_gated_norm_equals_reference():
    from engine.ssm import cpu_scan
    from engine.ssm.reference import rmsnorm_gated

    x, z, w = torch.randn(2, 50, 640), torch.randn(2, 50, 640), torch.randn(640)
    torch.testing.assert_close(cpu_scan.rmsnorm_gated(x, z, w, 1e-5), rmsnorm_gated(x, z, w, 1e-5, 640), **SCAN_FP32)
