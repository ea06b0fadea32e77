"""The language model: `step` reproduces `forward` for every layout, states carry across segments,
gradients reach the router, the ratio loss is H-Net's formula, and checkpoints round-trip."""

import json

import pytest
import torch

from engine.config import ModelConfig, preset
from engine.hnet import ratio_loss
from engine.model import HNetLM, ModelLoadError

LAYOUTS = ["tiny", "tiny-2stage", "tiny-iso", "tiny-transformer"]
TOL = dict(rtol=1e-4, atol=1e-4)  # fp32 on CPU: parallel scan vs recurrence differ by rounding only


def model(name, seed=0):
    torch.manual_seed(seed)
    return HNetLM(preset(name)).eval()


def ids(l, seed=0, b=1):
    return torch.randint(0, 0xF5, (b, l), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", LAYOUTS)
def test_step_reproduces_forward_byte_by_byte(name):
    m, x = model(name), ids(80)
    with torch.no_grad():
        full = m(x).logits
        state = m.allocate_state(1)
        for t in range(x.shape[1]):
            logits, state, _ = m.step(x[:, t], state)
            torch.testing.assert_close(logits, full[:, t], **TOL)


@pytest.mark.parametrize("name", LAYOUTS)
def test_step_batch_of_streams_with_different_boundaries(name):
    """Streams in one batch fire boundaries at different bytes; each must match its own forward."""
    m, x = model(name, 1), ids(50, seed=3, b=3)
    with torch.no_grad():
        state = m.allocate_state(3)
        steps = []
        for t in range(x.shape[1]):
            logits, state, _ = m.step(x[:, t], state)
            steps.append(logits)
        steps = torch.stack(steps, 1)
        for row in range(3):
            torch.testing.assert_close(steps[row], m(x[row:row + 1]).logits[0], **TOL)


@pytest.mark.parametrize("name", LAYOUTS)
def test_forward_continues_from_a_state(name):
    m, x = model(name, 2), ids(120, seed=5)
    with torch.no_grad():
        full = m(x).logits
        a = m(x[:, :47], return_state=True)
        b = m(x[:, 47:], state=a.state, return_state=True)
    torch.testing.assert_close(torch.cat([a.logits, b.logits], 1), full, **TOL)
    assert b.state.position == 120


def test_step_reports_boundaries_like_forward():
    m, x = model("tiny-2stage"), ids(60, seed=9)
    with torch.no_grad():
        out = m(x)
        state, fired = m.allocate_state(1), []
        for t in range(60):
            _, state, f = m.step(x[:, t], state)
            fired.append([bool(s[0]) for s in f])
    stage1 = [f[0] for f in fired]
    assert stage1 == out.boundaries[0][0].tolist()
    assert sum(f[1] for f in fired) == int(out.boundaries[1][0].sum())


def test_gradients_reach_the_router_and_every_parameter():
    m = model("tiny-2stage").train()
    ce, ratio, _ = m.loss(ids(64, b=2))
    (ce + ratio).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    routers = [p for n, p in m.named_parameters() if "router" in n]
    assert routers and all(p.grad.abs().sum() > 0 for p in routers)


@pytest.mark.parametrize("F_,G,N,expect", [
    (0.25, 0.25, 4.0, 1.0),  # on target: the minimum, 1
    (1.0, 1.0, 4.0, 4.0),  # every byte a boundary: N/(N-1) * (N-1) = N
    (0.0, 0.0, 4.0, 4 / 3),  # no boundaries: N/(N-1)
    (0.5, 0.25, 2.0, 1.0),  # N/(N-1) * ((N-1) F G + (1-F)(1-G)) = 2 * (0.125 + 0.375)
])
def test_ratio_loss_matches_formula(F_, G, N, expect):
    n = 8
    b = torch.zeros(n, dtype=torch.bool)
    b[: int(F_ * n)] = True
    p = torch.full((n,), G)
    assert ratio_loss(b, p, N).item() == pytest.approx(expect, rel=1e-6)


def test_ratio_loss_ignores_padding():
    b = torch.tensor([[True, False, True, True]])
    p = torch.tensor([[0.5, 0.5, 0.9, 0.9]])
    mask = torch.tensor([[True, True, False, False]])
    assert ratio_loss(b, p, 2.0, mask).item() == pytest.approx(ratio_loss(b[:, :2], p[:, :2], 2.0).item())


def test_save_load_gives_identical_outputs(tmp_path):
    m, x = model("tiny-2stage"), ids(40)
    m.save(tmp_path)
    loaded = HNetLM.load(tmp_path, backend="torch")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, m(x).logits, rtol=0, atol=0)
    assert loaded.config == m.config


