"""What the commands that run a model (eval, inspect, bench --model, generate) share. Torch-free until a
model loads."""

from __future__ import annotations

from engine.api import load_engine


def load_engine_for(args):
    """The engine that --model, --backend and --device ask for (EngineUnavailable when it cannot load)."""
    return load_engine(getattr(args, "model", None), backend=getattr(args, "backend", "auto") or "auto",
                       device=getattr(args, "device", None))


def engine_header(command: str, engine) -> str:
    """The first line a model command prints: which model runs, where and how."""
    return f"scriba {command} · {engine.info().summary()}"


def engine_json(engine) -> dict:
    """Which model ran, for the --json output of a model command."""
    info = engine.info()
    return dict(model=info.model, backend=info.backend, device=info.device, params=info.params)
