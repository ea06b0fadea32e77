"""The decode loop without HTTP (CPU here, CUDA with -m gpu): a request alone gets exactly the in-process
engine's candidates; rows of many requests with their own sampling parameters join and leave one batch and
each gets what it would alone (within the tolerances of conftest.py); a cancelled request frees its rows at
the next block; a long newcomer's prefill is cut into passes that leave the running streams stepping."""

from __future__ import annotations

import pytest
import torch

from engine.decode import BLOCK, DecodeJob
from engine.protocol import GenerationRequest
from engine.tasks import Action, Task, build_prompt

TEXT = "# Rivers\n\nA river is a natural stream of water. " * 40  # a prompt of several SEGMENTs


def _request(seed: int, **kw) -> GenerationRequest:
    p = build_prompt(Task(Action.EXPAND, "section", TEXT, "\n\n## Deltas\n", heading_level=2))
    kw.setdefault("max_bytes", 20)
    kw.setdefault("n", 2)
    kw.setdefault("stop", p.stop)
    return GenerationRequest(p.data, stop_after=p.stop_after, seed=seed, **kw)


def _alone_equals_in_process(engine):
    from engine.serve.batcher import Batcher

    batcher = Batcher(engine.sampler)
    try:
        for seed, kw in [(3, {}), (4, {"temperature": 0.0}), (5, {"top_p": 1.0, "temperature": 1.2}),
                         (6, {"n": 1})]:
            req = _request(seed, **kw)
            engine.sampler.cache.clear()
            want = engine.generate(req)
            engine.sampler.cache.clear()  # the server prefills it segment by segment, from nothing
            got = batcher.generate(req).result
            assert got == want
    finally:
        batcher.close()


def test_alone_equals_in_process_on_cpu(bundled_engine):
    _alone_equals_in_process(bundled_engine)


def test_joining_and_leaving_mid_way(bundled_engine):
    from engine.serve.batcher import Batcher

    batcher = Batcher(bundled_engine.sampler)
    try:
        jobs = [batcher.submit(_request(i, max_bytes=6 + 5 * i)) for i in range(3)]
        late = batcher.submit(_request(9, max_bytes=10, temperature=0.0))
        for job in jobs + [late]:
            assert job.done.wait(300)
            assert job.error is None and len(job.result) == 2
            assert all(c.finish in ("stop", "length") and c.nbytes <= job.req.max_bytes for c in job.result)
        assert batcher.stats.active_streams == 0 and batcher.decoder.idle
    finally:
        batcher.close()


def _free_requests(count: int, max_bytes: int, prompt_bytes: int = 200) -> list[GenerationRequest]:
    """Requests of their own prompts, seeds and sampling parameters (no stop rule: every byte is compared)."""
    from engine.bytes import BOS
    from engine.resources import demo_document

    text = demo_document().read_bytes() * 4
    params = [(0.0, 1.0), (0.7, 1.0), (1.0, 1.0), (1.3, 1.0)]
    reqs = []
    for i in range(count):
        temperature, top_p = params[i % len(params)]
        prompt = bytes([BOS]) + text[31 * i: 31 * i + prompt_bytes].decode("utf-8", "ignore").encode()
        reqs.append(GenerationRequest(prompt, stop=[], max_bytes=max_bytes - 3 * (i % 3), n=1 + i % 2, seed=100 + i,
                                      temperature=temperature, top_p=top_p))
    return reqs


def joined_streams_equal_alone(engine, count: int, max_bytes: int, same_up_to_near_ties) -> int:
    """`count` requests submitted at once (rows of one batch, joining as their prefills end) against each
    decoded alone in process. Returns the bytes compared."""
    from engine.serve.batcher import Batcher

    reqs = _free_requests(count, max_bytes)
    alone = [engine.sampler.run_job(DecodeJob(r)) for r in reqs]
    batcher = Batcher(engine.sampler)
    try:
        served = [batcher.submit(r) for r in reqs]
        for job in served:
            assert job.done.wait(600) and job.error is None
        assert batcher.stats.active_streams == 0 and batcher.decoder.idle
    finally:
        batcher.close()
    results = [same_up_to_near_ties(s, a) for s, a in zip(served, alone)]
    compared, total = sum(c for c, _ in results), sum(len(st.logps) for a in alone for st in a.streams)
    print(f"{count} joined streams: {compared} of {total} bytes before a near tie held to the rows alone; "
          f"largest log-prob difference {max(w for _, w in results):.2e}")
    assert compared >= 0.15 * total  # sampled bytes tie within the margin a few times in a hundred
    return compared


def test_joined_streams_each_equal_alone_on_cpu(bundled_engine, same_up_to_near_ties):
    joined_streams_equal_alone(bundled_engine, 4, 24, same_up_to_near_ties)


def test_joined_streams_in_the_graphed_paths_slots_each_equal_alone(bundled_engine, same_up_to_near_ties):
    """The CUDA path's slot logic on a CPU: static buffers, rows packed into slots and padded to the batch
    sizes (uncaptured), rows leaving mid-block and the survivors moved down."""
    from engine.decode import SlotDecoder

    sampler = bundled_engine.sampler
    own, sampler.decoder = sampler.decoder, SlotDecoder(sampler.model, (1, 2, 4, 8), capture=False)
    try:
        assert sampler.decode_path(8) == "graph"
        joined_streams_equal_alone(bundled_engine, 5, 20, same_up_to_near_ties)
    finally:
        sampler.decoder = own


