"""The HTTP face of an engine (FastAPI): generate (streamed as server-sent events, or whole), score, inspect,
info, health, metrics; with an OpenAPI schema at /openapi.json.

Every error is JSON `{"error": "one line"}` with a 4xx status (5xx only for a failure of the engine itself,
and then without a stack trace). Prompts are bytes that are not UTF-8 (engine.bytes' control bytes), so
they travel base64-encoded; a request may give a writing task instead and let the server build its prompt.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.protocol import Candidate, GenerationRequest
from engine.serve.auth import authorized
from engine.serve.metrics import Metrics

log = logging.getLogger("scriba.serve")
API = "/v1"
KEEPALIVE_S = 1.0  # a comment line this often on a quiet stream: a closed client is noticed within it


@dataclass
class Limits:
    request_bytes: int = 1 << 20  # a request body
    context_bytes: int = 64 << 10  # a prompt, or a text to score / inspect
    max_bytes: int = 4096  # bytes written per candidate
    max_n: int = 8  # candidates per request
    max_temperature: float = 5.0
    timeout_s: float = 300.0  # a generation is cut after this long


# ---------------------------------------------------------------------------------------------- schema
class TaskBody(BaseModel):
    """A writing task (engine.tasks.Task): the server builds the prompt, its stop rule and its length."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(description="expand | rewrite | summarise | continue | outline")
    level: str = Field(description="sentence | paragraph | heading | section | document")
    prefix: str = ""
    suffix: str = ""
    old: str | None = None
    instruction: str | None = None
    heading_level: int = Field(0, ge=0, le=6)


class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str | None = Field(None, description="the prompt bytes (BOS included), base64")
    task: TaskBody | None = Field(None, description="or a writing task instead of a prompt")
    stop: list[str] | None = Field(None, description="stop sequences, base64 (default: EOS, or the task's)")
    stop_after: list[str] | None = Field(None, description="stop once the text ends with one of these, base64")
    max_bytes: int | None = Field(None, ge=0, description="bytes per candidate (default 512, or the task's)")
    n: int = Field(3, ge=1)
    temperature: float = Field(0.8, ge=0.0, allow_inf_nan=False)
    top_p: float = Field(0.95, gt=0.0, le=1.0, allow_inf_nan=False)
    seed: int | None = Field(None, ge=0, lt=2**63)


class CandidateOut(BaseModel):
    text: str
    finish: Literal["stop", "length", "cancelled", "running"]
    nbytes: int
    logprob: float


class GenerateOut(BaseModel):
    candidates: list[CandidateOut]
    error: str | None = None


class TextBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str


class ScoreOut(BaseModel):
    bits_per_byte: float


class InspectOut(BaseModel):
    text: str
    entropy: list[float]
    surprisal: list[float]
    boundaries: list[list[int]]


class InfoOut(BaseModel):
    model: str
    backend: str
    device: str
    params: int
    config: dict
    limits: dict


class HealthOut(BaseModel):
    status: Literal["ok"]
    model: str
    active_streams: int


class ErrorOut(BaseModel):
    error: str


ERRORS = {400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}}


def _b64(field: str, value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, f"{field} is not base64") from None


def _candidates(cands: list[Candidate]) -> list[dict]:
    out = []
    for c in cands:
        d = asdict(c)
        if not math.isfinite(d["logprob"]):
            d["logprob"] = -1e30  # JSON has no -inf (a byte the model gave no probability: greedy ties)
        out.append(d)
    return out


