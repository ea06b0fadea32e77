"""The fused CPU decoding step (engine/fast_cpu.py) against the reference `HNetLM.step`, which stays the
definition: from the same state, the same logits, states and boundary flags, within explicit tolerances.

fp32 weights (a float checkpoint): the same arithmetic in other ops, so fp32 rounding only.
int8 weights (a quantised file, as the bundled model): the reference multiplies the dequantised fp32
weights, the fast step the int8 weights by bf16-rounded activations (8-bit mantissa, ~0.4 % per matmul),
so logits move by a few hundredths of a nat and a boundary decision can flip where the router's
probability is within rounding of 0.5."""

from pathlib import Path

import pytest
import torch

from engine.bytes import CONTROL_BYTES, Utf8State, allowed_mask
from engine.config import preset
from engine.fast_cpu import FastStep
from engine.model import HNetLM
from engine.resources import bundled_model_dir
from engine.state import tree_leaves, tree_map

LAYOUTS = ["tiny", "tiny-2stage", "tiny-iso", "tiny-transformer"]
FP32 = dict(rtol=1e-4, atol=1e-4)
INT8_LOGITS = 0.15  # max |Δ logit| from the same state (measured: 0.08 max, 0.03 median on the bundled model)
INT8_TV = 0.03  # max total-variation distance of the next-byte distributions (measured: 0.014 max)
INT8_STATE = 0.03  # max |Δ| of a state tensor relative to its largest entry
TEXT = Path(__file__).read_bytes()


def model(name, seed=0):
    torch.manual_seed(seed)
    return HNetLM(preset(name)).eval()


def streams(b: int, length: int) -> torch.Tensor:
    """(length, b) real text bytes, each stream at another offset so boundaries fire at different bytes."""
    return torch.stack([torch.tensor(list(TEXT[97 * i: 97 * i + length])) for i in range(b)], dim=1)


def walk(m: HNetLM, fast: FastStep, ids: torch.Tensor, state):
    """Teacher-forced: at each byte, both steps from the reference's state. Yields both results."""
    with torch.inference_mode():
        for t in range(ids.shape[0]):
            ref = m.step(ids[t], state, reference=True)
            yield ref, fast(ids[t], state)
            state = ref[1]


def rel_state_diff(a, b) -> float:
    worst = 0.0
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        if x.is_floating_point() and x.numel():
            worst = max(worst, float((x - y).abs().max() / x.abs().max().clamp(min=1e-6)))
        else:
            assert torch.equal(x, y)
    return worst


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("b", [1, 3])
def test_fp32_fast_step_equals_reference(name, b):
    m = model(name, seed=b)
    fast = FastStep(m)
    assert not fast.int8
    for (l_ref, s_ref, f_ref), (l_fast, s_fast, f_fast) in walk(m, fast, streams(b, 60), m.allocate_state(b)):
        torch.testing.assert_close(l_fast, l_ref, **FP32)
        assert [f.tolist() for f in f_fast] == [f.tolist() for f in f_ref]
        assert s_fast.position == s_ref.position
        if name == "tiny" and not f_ref[0].all():  # streams with no boundary keep their inner state exactly
            for mine, theirs in zip(s_fast.backbone.inner, s_ref.backbone.inner):
                assert torch.equal(mine.ssm[~f_ref[0]], theirs.ssm[~f_ref[0]])
        for x, y in zip(tree_leaves(s_fast), tree_leaves(s_ref), strict=True):
            torch.testing.assert_close(x, y, **FP32)


@pytest.mark.parametrize("name", ["tiny", "tiny-2stage", "tiny-iso"])
def test_int8_fast_step_stays_within_tolerance(name, tmp_path):
    torch.manual_seed(0)
    model(name).save(tmp_path / "q", dtype="int8")
    m = HNetLM.load(tmp_path / "q", device="cpu", backend="torch")
    assert m.fast_step is not None and m.fast_step.int8
    flips = decisions = 0
    for (l_ref, s_ref, f_ref), (l_fast, s_fast, f_fast) in walk(m, m.fast_step, streams(3, 80), m.allocate_state(3)):
        same = f_ref[0] == f_fast[0] if f_ref else torch.ones(3, dtype=torch.bool)
        flips += int((~same).sum())
        decisions += same.numel()
        if same.all():
            assert (l_fast - l_ref).abs().max() <= INT8_LOGITS
            assert rel_state_diff(s_ref, s_fast) <= INT8_STATE
    assert flips <= 0.02 * decisions


