"""`scriba serve`: the engine as an HTTP service (app.py), its decode loop (batcher.py), who may use it
(auth.py), its counters (metrics.py) and a load benchmark (bench.py). `serve` runs it until interrupted;
`ServerThread` runs it in this process (tests, benchmarks)."""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time

log = logging.getLogger("scriba.serve")


class JsonLines(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                "msg": record.getMessage(), **getattr(record, "fields", {})}
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line)


def json_logging(level: int = logging.INFO, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # BodyGuard logs every request itself


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _uvicorn_config(app, host: str, port: int):
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                          timeout_graceful_shutdown=5)


class ServerThread:
    """A real uvicorn server for `app` on host:port, in a thread of this process."""

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None):
        import uvicorn

        self.host, self.port = host, port or free_port(host)
        self.server = uvicorn.Server(_uvicorn_config(app, self.host, self.port))
        self.thread = threading.Thread(target=self.server.run, name="scriba-serve", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def serve(host: str = "127.0.0.1", port: int = 8421, model_dir=None, device: str | None = None,
          backend: str = "auto", token_file=None, limits=None, announce=print) -> int:
    """Load the model and serve it until interrupted. `announce` gets the lines a person must see (where it
    listens, a token generated just now). Raises EngineUnavailable / TokenError with one line."""
    import uvicorn

    from engine.api import load_engine
    from engine.serve.app import create_app
    from engine.serve.auth import default_token_path, token_policy

    token, created = token_policy(host, token_file)
    # on a CPU the decoding step compiles in the background, the first requests decoded eagerly meanwhile
    engine = load_engine(model_dir, backend=backend, device=device, compile_cpu="background")
    app = create_app(engine, limits, token=token)
    info = engine.info()
    log.info("serving", extra={"fields": {"host": host, "port": port, "model": info.model,
                                          "backend": info.backend, "device": info.device,
                                          "token": "required" if token else "none (loopback)"}})
    announce(f"scriba serve: {info.summary()} on http://{host}:{port}"
             + ("" if token else " (loopback: no token)"))
    if created:
        announce(f"scriba serve: new token (saved in {default_token_path()}, mode 0600): {token}")
    # The decode loop thread waits for the GIL after each block's GPU sync; with Python's default 5 ms switch
    # interval, request threads busy writing streams would hold it for longer than a block takes to decode.
    sys.setswitchinterval(0.0005)
    uvicorn.Server(_uvicorn_config(app, host, port)).run()
    return 0
