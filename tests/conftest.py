"""Shared fixtures. Engine fixtures build small real models (random weights), never fakes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# `scriba bench --model` compiles the CPU decoding step to time it (engine/cpu_compile.py, tens of seconds);
# tests run the eager step unless they ask (test_cpu_fast.py compiles it on purpose).
os.environ.setdefault("SCRIBA_CPU_COMPILE", "0")

SHARED = Path(os.environ.get("SCRIBA_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CORPUS = SHARED / "corpus"


def pytest_collection_modifyitems(config, items):
    """GPU tests need CUDA; skip them, with the reason, everywhere else."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run on the GPU machine: pytest -m gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _own_settings(tmp_path, monkeypatch):
    """Each test has a settings file of its own (none yet), never the writer's (app.settings, $SCRIBA_CONFIG)."""
    monkeypatch.setenv("SCRIBA_CONFIG", str(tmp_path / "config" / "config.toml"))


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not any(CORPUS.glob("*.jsonl.xz")):
        pytest.skip(f"corpus not found at {CORPUS} (set SCRIBA_SHARED to the folder holding corpus/)")
    return CORPUS


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny 1-stage H-Net with random weights (seeded), saved as a real model directory."""
    import torch

    from engine.config import preset
    from engine.model import HNetLM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-model")
    HNetLM(preset("tiny")).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir):
    from engine.api import load_engine

    return load_engine(tiny_model_dir, backend="torch", device="cpu")
