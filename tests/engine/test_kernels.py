"""The fused decoding-step kernels (engine/kernels) against their PyTorch references, and the model's step
with them against the reference step. On a GPU they run for real; on a CPU only through Triton's interpreter,
when asked: TRITON_INTERPRET=1 pytest -m triton tests/engine/test_kernels.py"""

import os

import pytest
import torch

from engine.config import preset
from engine.kernels import conv_ssm_step, dechunk_step, rmsnorm_rows, route_step
from engine.kernels.select import use_fused_step
from engine.model import HNetLM
from engine.ssm import Mamba2Mixer

pytestmark = pytest.mark.triton


@pytest.fixture(scope="module")
def device():
    pytest.importorskip("triton")
    if torch.cuda.is_available():
        return "cuda"
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("Triton kernels on a CPU run only through the interpreter: set TRITON_INTERPRET=1")
    return "cpu"


def mamba_inputs(b, h, p, n, k, dtype, device, seed=0, strided=True):
    g = torch.Generator().manual_seed(seed)
    c = h * p + 2 * n

    def r(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(device)

    # xBC, z and dt as views into one in_proj output, and a conv state cut from a longer window, as in the model
    zxbcdt = r(b, h * p + c + h).to(dtype)
    z, xBC, dt = torch.split(zxbcdt, [h * p, c, h], dim=-1)
    conv_state = r(b, c, k + 3)[..., -k:] if strided else r(b, c, k)
    return dict(conv_state=conv_state, xBC=xBC, conv_w=r(c, k, scale=0.5), conv_b=r(c, scale=0.1),
                ssm_state=r(b, h, p, n), dt=dt, dt_bias=r(h, scale=0.5) - 3,
                A_log=torch.log(torch.rand(h, generator=g) * 15 + 1).to(device), D=r(h), z=z)


@pytest.mark.parametrize("shape", [(1, 10, 64, 64, 4), (3, 16, 64, 64, 4), (2, 4, 32, 16, 4), (2, 3, 24, 20, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_conv_ssm_step_equals_reference(device, shape, dtype):
    inputs = mamba_inputs(*shape, dtype, device)
    before = {k: v.clone() for k, v in inputs.items()}
    ref = conv_ssm_step(**inputs, impl="torch")
    tri = conv_ssm_step(**inputs, impl="triton")
    for name, a, b in zip(("conv", "ssm", "y"), tri, ref):
        assert a.dtype == b.dtype and a.shape == b.shape, name
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=name)
    for k, v in inputs.items():  # out of place: a stream that does not step keeps its old state
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("b,d", [(1, 1024), (3, 640), (5, 100)])
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_rows_equals_reference(device, b, d, out_dtype):
    g = torch.Generator().manual_seed(b * d)
    x = (torch.randn(b, d, generator=g) * 3).to(device)
    w = torch.randn(d, generator=g).to(device)
    torch.testing.assert_close(rmsnorm_rows(x, w, 1e-5, out_dtype, "triton"), rmsnorm_rows(x, w, 1e-5, out_dtype),
                               rtol=1e-5 if out_dtype == torch.float32 else 1e-2, atol=1e-5)


@pytest.mark.parametrize("b,d", [(2, 320), (4, 512), (3, 48)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_route_and_dechunk_equal_reference(device, b, d, dtype):
    g = torch.Generator().manual_seed(d)
    q = torch.randn(b, d, generator=g).to(device, dtype)
    # some rows nearly parallel (no boundary), some not; one row before its first byte
    k_prev = torch.where(torch.arange(b)[:, None].to(device) % 2 == 0, q.float() + 0.05,
                         torch.randn(b, d, generator=g).to(device)).to(dtype)
    has_prev = (torch.arange(b) != b - 1).to(device)
    p_ref, f_ref = route_step(q, k_prev, has_prev)
    p_tri, f_tri = route_step(q, k_prev, has_prev, "triton")
    torch.testing.assert_close(p_tri, p_ref, rtol=1e-5, atol=1e-6)
    assert torch.equal(f_tri, f_ref) and f_ref[-1] and f_ref.dtype == torch.bool
    assert not f_ref.all()  # both kinds of rows: the EMA below is checked where it fires and where it holds
    up_z = torch.randn(b, d, generator=g).to(device, dtype)
    zbar = torch.randn(b, d, generator=g).to(device)
    res = torch.randn(b, d, generator=g).to(device, dtype)
    for a, r in zip(dechunk_step(p_ref, f_ref, up_z, zbar, res, "triton"), dechunk_step(p_ref, f_ref, up_z, zbar, res)):
        assert a.dtype == r.dtype
        # a bf16 output may differ by one rounding of operands up to |4| (the interpreter rounds differently)
        tol = dict(rtol=1e-5, atol=1e-5) if a.dtype == torch.float32 else dict(rtol=1.6e-2, atol=4 * 2 ** -7)
        torch.testing.assert_close(a, r, **tol)


def test_mixer_step_with_fused_kernels_equals_reference_step(device):
    torch.manual_seed(0)
    mixer = Mamba2Mixer(96, d_state=16, headdim=32).to(device).eval()
    u = torch.randn(2, 12, 96, device=device)
    with torch.no_grad():
        _, state = mixer(u[:, :4], return_state=True)  # a prefill state: its conv window is a strided view
        s_ref = s_tri = state
        u = u[:, 4:]
        for t in range(u.shape[1]):
            mixer.step_impl = None
            y_ref, s_ref = mixer.step(u[:, t], s_ref)
            mixer.step_impl = "triton"
            y_tri, s_tri = mixer.step(u[:, t], s_tri)
            torch.testing.assert_close(y_tri, y_ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(s_tri.ssm, s_ref.ssm, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(s_tri.conv, s_ref.conv, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["tiny", "tiny-2stage"])
def test_model_static_step_with_fused_kernels_equals_reference(device, name):
    torch.manual_seed(1)
    model = HNetLM(preset(name)).to(device).eval()
    ids = torch.randint(0, 256, (3, 12), generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        s_ref, s_tri = model.allocate_state(3), model.allocate_state(3)
        fired_any = 0
        for t in range(ids.shape[1]):
            use_fused_step(model, "torch")
            l_ref, s_ref, f_ref = model.step(ids[:, t], s_ref, static=True)
            use_fused_step(model, "triton")
            l_tri, s_tri, f_tri = model.step(ids[:, t], s_tri, static=True)
            torch.testing.assert_close(l_tri, l_ref, rtol=1e-4, atol=1e-4)
            assert all(torch.equal(a, b) for a, b in zip(f_tri, f_ref))
            fired_any += int(f_ref[0].sum())
    assert 0 < fired_any < 3 * ids.shape[1]  # boundaries fired on some bytes, not all
