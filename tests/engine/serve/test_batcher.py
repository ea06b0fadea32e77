"""The decode loop without HTTP: a request alone gets exactly the in-process engine's candidates (CPU here,
CUDA with -m gpu); requests that join and leave mid-way all finish with what they asked for."""

from __future__ import annotations

import pytest

from engine.protocol import GenerationRequest
from engine.tasks import Action, Task, build_prompt

TEXT = "# Rivers\n\nA river is a natural stream of water. " * 40  # a prompt of several SEGMENTs


def _request(seed: int, **kw) -> GenerationRequest:
    p = build_prompt(Task(Action.EXPAND, "section", TEXT, "\n\n## Deltas\n", heading_level=2))
    kw.setdefault("max_bytes", 20)
    return GenerationRequest(p.data, stop=p.stop, stop_after=p.stop_after, n=2, seed=seed, **kw)


def _alone_equals_in_process(engine):
    from engine.serve.batcher import Batcher

    batcher = Batcher(engine.sampler)
    try:
        for seed, kw in [(3, {}), (4, {"temperature": 0.0}), (5, {"top_p": 1.0, "temperature": 1.2})]:
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
        assert batcher.stats.active_streams == 0 and not batcher.jobs
    finally:
        batcher.close()


@pytest.mark.gpu
def test_alone_equals_in_process_on_cuda():
    from engine.api import load_engine

    engine = load_engine(device="cuda")
    # The in-process engine decodes through CUDA graphs that draw their randomness on the GPU (pre-drawn noise,
    # engine.cuda_graph), so a seed there names a different (equally distributed) sample than the host
    # generator the served loop shares with the eager path: compare with the eager path.
    graphs, engine.sampler.graphs = engine.sampler.graphs, None
    try:
        _alone_equals_in_process(engine)
    finally:
        engine.sampler.graphs = graphs


def test_a_newcomers_prefill_goes_one_segment_per_step(bundled_engine):
    """While a long prompt is prefilled, the running stream keeps writing: a byte per prompt segment."""
    import threading

    from engine.bytes import BOS
    from engine.generate import SEGMENT
    from engine.serve.batcher import Batcher

    batcher = Batcher(bundled_engine.sampler)
    try:
        running = batcher.submit(GenerationRequest(bytes([BOS]) + b"Rivers run.", stop=[], max_bytes=400, n=1,
                                                   seed=0))
        while running.written < 2:
            assert not running.done.is_set()
            threading.Event().wait(0.01)
        long_prompt = bytes([BOS]) + ("Deltas form where rivers meet the sea; " * 200).encode()[:6 * SEGMENT]
        at_join: list[int] = []
        at_submit = running.written
        newcomer = batcher.submit(GenerationRequest(long_prompt, stop=[], max_bytes=2, n=1, seed=1),
                                  on_update=lambda c: at_join.append(running.written) if not at_join else None)
        assert newcomer.done.wait(300) and running.done.wait(300)
        segments = len(range(SEGMENT, len(long_prompt), SEGMENT)) + 1
        assert segments == 7
        assert at_join[0] - at_submit >= segments - 1  # the running stream stepped between the segments
    finally:
        batcher.close()