def to_request(body: GenerateBody, limits: Limits) -> GenerationRequest:
    """The GenerationRequest a body asks for, or HTTPException 413/422 with a one-line message."""
    from engine.bytes import EOS

    if (body.prompt is None) == (body.task is None):
        raise HTTPException(422, "give either prompt (base64 bytes) or task, not both or neither")
    max_bytes, stop, stop_after = 512, [bytes([EOS])], []
    if body.task is not None:
        from engine.tasks import ACTION_LEVELS, Action, Task, build_prompt

        t = body.task
        if t.action not in {a.value for a in Action}:
            raise HTTPException(422, f"unknown action {t.action!r} (one of {', '.join(a.value for a in Action)})")
        if t.level not in ACTION_LEVELS[Action(t.action)] and not (t.action == "summarise" and t.level == "heading"):
            levels = ", ".join(ACTION_LEVELS[Action(t.action)])
            raise HTTPException(422, f"action {t.action} works at level {levels}, not {t.level!r}")
        try:
            prompt = build_prompt(Task(Action(t.action), t.level, t.prefix, t.suffix, t.old, t.instruction,
                                       t.heading_level))
        except (ValueError, UnicodeEncodeError) as exc:
            raise HTTPException(422, f"bad task: {str(exc).splitlines()[0]}") from None
        data, max_bytes, stop, stop_after = prompt.data, prompt.max_bytes, prompt.stop, prompt.stop_after
    else:
        data = _b64("prompt", body.prompt)
    if len(data) > limits.context_bytes:
        raise HTTPException(413, f"the context is {len(data)} bytes; this server takes at most {limits.context_bytes}")
    if body.stop is not None:
        stop = [_b64("stop", s) for s in body.stop]
    if body.stop_after is not None:
        stop_after = [_b64("stop_after", s) for s in body.stop_after]
    if any(not s for s in stop + stop_after):
        raise HTTPException(422, "an empty stop sequence would stop at once")
    if body.max_bytes is None:
        max_bytes = min(max_bytes, limits.max_bytes)  # the default (or the task's) fits the server's limit
    else:
        max_bytes = body.max_bytes
    if max_bytes > limits.max_bytes:
        raise HTTPException(422, f"max_bytes {max_bytes} is over this server's limit of {limits.max_bytes}")
    if body.n > limits.max_n:
        raise HTTPException(422, f"n {body.n} is over this server's limit of {limits.max_n} candidates")
    if body.temperature > limits.max_temperature:
        raise HTTPException(422, f"temperature {body.temperature} is over {limits.max_temperature}")
    return GenerationRequest(data, stop=stop, stop_after=stop_after, max_bytes=max_bytes, n=body.n,
                             temperature=body.temperature, top_p=body.top_p, seed=body.seed)


