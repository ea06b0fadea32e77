"""`scriba serve [--host H] [--port P] [--model DIR] [--device D] [--token-file F]`: the engine as an HTTP
service for editors on other machines (`scriba --engine http://HOST:PORT FILE`). Loopback needs no token;
any other address requires one (from --token-file, or generated and saved on the first start)."""

from __future__ import annotations

import argparse
import sys

from app.cli.options import add_engine_options, refuse

NAME = "serve"


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(NAME, help="serve the engine over HTTP (for scriba --engine URL on another machine)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback; any other needs a token)")
    p.add_argument("--port", type=int, default=8421)
    p.add_argument("--token-file", help="file holding the bearer token clients must send")
    p.add_argument("--max-bytes", type=int, default=None, help="most bytes per candidate (default 4096)")
    p.add_argument("--timeout", type=float, default=None, help="seconds after which a generation is cut (300)")
    add_engine_options(p)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ModuleNotFoundError as exc:
        return refuse(f"serving needs {exc.name}: pip install 'scriba[serve]'", NAME)
    from engine.protocol import EngineUnavailable
    from engine.serve import json_logging, serve
    from engine.serve.app import Limits
    from engine.serve.auth import TokenError

    if not 0 < args.port < 65536:
        return refuse(f"--port {args.port} is not a port (1-65535)", NAME, 2)
    limits = Limits()
    if args.max_bytes is not None:
        limits.max_bytes = args.max_bytes
    if args.timeout is not None:
        limits.timeout_s = args.timeout
    json_logging()
    try:
        return serve(args.host, args.port, args.model, args.device, args.backend, args.token_file, limits,
                     announce=lambda line: print(line, file=sys.stderr, flush=True))
    except (EngineUnavailable, TokenError, OSError) as exc:
        return refuse(exc, NAME)
