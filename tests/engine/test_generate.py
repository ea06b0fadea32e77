"""Sampling: valid UTF-8 always, stop rules, seeds, streaming, cancellation, and the prefix-state cache."""

import threading

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.api import Engine, GenerationRequest, InProcessEngine, load_engine
from engine.bytes import BOS, CONTROL_BYTES, EOS, Utf8State
from engine.config import preset
from engine.generate import PrefixCache, Sampler
from engine.model import HNetLM


@given(st.binary(max_size=40))
def test_utf8_state_agrees_with_python_decoder(data):
    """Utf8State accepts exactly the byte strings that are (a prefix of) valid UTF-8."""
    u, ok = Utf8State(), True
    try:
        for b in data:
            u.push(b)
    except ValueError:
        ok = False
    if ok and u.complete():
        data.decode("utf-8")  # must not raise
    elif ok:  # an incomplete tail: completing it with a valid continuation decodes
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
    else:
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")


@pytest.fixture(scope="module", params=["tiny", "tiny-2stage", "tiny-iso"])
def engine(request):
    torch.manual_seed(7)
    return InProcessEngine(HNetLM(preset(request.param)).eval())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(context=st.binary(max_size=60), seed=st.integers(0, 2**31 - 1), temperature=st.sampled_from([0.0, 0.7, 1.5]))
def test_sampled_bytes_are_always_valid_utf8(engine, context, seed, temperature):
    """Random weights put mass everywhere, so this exercises the mask: no invalid byte, no control byte."""
    req = GenerationRequest(prompt=bytes([BOS]) + context, n=3, max_bytes=48, seed=seed, temperature=temperature,
                            top_p=1.0)
    for c in engine.generate(req):
        raw = c.text.encode("utf-8")
        assert not (set(raw) & CONTROL_BYTES)
        assert c.finish in ("stop", "length")
        assert len(raw) <= 48


def test_same_seed_same_candidates_and_different_seed_differs(engine):
    req = GenerationRequest(prompt=b"\xf5Once upon a time", n=3, max_bytes=40, seed=11, temperature=1.0)
    a, b = engine.generate(req), engine.generate(req)
    assert [c.text for c in a] == [c.text for c in b]
    req.seed = 12
    assert [c.text for c in engine.generate(req)] != [c.text for c in a]


def test_prefix_cache_returns_the_same_candidates_as_no_cache():
    torch.manual_seed(3)
    model = HNetLM(preset("tiny")).eval()
    prompt = bytes([BOS]) + ("Lorem ipsum dolor sit amet. " * 100).encode()  # > 2 prefill segments
    req = GenerationRequest(prompt=prompt, n=2, max_bytes=30, seed=5, temperature=1.0)
    cached = Sampler(model)
    first = cached.generate(req)
    second = cached.generate(req)  # served from the cache
    assert cached.cache.hits >= 1
    uncached = Sampler(model, PrefixCache(budget_bytes=0))
    fresh = uncached.generate(req)
    assert [c.text for c in first] == [c.text for c in second] == [c.text for c in fresh]


def test_cache_serves_a_longer_prompt_from_a_shared_prefix():
    torch.manual_seed(3)
    sampler = Sampler(HNetLM(preset("tiny")).eval())
    doc = bytes([BOS]) + ("A sentence about writing. " * 120).encode()
    sampler.prefill(doc + b"first ending")
    hits = sampler.cache.hits
    logits, _ = sampler.prefill(doc + b"second ending")
    assert sampler.cache.hits == hits + 1
    reference, _ = Sampler(sampler.model, PrefixCache(0)).prefill(doc + b"second ending")
    torch.testing.assert_close(logits, reference, rtol=0, atol=0)


def test_stop_sequence_ends_a_candidate_and_is_not_included(tiny_engine):
    req = GenerationRequest(prompt=b"\xf5x", stop=[bytes([EOS]), b"e"], n=4, max_bytes=200, seed=1, temperature=1.5)
    for c in tiny_engine.generate(req):
        assert "e" not in c.text
        assert c.finish in ("stop", "length")


