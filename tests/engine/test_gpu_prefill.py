"""The bundled model on the GPU, as the product runs it (load_engine: mamba_ssm Triton scans for prefill,
fused step kernels and CUDA graphs for decoding), against the PyTorch reference model with the same weights.

Tolerances. The model runs in fp32, but the Triton scans multiply in TF32 (10-bit mantissas, like bf16's 8
bits a rounding of ~1e-3 per product), so logits and states are held to a relative error of 2e-2 (a few
bf16 roundings), not to fp32's 1e-6. The router decides p >= 0.5: where the reference's p lies within 5e-3 of
0.5 the two may decide differently; anywhere else a different decision is a bug, and there may be few.
Run: pytest -m gpu tests/engine/test_gpu_prefill.py"""

import pytest
import torch

from engine.bytes import BOS
from engine.protocol import GenerationRequest
from engine.state import tree_leaves

pytestmark = pytest.mark.gpu
LENGTHS = [1, 1023, 1024, 1025, 4096, 65536]


def rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm().clamp(min=1e-12))


@pytest.fixture(scope="module")
def engine():
    from engine.api import load_engine
    from engine.resources import bundled_model_dir

    return load_engine(bundled_model_dir(), backend="mamba_ssm", device="cuda")  # warms up: graphs captured


@pytest.fixture(scope="module")
def reference():
    from engine.model import HNetLM
    from engine.resources import bundled_model_dir

    return HNetLM.load(bundled_model_dir(), device="cuda", backend="torch")


@pytest.fixture(scope="module")
def document():
    from engine.resources import demo_document

    text = demo_document().read_bytes()
    return bytes([BOS]) + (text * (max(LENGTHS) // len(text) + 1))[: max(LENGTHS) - 1]


@pytest.mark.parametrize("nbytes", LENGTHS)
def test_prefill_matches_the_reference_model(engine, reference, document, nbytes):
    prompt = document[:nbytes]
    engine.sampler.cache.clear()
    logits, state = engine.sampler.prefill(prompt)
    ids = torch.tensor(list(prompt), device="cuda")[None]
    with torch.no_grad():
        ref = reference(ids, return_state=True)
        mine = engine.model(ids)  # the whole prompt in one Triton pass: per-position logits and boundaries
    assert logits.shape == (1, 256) and torch.isfinite(logits).all()
    flips = []
    for b_mine, b_ref, p_ref in zip(mine.boundaries, ref.boundaries, ref.probs):
        if b_mine.shape != b_ref.shape:
            break  # an earlier stage decided differently: its chunk sequences differ in length
        diff = (b_mine != b_ref)[0]
        flips.append(int(diff.sum()))
        near = (p_ref[0] - 0.5).abs() < 5e-3
        assert not (diff & ~near).any(), f"boundary decided differently far from p = 0.5 at {nbytes} bytes"
    assert sum(flips) <= max(1, nbytes // 1000), f"{flips} boundary flips in {nbytes} bytes"
    if sum(flips) == 0:  # same chunks: everything is held to the same function
        assert rel(mine.logits, ref.logits) < 2e-2, "per-position logits"
        assert rel(logits[0], ref.logits[0, -1]) < 2e-2, "logits after the prompt (segmented prefill)"
        for a, b in zip(tree_leaves(state), tree_leaves(ref.state), strict=True):
            assert a.shape == b.shape
            if b.dtype == torch.bool:
                assert torch.equal(a, b)
            elif b.float().norm() > 0:
                assert rel(a, b) < 2e-2, f"state leaf {tuple(b.shape)}"


def test_engine_generates_on_a_long_document_by_the_graphed_path(engine, document):
    sampler = engine.sampler
    assert sampler.decode_path(3) == "graph" and sampler.decode_path(64) == "graph"
    prompt = document[:60_000]
    cands = engine.generate(GenerationRequest(prompt, stop=[], n=3, max_bytes=200, seed=1, temperature=0.8))
    assert len(cands) == 3 and all(c.nbytes == 200 and c.finish == "length" for c in cands)
    again = engine.generate(GenerationRequest(prompt, stop=[], n=3, max_bytes=200, seed=1, temperature=0.8))
    assert [c.text for c in again] == [c.text for c in cands]
    assert sampler.cache.hits >= 1  # the document's state was reused by the second request


def test_graphed_greedy_decoding_equals_the_eager_reference_step(engine, document):
    """Graphs + fused kernels against today's path (eager steps, reference arithmetic) on a long prompt."""
    from engine.kernels.select import use_fused_step

    req = GenerationRequest(document[:20_000], stop=[], n=2, max_bytes=48, seed=0, temperature=0.0)
    from engine.decode import SlotDecoder

    graphed = engine.generate(req)
    graphs, engine.sampler.decoder = engine.sampler.decoder, SlotDecoder(engine.model)  # eager steps
    try:
        use_fused_step(engine.model, "torch")
        eager = engine.generate(req)
    finally:
        engine.sampler.decoder = graphs
        use_fused_step(engine.model, "triton")
    assert [c.text for c in graphed] == [c.text for c in eager]
    for a, b in zip(graphed, eager):
        assert a.logprob == pytest.approx(b.logprob, rel=1e-3, abs=1e-3)


def test_fused_step_equals_reference_step_on_the_bundled_model(engine, document):
    from engine.kernels.select import use_fused_step

    model = engine.model
    _, state = engine.sampler.prefill(document[:4096])
    ids = torch.tensor(list(document[4096:4160]), device="cuda")
    s_ref = s_tri = type(state)(state.backbone, state.position)
    try:
        for t in range(ids.shape[0]):
            use_fused_step(model, "torch")
            l_ref, s_ref, f_ref = model.step(ids[t:t + 1], s_ref, static=True)
            use_fused_step(model, "triton")
            l_tri, s_tri, f_tri = model.step(ids[t:t + 1], s_tri, static=True)
            assert torch.equal(f_tri[0], f_ref[0])
            assert rel(l_tri, l_ref) < 1e-4
    finally:
        use_fused_step(model, "triton")


@pytest.mark.parametrize("nbytes", [2049, 4097])
def test_cpu_sized_segments_with_a_boundaryless_last_segment(engine, reference, document, nbytes):
    """1 KB segments (the CPU's, and the server's cache granularity) leave a 1-byte last segment that holds no
    chunk boundary: the case that crashed the Triton scan. Same logits as the reference in one pass."""
    from engine.generate import SEGMENT, PrefixCache, Sampler

    logits, _ = Sampler(engine.model, PrefixCache(0), segment=SEGMENT).prefill(document[:nbytes])
    with torch.no_grad():
        ref = reference(torch.tensor(list(document[:nbytes]), device="cuda")[None])
    assert rel(logits[0], ref.logits[0, -1]) < 2e-2
