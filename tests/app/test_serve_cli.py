"""`scriba serve` as a real process: where it listens, JSON-lines logs, and the token it makes off loopback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.serve import free_port

ROOT = Path(__file__).resolve().parents[2]


def _start(args, tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--device", "cpu", *args], env=env,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=tmp_path)


def _wait(url, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not start")


def _stop(proc) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    return err


def test_serve_off_loopback_prints_a_new_token_and_requires_it(tmp_path):
    port = free_port()
    proc = _start(["--host", "0.0.0.0", "--port", str(port)], tmp_path)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url, proc)
        assert httpx.get(f"{url}/v1/info").status_code == 401
        saved = tmp_path / "config" / "scriba" / "serve-token"
        token = saved.read_text().strip()
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        r = httpx.post(f"{url}/v1/score", json={"text": "Soil."}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["bits_per_byte"] > 0
    finally:
        err = _stop(proc)
    assert f"new token (saved in {saved}, mode 0600): {token}" in err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    served = next(r for r in records if r["msg"] == "serving")
    assert (served["host"], served["port"], served["token"], served["device"]) == ("0.0.0.0", port, "required", "cpu")
    assert any(r["msg"] == "request" and r["path"] == "/v1/score" and r["status"] == 200 for r in records)


def test_serve_on_loopback_needs_no_token(tmp_path):
    port = free_port()
    proc = _start(["--port", str(port)], tmp_path)
    try:
        _wait(f"http://127.0.0.1:{port}", proc)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/info").json()["model"]
    finally:
        err = _stop(proc)
    assert "(loopback: no token)" in err and "new token" not in err


@pytest.mark.parametrize("args, words", [
    (["--token-file", "missing-token"], "cannot read the token file"),
    (["--port", "0"], "is not a port"),
    (["--model", "no-such-model"], "no model at"),
])
def test_serve_refusals_are_one_line(tmp_path, args, words):
    proc = _start(args, tmp_path)
    err = proc.communicate(timeout=120)[1]
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert proc.returncode in (1, 2) and len(lines) == 1 and words in lines[0] and lines[0].startswith("scriba serve:")