def test_stop_after_keeps_the_match_and_ends_there(tiny_engine):
    free = tiny_engine.generate(GenerationRequest(prompt=b"\xf5x", stop=[], n=1, max_bytes=200, seed=5,
                                                  temperature=1.0))[0].text
    ascii_ = [ch for ch in free if ch.isascii() and ch.isprintable()]
    assert ascii_, free
    mark = ascii_[len(ascii_) // 2]
    req = GenerationRequest(prompt=b"\xf5x", stop=[], stop_after=[mark.encode()], n=1, max_bytes=200, seed=5,
                            temperature=1.0)
    (c,) = tiny_engine.generate(req)
    assert c.finish == "stop" and c.text == free[:free.index(mark) + 1]  # same stream, cut after the match


def test_streaming_updates_and_cancel(tiny_engine):
    cancel = threading.Event()
    updates = []

    def on_update(cands):
        updates.append([c.text for c in cands])
        if len(updates) == 3:
            cancel.set()

    req = GenerationRequest(prompt=b"\xf5Hello", stop=[], n=2, max_bytes=10_000, seed=0, temperature=1.0)
    out = tiny_engine.generate(req, on_update=on_update, cancel=cancel)
    assert all(c.finish == "cancelled" for c in out)
    assert all(c.nbytes < 10_000 for c in out)
    assert len(updates) >= 3 and len(updates[-1][0]) >= len(updates[0][0])


def test_engine_protocol_score_and_inspect(tiny_engine):
    assert isinstance(tiny_engine, Engine)
    bpb = tiny_engine.score("Hello, wörld. This is a test.")
    assert 0 < bpb < 16
    text = "Naïve café — 東京. Done."
    ins = tiny_engine.inspect(text)
    assert len(ins.entropy) == len(ins.surprisal) == len(text.encode())
    assert all(0 <= e <= 8.0001 for e in ins.entropy)
    assert len(ins.boundaries) == 1 and ins.boundaries[0] == sorted(ins.boundaries[0])
    assert all(0 <= b < len(text.encode()) for b in ins.boundaries[0])
    info = tiny_engine.info()
    assert info.backend == "torch" and info.device == "cpu" and info.params > 0


def test_load_engine_errors(tmp_path):
    from engine.api import EngineUnavailable

    with pytest.raises(EngineUnavailable, match="no model"):
        load_engine(tmp_path / "missing", device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(EngineUnavailable, match="no CUDA GPU"):
            load_engine(tmp_path, device="cuda")


@pytest.fixture(scope="module")
def gpu_engine():
    from engine.resources import bundled_model_dir

    return load_engine(bundled_model_dir(), backend="mamba_ssm", device="cuda")  # loaded and warmed up once


@pytest.mark.gpu
@pytest.mark.parametrize("nbytes", [4095, 4096, 4097, 65536])
def test_bundled_model_generates_on_the_gpu_after_a_long_prompt(gpu_engine, nbytes):
    """Prompts of 4 KB and more crashed the Triton scan ("illegal memory access"): the last prefill segment
    held no chunk boundary, and the dechunking EMA ran mamba_chunk_scan_combined on an empty sequence."""
    from engine.resources import demo_document

    engine = gpu_engine
    engine.sampler.cache.clear()
    text = demo_document().read_bytes()
    prompt = bytes([BOS]) + (text * (nbytes // len(text) + 1))[:nbytes]
    cands = engine.generate(GenerationRequest(prompt, max_bytes=16, n=3, seed=0))
    assert len(cands) == 3 and all(c.nbytes > 0 and c.finish in ("stop", "length") for c in cands)


# ------------------------------------------------------------- blocked decoding (the graphed path's logic)
def test_utf8_tables_agree_with_utf8_state_and_mask():
    """The device mask, indexed by the automaton's state and a row's stop bytes, allows exactly what
    allowed_mask (Utf8State's rules) allows."""
    from engine.bytes import allowed_mask
    from engine.sampling import Tables, stop_row

    tables = Tables.on("cpu")
    rng = torch.Generator().manual_seed(0)
    for stops in [(EOS,), (), (EOS, 0xF7)]:
        stop = stop_row(stops)[None]
        for _ in range(100):
            u, s = Utf8State(), torch.zeros(1, dtype=torch.long)
            for _ in range(int(torch.randint(0, 6, (1,), generator=rng))):
                row = tables.mask(s, stop)[0]
                assert row.tolist() == [bool(x) for x in allowed_mask(u, stops)]
                choices = torch.nonzero(row & ~stop[0])[:, 0]
                b = int(choices[torch.randint(0, len(choices), (1,), generator=rng)])
                u.push(b)
                s = tables.advance(s, torch.tensor([b]), stop)
            assert tables.mask(s, stop)[0].tolist() == [bool(x) for x in allowed_mask(u, stops)]


def blocked_sampler(model, sizes=(1, 2, 4)):
    """A Sampler whose decoder runs the graphed path's body (static slot buffers, padded batch sizes)
    without capturing it: its logic, on a CPU."""
    from engine.decode import SlotDecoder

    s = Sampler(model)
    s.decoder = SlotDecoder(model, sizes, capture=False)
    return s


@pytest.mark.parametrize("name", ["tiny", "tiny-2stage"])
def test_blocked_greedy_decoding_equals_the_eager_path(name):
    torch.manual_seed(5)
    model = HNetLM(preset(name)).eval()
    blocked = blocked_sampler(model)
    req = GenerationRequest(prompt=b"\xf5Once upon a time, ", stop=[], n=3, max_bytes=37, seed=0, temperature=0.0)
    assert blocked.decode_path(3) == "graph" and Sampler(model).decode_path(3) == "eager"
    a = blocked.generate(req)
    b = Sampler(model).generate(req)
    assert [c.text for c in a] == [c.text for c in b]
    assert [c.nbytes for c in a] == [c.nbytes for c in b] == [37] * 3
    for x, y in zip(a, b):
        assert x.logprob == pytest.approx(y.logprob, rel=1e-4, abs=1e-4)


def test_blocked_sampling_is_valid_seeded_and_follows_stop_rules():
    torch.manual_seed(7)
    model = HNetLM(preset("tiny")).eval()
    s = blocked_sampler(model)
    req = GenerationRequest(prompt=b"\xf5Hello", stop=[bytes([EOS]), b"e"], n=3, max_bytes=61, seed=3,
                            temperature=1.5)
    first, again = s.generate(req), s.generate(req)
    assert [c.text for c in first] == [c.text for c in again]
    for c in first:
        raw = c.text.encode()
        assert "e" not in c.text and not (set(raw) & CONTROL_BYTES) and c.finish in ("stop", "length")
        assert len(raw) <= 61 and (c.finish == "stop" or c.nbytes == 61)
    req.seed = 4
    assert [c.text for c in s.generate(req)] != [c.text for c in first]
    # stop_after ends a stream mid-block, keeping the match
    free = s.generate(GenerationRequest(prompt=b"\xf5x", stop=[], n=1, max_bytes=100, seed=5))[0].text
    mark = next(ch for ch in free[10:] if ch.isascii() and ch.isprintable())
    (c,) = s.generate(GenerationRequest(prompt=b"\xf5x", stop=[], stop_after=[mark.encode()], n=1, max_bytes=100,
                                        seed=5))
    assert c.finish == "stop" and c.text == free[:free.index(mark) + 1]


def test_blocked_decoding_streams_and_cancels_between_blocks():
    torch.manual_seed(7)
    s = blocked_sampler(HNetLM(preset("tiny")).eval())
    cancel, updates = threading.Event(), []

    def on_update(cands):
        updates.append([c.nbytes for c in cands])
        if len(updates) == 2:
            cancel.set()

    out = s.generate(GenerationRequest(prompt=b"\xf5Hi", stop=[], n=2, max_bytes=10_000, seed=0), on_update, cancel)
    assert all(c.finish == "cancelled" for c in out) and all(c.nbytes <= 3 * 8 for c in out)
    assert updates[0] == [8, 8]


@pytest.mark.parametrize("name", ["tiny", "tiny-2stage", "tiny-iso"])
def test_batched_prefill_pieces_equal_each_prompt_alone(name):
    """Prompts of several lengths prefilled together (rows padded to the longest piece, from nothing and
    from a state, a 1-byte piece with no chunk boundary in the inner stage among them): each row's logits
    and state are those of its prompt prefilled alone."""
    from engine.generate import PrefillTask
    from engine.state import tree_leaves

    torch.manual_seed(0)
    model = HNetLM(preset(name)).eval()
    sampler = Sampler(model, PrefixCache(0), segment=64)
    prompts = [bytes([BOS]) + (b"Rivers run to the sea. " * 20)[:n] for n in (100, 37, 150, 64)]
    tasks = [PrefillTask(p, 64) for p in prompts]
    passes = 0
    while not all(t.finished for t in tasks):
        sampler.prefill_pieces(tasks)
        passes += 1
    assert passes == 3  # the longest prompt's three pieces: every other piece rode along
    for prompt, task in zip(prompts, tasks):
        logits, state = sampler.prefill(prompt)
        torch.testing.assert_close(task.logits, logits, rtol=0, atol=1e-5)
        for a, b in zip(tree_leaves(task.state), tree_leaves(state), strict=True):
            assert a.shape == b.shape
            torch.testing.assert_close(a.float(), b.float(), rtol=0, atol=1e-5)
