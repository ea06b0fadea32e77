"""Options, messages and output helpers that several commands share. Torch-free."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable


def add_store_options(p: argparse.ArgumentParser) -> None:
    """--db and -v, for the commands that read or write the revision store (and the editor)."""
    p.add_argument("--db", help="revision database (default: $SCRIBA_DB or the user data dir)")
    p.add_argument("-v", "--verbose", action="store_true", help="log engine and store details to stderr")


def add_engine_options(p: argparse.ArgumentParser, model_required: bool = False) -> None:
    """--model, --backend and --device, for the commands that load a model (and the editor)."""
    p.add_argument("--model", required=model_required, help="model directory (default: the bundled model)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "mamba_ssm"],
                   help="Mamba-2 kernels: mamba_ssm (Triton, GPU) or torch (anywhere)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: the GPU if there is one)")


def refuse(message: str, command: str | None = None, code: int = 1) -> int:
    """Print the one-line refusal `scriba[ COMMAND]: message` on stderr; returns `code` (the exit status)."""
    line = next(iter(str(message).splitlines()), "")
    print(f"scriba {command}: {line}" if command else f"scriba: {line}", file=sys.stderr)
    return code


def one_line(text: str, width: int = 60) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def pipe_safe(run: Callable[..., int]) -> Callable[..., int]:
    """`scriba history … | head` must end quietly, not with a BrokenPipeError traceback."""

    @functools.wraps(run)
    def wrapper(*args, **kwargs) -> int:
        try:
            return run(*args, **kwargs)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout again at exit
            return 0

    return wrapper

