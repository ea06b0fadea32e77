"""Fixtures for the TUI tests: a copy of the demo essay, a fresh store, the app, and waiting helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.tui import formatting
from engine.resources import demo_document

SIZE = (160, 48)


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch):
    """No clocks on screen: every time shown reads the same."""
    monkeypatch.setattr(formatting, "FROZEN_TIME", "12:00:00")


@pytest.fixture
def essay(tmp_path) -> Path:
    path = tmp_path / "essay.md"
    shutil.copyfile(demo_document(), path)
    return path


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "scriba.db"


@pytest.fixture
def make_app(essay, db_path):
    """ScribaApp on the essay and a fresh store; the engine is given (or none), the watcher off by default."""
    from app.tui.app import ScribaApp

    def make(path=None, *, engine=None, watch=False, **kwargs):
        kwargs.setdefault("load_engine", False)
        kwargs.setdefault("max_bytes", 24)
        kwargs.setdefault("n_candidates", 2)
        kwargs.setdefault("seed", 0)
        return ScribaApp(path or essay, db_path=db_path, engine=engine, watch=watch, **kwargs)

    return make



