"""`scriba serve` driven by the real client over a real socket: results, errors, cancellation, metrics."""

from __future__ import annotations

import base64
import threading
import time

import httpx
import pytest

from engine.bytes import EOS
from engine.protocol import EngineUnavailable, GenerationRequest
from engine.tasks import Action, Task, build_prompt

DOC = ("# Gardens\n\nA garden is a planned space, usually outdoors, set aside for plants. It can hold "
       "flowers, trees and vegetables.\n\n## Soil\n\n")


def _prompt(prefix: str = DOC) -> bytes:
    return build_prompt(Task(Action.EXPAND, "section", prefix, "\n\n## Water\n\nRain.", heading_level=2)).data


def _wait_active(url: str, value: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        m = httpx.get(f"{url}/metrics", params={"format": "json"}).json()
        if m["active_streams"] == value or time.monotonic() > deadline:
            return m
        time.sleep(0.05)


def test_same_seed_same_candidates_as_in_process(remote, bundled_engine):
    p = build_prompt(Task(Action.EXPAND, "section", DOC, "", heading_level=2))
    req = GenerationRequest(p.data, stop=p.stop, stop_after=p.stop_after, max_bytes=24, n=2, seed=11)
    updates = []
    got = remote.generate(req, on_update=updates.append)
    want = bundled_engine.generate(req)
    assert [(c.text, c.finish, c.nbytes) for c in got] == [(c.text, c.finish, c.nbytes) for c in want]
    assert [c.logprob for c in got] == pytest.approx([c.logprob for c in want], rel=1e-12)
    assert updates and updates[-1] == got  # streamed as written, ending with the result
    assert remote.status == "ok"


def test_greedy_and_score_and_inspect_equal_in_process(remote, bundled_engine):
    req = GenerationRequest(_prompt(), max_bytes=16, n=1, temperature=0.0, seed=0)
    assert [c.text for c in remote.generate(req)] == [c.text for c in bundled_engine.generate(req)]
    text = "The soil is dark and rich."
    assert remote.score(text) == pytest.approx(bundled_engine.score(text), rel=1e-9)
    got, want = remote.inspect(text), bundled_engine.inspect(text)
    assert got.boundaries == want.boundaries
    assert got.entropy == pytest.approx(want.entropy, rel=1e-6)
    info = remote.info()
    assert info.model == bundled_engine.info().model and server_url_in(info.device, remote.url)


def server_url_in(device: str, url: str) -> bool:
    return url in device


def test_concurrent_streams_all_finish(remote, server):
    reqs = [GenerationRequest(_prompt(DOC + "x" * i), max_bytes=12 + i, n=1 + i % 2, seed=i) for i in range(4)]
    results: list = [None] * len(reqs)

    def run(i):
        results[i] = remote.generate(reqs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(reqs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for req, cands in zip(reqs, results):
        assert cands is not None and len(cands) == req.n
        assert all(c.finish in ("stop", "length") and c.nbytes <= req.max_bytes for c in cands)
    assert _wait_active(server.url, 0)["active_streams"] == 0


def _post(url, path, body=None, content=None):
    return httpx.post(f"{url}{path}", json=body, content=content, headers={"content-type": "application/json"})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("body, status, words", [
    ({"task": {"action": "frobnicate", "level": "section"}}, 422, "unknown action 'frobnicate'"),
    ({"task": {"action": "expand", "level": "sentence"}}, 422, "not 'sentence'"),
    ({"prompt": "!!notbase64", "max_bytes": 4}, 422, "prompt is not base64"),
    ({"prompt": _b64(b"\xf5x"), "temperature": -1}, 422, "temperature"),
    ({"prompt": _b64(b"\xf5x"), "temperature": 99}, 422, "temperature 99.0 is over"),
    ({"prompt": _b64(b"\xf5x"), "top_p": 0}, 422, "top_p"),
    ({"prompt": _b64(b"\xf5x"), "n": 0}, 422, "n:"),
    ({"prompt": _b64(b"\xf5x"), "n": 50}, 422, "n 50 is over this server's limit of 8"),
    ({"prompt": _b64(b"\xf5x"), "max_bytes": 100000}, 422, "max_bytes 100000 is over"),
    ({"prompt": _b64(b"\xf5x"), "seed": -3}, 422, "seed"),
    ({"prompt": _b64(b"\xf5x"), "stop": [""]}, 422, "empty stop sequence"),
    ({"prompt": _b64(b"\xf5" + b"a" * 20000)}, 413, "the context is 20001 bytes"),
    ({}, 422, "either prompt"),
    ({"prompt": _b64(b"\xf5"), "bogus": 1}, 422, "bogus"),
])
def test_bad_generate_requests_get_a_4xx_message(server, body, status, words):
    for path in ("/v1/generate", "/v1/generate/stream"):
        r = _post(server.url, path, body)
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert words in error and "\n" not in error and "Traceback" not in r.text


def test_bad_bodies_get_a_4xx_message(server):
    r = _post(server.url, "/v1/score", content=b'{"text": "caf\xe9"}')
    assert r.status_code == 400 and "not valid UTF-8" in r.json()["error"]
    r = _post(server.url, "/v1/score", content=b'{"text": ')
    assert r.status_code == 422 and r.json()["error"] == "the request body is not valid JSON"
    r = _post(server.url, "/v1/score", content=b'{"text": "' + b"a" * (70 << 10) + b'"}')
    assert r.status_code == 413 and "limit of 65536 bytes" in r.json()["error"]
    r = _post(server.url, "/v1/inspect", {"text": "a" * (17 << 10)})
    assert r.status_code == 413 and "this server takes at most 16384" in r.json()["error"]
    r = _post(server.url, "/v1/score", content=b'{"text": "\\ud800"}')
    assert r.status_code == 422 and "surrogate" in r.json()["error"]


def test_the_client_says_what_was_refused(remote):
    with pytest.raises(EngineUnavailable, match=r"refused the request \(422: top_p"):
        remote.generate(GenerationRequest(b"\xf5a", top_p=2.0, max_bytes=4))


def test_cancel_closes_the_stream_and_frees_the_slot(remote, server):
    cancel = threading.Event()
    seen = []

    def on_update(cands):
        seen.append(cands)
        cancel.set()  # the first update: the writer pressed esc

    req = GenerationRequest(_prompt(), stop=[bytes([EOS])], max_bytes=256, n=2, seed=1)
    started = time.monotonic()
    cands = remote.generate(req, on_update=on_update, cancel=cancel)
    assert time.monotonic() - started < 60
    assert seen and all(c.finish == "cancelled" for c in cands) and all(c.nbytes < 256 for c in cands)
    m = _wait_active(server.url, 0)
    assert m["active_streams"] == 0


def test_a_client_that_disconnects_frees_its_slot(server):
    body = {"prompt": _b64(_prompt()), "max_bytes": 256, "n": 3, "seed": 2, "stop": []}
    before = _wait_active(server.url, 0)["bytes_generated"]
    with httpx.stream("POST", f"{server.url}/v1/generate/stream", json=body) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: update"):
                assert _wait_active(server.url, 1)["active_streams"] == 1  # running while it is read
                break  # leaving iter_lines closes the connection: the client is gone
    m = _wait_active(server.url, 0)
    assert m["active_streams"] == 0
    time.sleep(0.5)
    written = httpx.get(f"{server.url}/metrics", params={"format": "json"}).json()["bytes_generated"] - before
    assert 0 < written < 3 * 256  # its rows left the batch early


def test_metrics_in_prometheus_text(server, remote):
    remote.score("Hello.")
    text = httpx.get(f"{server.url}/metrics").text
    for name in ("scriba_requests_total{", "scriba_active_streams ", "scriba_generated_bytes_total ",
                 "scriba_generated_bytes_per_second ", 'scriba_request_seconds_bucket{endpoint="/v1/score",le="+Inf"}',
                 "scriba_time_to_first_byte_seconds_count "):
        assert name in text


def test_a_generation_past_the_timeout_is_cut_with_a_message(bundled_engine):
    from engine.remote import RemoteEngine
    from engine.serve import ServerThread
    from engine.serve.app import Limits, create_app

    app = create_app(bundled_engine, Limits(timeout_s=0.3))
    with ServerThread(app) as s:
        body = {"prompt": _b64(_prompt()), "max_bytes": 4000, "n": 1, "stop": []}
        r = httpx.post(f"{s.url}/v1/generate", json=body, timeout=60)
        assert r.status_code == 504 and "ran past this server's limit of 0.3 s" in r.json()["error"]
        with pytest.raises(EngineUnavailable, match="ran past this server's limit"):
            RemoteEngine(s.url).generate(GenerationRequest(_prompt(), stop=[], max_bytes=4000, n=1))


def test_unreachable_server_is_one_line(tmp_path):
    from engine.remote import RemoteEngine
    from engine.serve import free_port

    statuses = []
    engine = RemoteEngine(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01, timeout=2,
                          on_status=statuses.append)
    with pytest.raises(EngineUnavailable, match=r"^the engine at http://127\.0\.0\.1:\d+ is unreachable \(") as e:
        engine.generate(GenerationRequest(b"\xf5", max_bytes=4))
    assert "\n" not in str(e.value) and statuses == ["unreachable"] and engine.status == "unreachable"
    with pytest.raises(EngineUnavailable, match="unreachable"):
        engine.info()
    with pytest.raises(EngineUnavailable, match="must start with http"):
        RemoteEngine("localhost:8421")


def test_a_slow_answer_marks_the_engine_slow(server):
    from engine.remote import RemoteEngine

    statuses = []
    engine = RemoteEngine(server.url, slow_s=0.0, on_status=statuses.append)
    engine.generate(GenerationRequest(_prompt(), max_bytes=4, n=1, seed=0))
    assert engine.status == "slow" and statuses == ["slow"]
    assert engine.status_line().startswith(f"remote {server.url}: slow (first byte after ")


def test_the_client_reconnects_to_a_restarted_server(bundled_engine):
    from engine.protocol import Engine
    from engine.remote import RemoteEngine
    from engine.serve import ServerThread
    from engine.serve.app import create_app

    first = ServerThread(create_app(bundled_engine))
    port = first.port
    engine = RemoteEngine(first.url, retries=1, backoff=0.05)
    assert isinstance(engine, Engine)
    with first:
        want = engine.score("Rivers run.")
    with pytest.raises(EngineUnavailable, match="unreachable"):
        engine.score("Rivers run.")
    assert engine.status == "unreachable"
    with ServerThread(create_app(bundled_engine), port=port):
        assert engine.score("Rivers run.") == want  # the same client, a new connection
        assert engine.status == "ok"
