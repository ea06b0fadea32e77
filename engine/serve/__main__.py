"""`python -m engine.serve [--host H] [--port P] [--model DIR] [--device D] [--token-file F]` (what
`scriba serve` runs; the benchmark starts it this way, in a process of its own)."""

from __future__ import annotations

import argparse
import sys

from engine.protocol import EngineUnavailable
from engine.serve import json_logging, serve
from engine.serve.auth import TokenError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.serve")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8421)
    p.add_argument("--model", default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--backend", default="auto")
    p.add_argument("--token-file", default=None)
    args = p.parse_args(argv)
    json_logging()
    try:
        return serve(args.host, args.port, args.model, args.device, args.backend, args.token_file,
                     announce=lambda line: print(line, file=sys.stderr, flush=True))
    except (EngineUnavailable, TokenError) as exc:
        print(f"scriba serve: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