def test_bundled_model_fast_step_within_tolerance():
    m = HNetLM.load(bundled_model_dir(), device="cpu", backend="torch")
    assert m.fast_step is not None and m.fast_step.int8  # the bundled file is int8: the int8 path runs
    with torch.inference_mode():
        out = m(torch.tensor([list(TEXT[:700])]), return_state=True)
    state = tree_map(lambda t: t.repeat_interleave(3, 0) if t.dim() else t, out.state)
    flips = decisions = 0
    for (l_ref, _, f_ref), (l_fast, _, f_fast) in walk(m, m.fast_step, streams(3, 150), state):
        same = f_ref[0] == f_fast[0]
        flips += int((~same).sum())
        decisions += 3
        d = (l_fast - l_ref)[same].abs()
        tv = 0.5 * (torch.softmax(l_fast, -1) - torch.softmax(l_ref, -1)).abs().sum(-1)[same]
        assert d.numel() == 0 or (d.max() <= INT8_LOGITS and tv.max() <= INT8_TV)
    assert flips <= 0.02 * decisions


def test_step_dispatch_reference_static_and_reload(tmp_path):
    """step() runs the fast step where built, the reference when asked for (or static, for CUDA graphs);
    set_fast_step(False) turns it off, and the choice is said."""
    torch.manual_seed(0)
    model("tiny").save(tmp_path / "q", dtype="int8")
    m = HNetLM.load(tmp_path / "q", device="cpu", backend="torch")
    assert "int8" in m.set_fast_step(True)
    ids = torch.tensor([65, 66, 67])
    s = m.allocate_state(3)
    with torch.inference_mode():
        fast, ref, static = m.step(ids, s)[0], m.step(ids, s, reference=True)[0], m.step(ids, s, static=True)[0]
    assert not torch.equal(fast, ref)  # bf16 activations: a different (close) result, so the fast step ran
    torch.testing.assert_close(static, ref, **FP32)
    assert m.set_fast_step(False) == "reference step" and m.fast_step is None
    with torch.inference_mode():
        assert torch.equal(m.step(ids, s)[0], ref)


def test_mask_table_equals_the_utf8_rules():
    """allowed_mask: every reachable UTF-8 state, with and without stop bytes, as Utf8State defines it."""
    seen, frontier = {}, [Utf8State()]
    while frontier:
        u = frontier.pop()
        if u.key() in seen:
            continue
        seen[u.key()] = u
        for b in range(256):
            v = u.copy()
            try:
                v.push(b)
            except ValueError:
                continue
            frontier.append(v)
    assert len(seen) >= 5
    for u in seen.values():
        for stops in [(), (0xF6,), (0xF6, 0xF7)]:
            row = allowed_mask(u, stops)
            for byte in range(256):
                ok = any(lo <= byte <= hi for lo, hi in u.allowed_range()) and byte not in CONTROL_BYTES
                ok = ok or (u.complete() and byte in stops)
                assert row[byte] == ok, (u.need, u.lo, u.hi, stops, byte)


def test_prefill_bf16_matmuls_within_tolerance_and_scoring_unchanged():
    """Sampler.prefill runs the int8 weights x bf16 activations (PrefillLinear inside fast_prefill());
    a forward outside it (scoring, inspection, training) is the reference, bit for bit."""
    from engine.fast_cpu import PrefillLinear
    from engine.generate import Sampler

    m = HNetLM.load(bundled_model_dir(), device="cpu", backend="torch")
    assert isinstance(m.backbone.encoder.mixers[0].in_proj, PrefillLinear)
    prompt = TEXT[:1500]
    sampler = Sampler(m)
    logits_fast, state_fast = sampler.prefill(prompt)
    m.set_fast_step(False)
    sampler.cache.clear()
    logits_ref, state_ref = sampler.prefill(prompt)
    tv = 0.5 * (torch.softmax(logits_fast, -1) - torch.softmax(logits_ref, -1)).abs().sum()
    assert (logits_fast - logits_ref).abs().max() <= INT8_LOGITS and tv <= INT8_TV
    assert rel_state_diff(state_ref, state_fast) <= 0.1  # after 1,500 bytes of bf16-rounded matmuls
    ids = torch.tensor([list(prompt)])
    with torch.inference_mode():
        ref = m(ids).logits
        m.set_fast_step(True)
        assert torch.equal(m(ids).logits, ref)


PREFILL_LENGTHS = [1, 1023, 1024, 1025, 4096]  # around the 1,024-byte prefill segment and the 64-position chunk