def test_fp16_checkpoint_is_half_the_size_and_close(tmp_path):
    m, x = model("tiny"), ids(40)
    m.save(tmp_path / "a")
    m.save(tmp_path / "b", dtype=torch.float16)
    assert (tmp_path / "b/model.safetensors").stat().st_size < 0.6 * (tmp_path / "a/model.safetensors").stat().st_size
    with torch.no_grad():
        torch.testing.assert_close(HNetLM.load(tmp_path / "b")(x).logits, m(x).logits, rtol=0, atol=2e-2)


def test_int8_checkpoint_quantises_matrices_and_stays_close(tmp_path):
    from safetensors.torch import load_file

    from engine import quant

    m, x = model("tiny"), ids(40)
    m.save(tmp_path / "a")
    m.save(tmp_path / "q", dtype="int8")
    stored = load_file(str(tmp_path / "q/model.safetensors"))
    matrices = [k for k, v in m.state_dict().items() if v.dim() == 2 and v.numel() >= quant.MIN_NUMEL]
    assert matrices and all(stored[k].dtype == torch.int8 for k in matrices)
    # per-row absmax scaling: each weight is off by at most half a quantisation step
    for k in matrices:
        w = m.state_dict()[k]
        step = w.abs().amax(1, keepdim=True) / 127
        assert ((quant.dequantize(stored)[k] - w).abs() <= 0.5 * step + 1e-3 * step.max()).all()
    loaded = HNetLM.load(tmp_path / "q")
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).logits, m(x).logits, rtol=0, atol=5e-2)


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="not a directory"):
        HNetLM.load(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="model.safetensors is missing"):
        HNetLM.load(tmp_path)
    model("tiny").save(tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated"):
        HNetLM.load(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"this is not a model")
    with pytest.raises(ModelLoadError):
        HNetLM.load(tmp_path)
    model("tiny").save(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"layout": ["m1", ["m1"]], "d_model": [32, 48]}))
    with pytest.raises(ModelLoadError, match="config"):
        HNetLM.load(tmp_path)


def test_newer_format_is_refused():
    with pytest.raises(ValueError, match="newer"):
        ModelConfig.from_dict({"format_version": 99})


def test_attention_layers_in_an_isotropic_model():
    cfg = ModelConfig(name="t", layout=["m1t1"], d_model=[32], d_state=16, headdim=16, n_attn_heads=4,
                      target_ratio=[], lr_multiplier=[1.0])
    torch.manual_seed(0)
    m, x = HNetLM(cfg).eval(), ids(30)
    with torch.no_grad():
        full = m(x).logits
        state = m.allocate_state(1)
        for t in range(30):
            logits, state, _ = m.step(x[:, t], state)
            torch.testing.assert_close(logits, full[:, t], **TOL)


def test_attention_inside_a_stage_is_refused():
    with pytest.raises(ValueError, match="isotropic"):
        HNetLM(ModelConfig(layout=["m1", ["t1"], "m1"], d_model=[32, 32], d_state=16, headdim=16, n_attn_heads=4))


# ------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@pytest.mark.parametrize("name", ["tiny", "tiny-2stage"])
def test_triton_model_equals_reference_model(name):
    m = model(name).cuda()
    x = ids(500, b=2).cuda()
    with torch.no_grad():
        ref = m(x).logits
        m.set_backend("mamba_ssm")
        tri = m(x).logits
        m.set_backend("torch")
    assert ((tri - ref).norm() / ref.norm()).item() < 2e-3


@pytest.mark.gpu
def test_gpu_trained_checkpoint_generates_on_cpu(tmp_path):
    from engine.api import GenerationRequest, load_engine

    torch.manual_seed(0)
    m = HNetLM(preset("tiny")).cuda().train()
    m.set_backend("mamba_ssm")
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    data = torch.tensor(list(b"The quick brown fox jumps over the lazy dog. " * 40), device="cuda")[None]
    first = None
    for _ in range(30):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            ce, ratio, _ = m.loss(data[:, :512])
        (ce + ratio).backward()
        opt.step()
        opt.zero_grad()
        first = first or ce.item()
    assert ce.item() < first
    m.save(tmp_path)
    engine = load_engine(tmp_path, device="cpu")
    assert engine.info().backend == "torch" and engine.info().device == "cpu"
    cands = engine.generate(GenerationRequest(prompt=b"\xf5The quick", n=2, max_bytes=40, seed=0))
    assert len(cands) == 2 and all(c.nbytes > 0 for c in cands)


@pytest.mark.parametrize("name", ["tiny", "tiny-2stage"])
def test_static_step_equals_dynamic_step(name):
    """The graph-capturable step (inner network always run, result masked) computes the same."""
    m, x = model(name, 4), ids(40, seed=2, b=2)
    with torch.no_grad():
        s1, s2 = m.allocate_state(2), m.allocate_state(2)
        for t in range(40):
            a, s1, fa = m.step(x[:, t], s1)
            b, s2, fb = m.step(x[:, t], s2, static=True)
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            assert all(torch.equal(u, v) for u, v in zip(fa, fb))
