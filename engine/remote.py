"""An Engine over HTTP: `scriba serve` on another machine, used through the same protocol as the in-process one.

Generations stream as server-sent events into on_update; setting `cancel` closes the stream, which frees
the request's rows on the server at its next step. Idempotent calls (info, score, inspect, and a generation
that has not started streaming) are retried on connection failures with a short backoff. Every failure is an
EngineUnavailable with one line that names the server. `status` says how the server answered last ("ok",
"slow", "unreachable") for the editor's status bar; `on_status` is told when it changes. Torch-free.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from typing import Callable

import httpx

from engine.protocol import Candidate, EngineInfo, EngineUnavailable, GenerationRequest, Inspection

log = logging.getLogger("scriba.remote")

ENV_URL = "SCRIBA_ENGINE"
ENV_TOKEN = "SCRIBA_ENGINE_TOKEN"
SLOW_S = 3.0  # a first byte later than this marks the server slow


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class RemoteEngine:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0, retries: int = 3,
                 backoff: float = 0.25, on_status: Callable[[str], None] | None = None, slow_s: float = SLOW_S):
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise EngineUnavailable(f"engine URL {url!r} must start with http:// or https://")
        token = token if token is not None else os.environ.get(ENV_TOKEN) or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # connect/write/pool: `timeout`; read: long, a generation streams keepalives every second
        self.client = httpx.Client(base_url=self.url, headers=headers,
                                   timeout=httpx.Timeout(timeout, read=max(timeout, 30.0)))
        self.retries, self.backoff = retries, backoff
        self.on_status = on_status
        self.slow_s = slow_s
        self.status = "unknown"
        self.detail = ""
        self._info: EngineInfo | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ status
    def _set_status(self, status: str, detail: str = "") -> None:
        changed = status != self.status
        self.status, self.detail = status, detail
        if changed and self.on_status is not None:
            self.on_status(status)

    def status_line(self) -> str:
        return f"remote {self.url}: {self.status}" + (f" ({self.detail})" if self.detail else "")

    def _unreachable(self, exc: Exception) -> EngineUnavailable:
        reason = {httpx.ConnectError: "connection refused or no route",
                  httpx.ConnectTimeout: "connection timed out",
                  httpx.ReadTimeout: "no answer in time",
                  httpx.RemoteProtocolError: "the connection broke"}.get(type(exc), type(exc).__name__)
        self._set_status("unreachable", reason)
        return EngineUnavailable(f"the engine at {self.url} is unreachable ({reason})")

    def _refused(self, response: httpx.Response) -> EngineUnavailable:
        try:
            message = response.json().get("error") or response.text
        except (ValueError, AttributeError):
            message = response.text[:200] or response.reason_phrase
        line = next(iter(str(message).splitlines()), "")
        if response.status_code == 401:
            return EngineUnavailable(f"the engine at {self.url} refused the token ({line}); "
                                     f"set {ENV_TOKEN} or pass the server's token")
        return EngineUnavailable(f"the engine at {self.url} refused the request ({response.status_code}: {line})")

    # ------------------------------------------------------------------ calls
    def _call(self, method: str, path: str, **kw) -> dict:
        """An idempotent call, retried on connection failures; the JSON answer or EngineUnavailable."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            started = time.monotonic()
            try:
                response = self.client.request(method, path, **kw)
            except httpx.TransportError as exc:
                last = exc
                time.sleep(self.backoff * (2 ** attempt))
                continue
            if response.status_code >= 400:
                if response.status_code >= 500 and attempt < self.retries:
                    time.sleep(self.backoff * (2 ** attempt))
                    continue
                raise self._refused(response)
            seconds = time.monotonic() - started
            slow = seconds > self.slow_s
            self._set_status("slow" if slow else "ok", f"answered after {seconds:.1f} s" if slow else "")
            return response.json()
        raise self._unreachable(last)

    def health(self) -> dict:
        return self._call("GET", "/health")

    def info(self) -> EngineInfo:
        if self._info is None:
            d = self._call("GET", "/v1/info")
            self._info = EngineInfo(d["model"], d["backend"], f"{d['device']} at {self.url}", d["params"],
                                    d.get("config", {}))
        return self._info

    def score(self, text: str) -> float:
        return float(self._call("POST", "/v1/score", json={"text": text})["bits_per_byte"])

    def inspect(self, text: str) -> Inspection:
        d = self._call("POST", "/v1/inspect", json={"text": text})
        return Inspection(d["text"], d["entropy"], d["surprisal"], d["boundaries"])

    def generate(self, request: GenerationRequest, on_update: Callable[[list[Candidate]], None] | None = None,
                 cancel: threading.Event | None = None) -> list[Candidate]:
        body = {"prompt": _b64(request.prompt), "stop": [_b64(s) for s in request.stop],
                "stop_after": [_b64(s) for s in request.stop_after], "max_bytes": request.max_bytes,
                "n": request.n, "temperature": request.temperature, "top_p": request.top_p, "seed": request.seed}
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                return self._stream(body, on_update, cancel)
            except _Started as exc:  # broke mid-stream: not retried (the writer sees what came)
                raise self._unreachable(exc.cause) from exc.cause
            except httpx.TransportError as exc:
                last = exc
                if cancel is not None and cancel.is_set():
                    break
                time.sleep(self.backoff * (2 ** attempt))
        if cancel is not None and cancel.is_set():
            return [Candidate("", "cancelled") for _ in range(max(1, request.n))]
        raise self._unreachable(last)

    def _stream(self, body, on_update, cancel) -> list[Candidate]:
        t0 = time.monotonic()
        latest: list[Candidate] = []
        got_event = False
        with self.client.stream("POST", "/v1/generate/stream", json=body) as response:
            if response.status_code >= 400:
                response.read()
                raise self._refused(response)
            try:
                event = None
                for line in response.iter_lines():
                    if cancel is not None and cancel.is_set():
                        break  # leaving the with-block closes the stream: the server cancels the rows
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:])
                        if not got_event:
                            got_event = True
                            first = time.monotonic() - t0
                            slow = first > self.slow_s
                            self._set_status("slow" if slow else "ok",
                                             f"first byte after {first:.1f} s" if slow else "")
                        if event == "done":
                            if data.get("error"):
                                raise EngineUnavailable(f"the engine at {self.url}: {data['error']}")
                            return [Candidate(**c) for c in data["candidates"]]
                        latest = [Candidate(**c) for c in data]
                        if on_update is not None:
                            on_update(latest)
            except httpx.TransportError as exc:
                if got_event:
                    raise _Started(exc) from exc
                raise
        cands = latest or [Candidate("") for _ in range(max(1, body["n"]))]
        for c in cands:
            if c.finish == "running":
                c.finish = "cancelled"
        if cancel is not None and cancel.is_set():
            if on_update is not None:
                on_update(cands)
            return cands
        raise self._unreachable(httpx.RemoteProtocolError("the stream ended without its last event"))

    def close(self) -> None:
        self.client.close()


class _Started(Exception):
    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


def engine_from_env() -> RemoteEngine | None:
    """A RemoteEngine for $SCRIBA_ENGINE, when it is set."""
    url = os.environ.get(ENV_URL)
    return RemoteEngine(url) if url else None