def test_a_cancelled_request_leaves_at_the_next_block(bundled_engine):
    import threading

    from engine.serve.batcher import Batcher

    batcher = Batcher(bundled_engine.sampler)
    try:
        stays = batcher.submit(_request(1, max_bytes=4000, n=1, stop=[]))
        cancel = threading.Event()
        leaves = batcher.submit(_request(2, max_bytes=4000, n=2, stop=[]), cancel=cancel)
        while len(batcher.decoder.slots) < 3:
            assert not leaves.done.is_set()
            threading.Event().wait(0.01)
        with batcher.lock:  # between two blocks
            at_cancel = batcher.decoder.stats.steps
            cancel.set()
        assert leaves.done.wait(60)
        assert batcher.decoder.stats.steps - at_cancel <= BLOCK  # it left at the next block
        assert [c.finish for c in leaves.result] == ["cancelled"] * 2
        with batcher.lock:
            assert [s.job for s in batcher.decoder.slots] == [stays]
    finally:
        batcher.close()
    assert stays.done.is_set() and stays.result[0].finish == "cancelled"  # ended by close: the server stops


def test_a_long_newcomers_prefill_is_cut_into_passes_between_blocks(bundled_engine):
    """While a long prompt is prefilled, the running stream keeps stepping: one pass of at most the budget
    per block, so the prompt's 6 KB cost it a block per 512 bytes, never the whole prefill."""
    import threading

    from engine.bytes import BOS
    from engine.serve.batcher import Batcher

    budget = 512
    batcher = Batcher(bundled_engine.sampler, prefill_budget=budget)
    try:
        running = batcher.submit(GenerationRequest(bytes([BOS]) + b"Rivers run.", stop=[], max_bytes=4000, n=1,
                                                   seed=0))
        while len(running.streams[0].logps) < 2 * BLOCK:
            assert not running.done.is_set()
            threading.Event().wait(0.01)
        long_prompt = bytes([BOS]) + ("Deltas form where rivers meet the sea; " * 200).encode()[:6 * 1024]
        at_join: list[int] = []
        passes, at_submit = batcher.stats.prefill_passes, len(running.streams[0].logps)
        newcomer = batcher.submit(GenerationRequest(long_prompt, stop=[], max_bytes=2, n=1, seed=1),
                                  on_update=lambda c: at_join.append(len(running.streams[0].logps)))
        assert newcomer.done.wait(300)
        passes = batcher.stats.prefill_passes - passes
        assert passes >= len(long_prompt) // budget
        assert batcher.stats.max_gap_prefill_bytes <= budget  # never more prefill between two blocks
        assert at_join[0] - at_submit >= BLOCK * (passes - 1)  # and a block of the running stream after each
        assert 0 < batcher.stats.max_gap_steps < float("inf")
    finally:
        batcher.close()


# ------------------------------------------------------------------------------------------------ GPU
@pytest.fixture(scope="module")
def cuda_engine():
    from engine.api import load_engine

    return load_engine(device="cuda")  # warmed up: kernels compiled, the decoder's graphs captured


@pytest.mark.gpu
def test_alone_equals_in_process_on_cuda(cuda_engine):
    """A request alone runs the in-process engine's graphs on the same rows: the same bytes, exactly."""
    assert cuda_engine.sampler.decode_path(1) == "graph"
    _alone_equals_in_process(cuda_engine)


@pytest.mark.gpu
def test_64_joined_streams_each_equal_alone_on_cuda(cuda_engine, same_up_to_near_ties):
    joined_streams_equal_alone(cuda_engine, 64, 64, same_up_to_near_ties)


@pytest.mark.gpu
def test_an_8kb_newcomer_joins_running_streams_on_cuda(cuda_engine, same_up_to_near_ties):
    """An 8 KB prompt joins 12 running rows: its prefill goes in passes of the GPU budget between blocks, and
    its candidates equal the same request decoded alone from the same prefill passes (a prompt cut elsewhere
    may place a chunk boundary differently where p is within rounding of 0.5: that is the prefill's business,
    tests/engine/test_gpu_prefill.py)."""
    import threading

    from engine.bytes import BOS
    from engine.generate import PrefillTask
    from engine.resources import demo_document
    from engine.serve.batcher import CUDA_PREFILL_BUDGET, Batcher

    sampler = cuda_engine.sampler
    doc = bytes([BOS]) + (demo_document().read_bytes() * 8)[:8192]
    req = GenerationRequest(doc, stop=[], max_bytes=64, n=3, seed=5, temperature=0.8, top_p=1.0)
    alone = DecodeJob(req)
    with sampler.lock, torch.inference_mode():
        task = PrefillTask(doc, sampler.segment)
        while not task.finished:
            sampler.prefill_pieces([task], CUDA_PREFILL_BUDGET, cache=False)
        sampler.decoder.admit(alone, task.logits, task.state)
        sampler.decoder.run(alone)
    sampler.cache.clear()
    batcher = Batcher(sampler)
    try:
        runners = [batcher.submit(r) for r in _free_requests(8, 2000)]
        while len(batcher.decoder.slots) < 12:
            threading.Event().wait(0.005)
        passes = batcher.stats.prefill_passes
        newcomer = batcher.submit(req)
        assert newcomer.done.wait(300) and newcomer.error is None
        assert all(not r.done.is_set() for r in runners)  # they ran all along
        for r in runners:
            r.cancel.set()
        stats = batcher.stats
    finally:
        batcher.close()
    assert stats.prefill_passes - passes >= 3 and stats.max_gap_prefill_bytes <= CUDA_PREFILL_BUDGET
    compared, worst = same_up_to_near_ties(newcomer, alone)
    print(f"8 KB newcomer: {stats.prefill_passes - passes} prefill passes, at most {stats.max_gap_steps:.1f} decode "
          f"steps of prefill between two blocks; {compared} bytes held to the request alone (largest log-prob "
          f"difference {worst:.2e})")