# ---------------------------------------------------------------------------------------------- ASGI
class BodyGuard:
    """Refuses a request body over the size limit (413) or not valid UTF-8 (400) before any handler reads
    it, and logs every request as one JSON line (and counts it in the metrics)."""

    def __init__(self, app, limits: Limits, metrics: Metrics):
        self.app, self.limits, self.metrics = app, limits, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        status = [0]

        async def send_logged(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        path = scope.get("path", "")
        try:
            if scope.get("method") in ("POST", "PUT", "PATCH"):
                refusal, body = await self._read(receive)
                if refusal is not None:
                    return await refusal(scope, receive, send_logged)
                replayed = [False]

                async def replay():
                    if not replayed[0]:
                        replayed[0] = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                return await self.app(scope, replay, send_logged)
            return await self.app(scope, receive, send_logged)
        finally:
            seconds = time.monotonic() - started
            self.metrics.request(path, status[0], seconds)
            log.info("request", extra={"fields": {"method": scope.get("method"), "path": path,
                                                  "status": status[0], "ms": round(seconds * 1000, 1),
                                                  "client": (scope.get("client") or ["?"])[0]}})

    async def _read(self, receive):
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return JSONResponse({"error": "the client went away"}, 400), b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.request_bytes:
                return JSONResponse({"error": f"the request is over this server's limit of "
                                              f"{self.limits.request_bytes} bytes"}, 413), b""
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return JSONResponse({"error": f"the request body is not valid UTF-8 (byte {exc.start})"}, 400), b""
        return None, body


def _one_line_validation(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
    msg = e.get("msg", "invalid")
    if e.get("type") == "json_invalid":
        return "the request body is not valid JSON"
    return f"{where}: {msg}" if where else msg


def create_app(engine, limits: Limits | None = None, token: str | None = None, max_rows: int = 1024) -> FastAPI:
    """The app serving `engine` (an InProcessEngine): a Batcher over its Sampler decodes every generation."""
    from engine.serve.batcher import Batcher

    limits = limits or Limits()
    metrics = Metrics()
    batcher = Batcher(engine.sampler, max_rows=max_rows)
    batcher.on_bytes = metrics.generated
    metrics.active_streams = lambda: batcher.stats.active_streams
    metrics.decoder = batcher.counters
    info = engine.info()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()

    app = FastAPI(title="scriba engine", version="1", description=__doc__, lifespan=lifespan)
    app.state.batcher, app.state.metrics, app.state.engine, app.state.limits = batcher, metrics, engine, limits

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"error": _one_line_validation(exc)}, 422)

    @app.exception_handler(StarletteHTTPException)  # fastapi's HTTPException, and routing's 404 / 405
    async def _http(request: Request, exc: StarletteHTTPException):
        headers = getattr(exc, "headers", None)
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception):
        log.exception("request failed")
        return JSONResponse({"error": f"the engine failed ({type(exc).__name__})"}, 500)

    def require_token(request: Request) -> None:
        if not authorized(request.headers.get("authorization"), token):
            raise HTTPException(401, "a valid bearer token is required (Authorization: Bearer TOKEN)",
                                headers={"WWW-Authenticate": "Bearer"})

    auth = [Depends(require_token)]

    @app.get("/health", response_model=HealthOut)
    def health():
        return {"status": "ok", "model": info.model, "active_streams": batcher.stats.active_streams}

    @app.get(f"{API}/info", response_model=InfoOut, dependencies=auth, responses=ERRORS)
    def get_info():
        return {**asdict(info), "limits": asdict(limits)}

    @app.get("/metrics", dependencies=auth, responses=ERRORS)
    def get_metrics(format: Literal["prometheus", "json"] = "prometheus"):
        if format == "json":
            return JSONResponse(metrics.as_dict())
        return PlainTextResponse(metrics.prometheus(), media_type="text/plain; version=0.0.4")

    def _text(body: TextBody) -> str:
        n = len(body.text.encode("utf-8", "surrogatepass"))
        if n > limits.context_bytes:
            raise HTTPException(413, f"the text is {n} bytes; this server takes at most {limits.context_bytes}")
        try:
            body.text.encode("utf-8")
        except UnicodeEncodeError:
            raise HTTPException(422, "text holds a lone surrogate (not encodable as UTF-8)") from None
        return body.text

    @app.post(f"{API}/score", response_model=ScoreOut, dependencies=auth, responses=ERRORS)
    def score(body: TextBody):
        return {"bits_per_byte": engine.score(_text(body))}

    @app.post(f"{API}/inspect", response_model=InspectOut, dependencies=auth, responses=ERRORS)
    def inspect(body: TextBody):
        return asdict(engine.inspect(_text(body)))

    def _submit(req: GenerationRequest, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue):
        cancel = threading.Event()

        def on_update(cands):
            loop.call_soon_threadsafe(queue.put_nowait, cands)

        def on_done():
            loop.call_soon_threadsafe(queue.put_nowait, None)

        return batcher.submit(req, on_update, cancel, timeout=limits.timeout_s, on_done=on_done), cancel

    def _error(job) -> str | None:
        if job.error == "timeout":
            return f"the generation ran past this server's limit of {limits.timeout_s:g} s"
        return job.error

    def _first_byte(job) -> None:
        if job.first_byte is not None:
            metrics.first_byte(job.first_byte - job.submitted)

    @app.post(f"{API}/generate", response_model=GenerateOut, dependencies=auth, responses=ERRORS)
    async def generate(body: GenerateBody, request: Request):
        """All candidates once they are written."""
        req = to_request(body, limits)
        loop, queue = asyncio.get_running_loop(), asyncio.Queue()
        job, cancel = _submit(req, loop, queue)
        try:
            while not job.done.is_set():
                try:
                    if await asyncio.wait_for(queue.get(), KEEPALIVE_S) is None:
                        break
                except asyncio.TimeoutError:
                    pass
                if await request.is_disconnected():
                    cancel.set()
                    break
        finally:
            cancel.set()
        await asyncio.get_running_loop().run_in_executor(None, job.done.wait)
        _first_byte(job)
        if job.error == "timeout":
            return JSONResponse({"error": _error(job)}, 504)
        return {"candidates": _candidates(job.result), "error": _error(job)}

    @app.post(f"{API}/generate/stream", dependencies=auth, responses={
        200: {"content": {"text/event-stream": {}}, "description": "`update` events (a JSON list of candidates) "
              "as they are written, then one `done` event ({candidates, error})"}, **ERRORS})
    async def generate_stream(body: GenerateBody, request: Request):
        """Candidates as they are written (server-sent events). Closing the stream cancels the generation."""
        req = to_request(body, limits)
        loop, queue = asyncio.get_running_loop(), asyncio.Queue()
        job, cancel = _submit(req, loop, queue)

        async def events():
            try:
                while True:
                    try:
                        cands = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    done = cands is None
                    while not done and not queue.empty():  # behind the decoder: the latest update only
                        later = queue.get_nowait()
                        done = later is None
                        cands = cands if done else later
                    if cands is not None:
                        yield f"event: update\ndata: {json.dumps(_candidates(cands))}\n\n"
                    if done:  # the job is done (its last update came before)
                        _first_byte(job)
                        result = {"candidates": _candidates(job.result), "error": _error(job)}
                        yield f"event: done\ndata: {json.dumps(result)}\n\n"
                        return
            finally:
                cancel.set()  # a client that went away (or any end) frees the rows at the next step

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    app.add_middleware(BodyGuard, limits=limits, metrics=metrics)
    return app