def _document(n: int) -> bytes:
    return (TEXT * (n // len(TEXT) + 1))[:n]


@pytest.mark.parametrize("nbytes", PREFILL_LENGTHS)
@pytest.mark.parametrize("name", ["tiny", "tiny-2stage"])
def test_fp32_prefill_with_the_cpu_scans_equals_the_reference(name, nbytes):
    """A float checkpoint: Sampler.prefill (1,024-byte segments, the fast CPU scans and EMA of
    engine/ssm/cpu_scan.py inside fast_prefill()) against one reference forward over the whole prompt:
    fp32 rounding only, in the logits after the prompt and in every state tensor."""
    from engine.generate import Sampler

    m = model(name, seed=nbytes)
    m.set_fast_step(True)
    prompt = _document(nbytes)
    logits, state = Sampler(m).prefill(prompt, cache=False)
    with torch.inference_mode():
        ref = m(torch.tensor([list(prompt)]), return_state=True)
    torch.testing.assert_close(logits, ref.logits[:, -1], **FP32)
    for x, y in zip(tree_leaves(state.backbone), tree_leaves(ref.state.backbone), strict=True):
        torch.testing.assert_close(x, y, **FP32) if x.is_floating_point() else torch.testing.assert_close(x, y)


@pytest.mark.parametrize("nbytes", PREFILL_LENGTHS)
def test_bundled_prefill_stays_within_tolerance_of_the_reference(bundled, nbytes):
    """The bundled int8 model: the product's prefill (bf16 matmuls on the int8 weights, the fast CPU scans)
    against the reference forward (fp32 matmuls on the dequantised weights, the reference scans) over the
    whole prompt: the int8 tolerances of the decoding step for the logits, and the state's."""
    from engine.generate import Sampler

    prompt = _document(nbytes)
    logits, state = Sampler(bundled).prefill(prompt, cache=False)
    with torch.inference_mode():
        ref = bundled(torch.tensor([list(prompt)]), return_state=True)
    ref_logits = ref.logits[:, -1]
    tv = 0.5 * (torch.softmax(logits, -1) - torch.softmax(ref_logits, -1)).abs().sum()
    assert (logits - ref_logits).abs().max() <= INT8_LOGITS and tv <= INT8_TV  # measured: 0.036, 0.003 at most
    assert rel_state_diff(ref.state.backbone, state.backbone) <= INT8_STATE  # measured: 0.007 at most


@pytest.fixture(scope="module")
def bundled():
    return HNetLM.load(bundled_model_dir(), device="cpu", backend="torch")


# ---------------------------------------------------------------- the compiled regions (engine/cpu_compile.py)
@pytest.mark.slow
@pytest.mark.parametrize("name", ["tiny", "tiny-2stage"])
def test_compiled_step_equals_reference(name, tmp_path, monkeypatch):
    """Compiled for batches 1 and 3: fp32 rounding from the reference (Inductor fuses and reorders the same
    fp32 arithmetic); a batch it was not compiled for (2) runs the eager regions."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    m = model(name, seed=4)
    fast = FastStep(m)
    how = fast.compile(batches=(1, 3))
    assert how.startswith({"tiny": "3 regions", "tiny-2stage": "5 regions"}[name]) and "batches 1,3" in fast.describe()
    for b in (1, 3, 2):
        for (l_ref, s_ref, f_ref), (l_fast, s_fast, f_fast) in walk(m, fast, streams(b, 40), m.allocate_state(b)):
            torch.testing.assert_close(l_fast, l_ref, **FP32)
            assert [f.tolist() for f in f_fast] == [f.tolist() for f in f_ref]
            for x, y in zip(tree_leaves(s_fast), tree_leaves(s_ref), strict=True):
                torch.testing.assert_close(x, y, **FP32)
    assert fast.use_compiled(False) is False and "eager regions" in fast.describe()


@pytest.mark.slow
def test_compiled_bundled_step_stays_within_tolerance(tmp_path, monkeypatch):
    """The bundled int8 model, compiled: the same tolerances from the reference as the eager fused step."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    m = HNetLM.load(bundled_model_dir(), device="cpu", backend="torch")
    assert "regions compiled" in m.fast_step.compile(batches=(3,))
    with torch.inference_mode():  # as the sampler makes them: inference tensors, contiguous
        out = m(torch.tensor([list(TEXT[:700])]), return_state=True)
        state = tree_map(lambda t: t.repeat_interleave(3, 0).contiguous() if t.dim() else t, out.state)
    flips = 0
    for (l_ref, _, f_ref), (l_fast, _, f_fast) in walk(m, m.fast_step, streams(3, 100), state):
        same = f_ref[0] == f_fast[0]
        flips += int((~same).sum())
        tv = 0.5 * (torch.softmax(l_fast, -1) - torch.softmax(l_ref, -1)).abs().sum(-1)[same]
        assert (l_fast - l_ref)[same].abs().max() <= INT8_LOGITS and tv.max() <= INT8_TV
    assert flips <= 0.02 * 300
    assert not [r.missed for r in _compiled_regions(m.fast_step) if r.missed]  # prefill states fit the graphs


def _compiled_regions(fast):
    from engine.cpu_compile import CompiledRegion, _regions

    return [r for r in (getattr(o, n) for o, n in _regions(fast)) if isinstance(r, CompiledRegion)]


@pytest.mark.slow
def test_compile_failure_and_unseen_inputs_run_eagerly_and_say_so(tmp_path, monkeypatch, caplog):
    """No C++ compiler: the step keeps its eager regions, logs a warning and says so in describe(). Compiled,
    an input layout the graphs were not built for (a non-contiguous state) runs eagerly, with a warning,
    instead of recompiling inside a request. (The isotropic layout: its one region is the whole stack, and
    no other test compiles these shapes, which Inductor would otherwise reuse from memory.)"""
    import torch._inductor.config as inductor_config

    m = model("tiny-iso", seed=5)
    ids, state = torch.tensor([65]), m.allocate_state(1)
    with torch.inference_mode():
        expected = FastStep(m)(ids, state)[0]
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "broken"))
    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/nonexistent/c++",))
    broken = FastStep(m)
    with caplog.at_level("WARNING", logger="scriba.engine"):
        how = broken.compile(batches=(1,))
    assert how.startswith("eager regions (torch.compile failed") and "torch.compile failed" in broken.describe()
    assert any("torch.compile failed" in r.getMessage() for r in caplog.records)
    with torch.inference_mode():
        assert torch.equal(broken(ids, state)[0], expected)

    monkeypatch.undo()
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    fast = FastStep(m)
    assert fast.compile(batches=(1,)).startswith("1 region compiled")
    with torch.inference_mode():
        _, after, _ = fast(ids, state)
        strided = tree_map(lambda t: t.repeat_interleave(2, -1)[..., ::2] if t.dim() > 1 else t, after)
        assert not all(t.is_contiguous() for t in tree_leaves(strided))
        caplog.clear()
        with caplog.at_level("WARNING", logger="scriba.engine"):
            got = fast(ids, strided)[0]
        torch.testing.assert_close(got, m.step(ids, after, reference=True)[0], **FP32)
    assert any("ran eagerly" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_background_compile_never_blocks_a_request_then_takes_over(tmp_path, monkeypatch):
    """The editor's and the server's load: load_engine returns with the step eager and its regions compiling on
    a thread; a request made at once is decoded eagerly (it ends while the compile still runs: it did not
    wait for it); once compiled, the step runs the compiled regions (describe() says so) and computes what the
    eager step computed, within fp32 rounding. SCRIBA_CPU_COMPILE=0 still turns it off."""
    from engine.api import load_engine
    from engine.protocol import GenerationRequest

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    model("tiny-2stage", seed=6).save(tmp_path / "m")
    monkeypatch.setenv("SCRIBA_CPU_COMPILE", "0")
    off = load_engine(tmp_path / "m", device="cpu", backend="torch", compile_cpu="background").model.fast_step
    assert off.compiling is None and off.compiled is None
    monkeypatch.setenv("SCRIBA_CPU_COMPILE", "1")
    engine = load_engine(tmp_path / "m", device="cpu", backend="torch", compile_cpu="background")
    fast = engine.model.fast_step
    assert fast.compiling is not None and "compiling in the background" in fast.describe()
    req = GenerationRequest(TEXT[:300], stop=[], n=3, max_bytes=40, seed=1)
    eager = engine.generate(req)
    assert fast.compiling is not None, "the request waited for the compile"
    assert len(eager) == 3 and all(c.nbytes for c in eager)
    ids, (_, state) = streams(3, 30), engine.sampler.prefill(TEXT[:300])
    with torch.inference_mode():  # as the sampler makes them: inference tensors, contiguous
        state = tree_map(lambda t: t.repeat_interleave(3, 0).contiguous() if t.dim() else t, state)
        before = list(walk(engine.model, fast, ids, state))
    assert fast.wait_compiled(timeout=600) and fast.compiling is None
    assert "regions compiled" in fast.describe() and "in the background" in fast.describe()
    with torch.inference_mode():
        after = list(walk(engine.model, fast, ids, state))
    for (_, (l_eager, s_eager, f_eager)), (_, (l_comp, s_comp, f_comp)) in zip(before, after, strict=True):
        torch.testing.assert_close(l_comp, l_eager, **FP32)
        assert [f.tolist() for f in f_comp] == [f.tolist() for f in f_eager]
        for x, y in zip(tree_leaves(s_comp), tree_leaves(s_eager), strict=True):
            torch.testing.assert_close(x, y, **FP32)
    assert not [r.missed for r in _compiled_regions(fast) if r.missed]  # the compiled graphs ran, not eager ones
    assert len(engine.generate(req)) == 3
