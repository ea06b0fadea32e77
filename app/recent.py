"""The files the writer opened lately, newest first: a JSON list beside the revision store (the
platformdirs data folder, or the folder of `--db`), so each store has its own. UI-free."""

from __future__ import annotations

import json
import os
from pathlib import Path

from platformdirs import user_data_dir

from app.sync import atomic_write

KEEP = 20  # files remembered


def recent_file(db_path: str | Path | None) -> Path:
    """Where the list lives: beside the store's file (`--db`, else $SCRIBA_DB, else the user data folder's)."""
    db_path = db_path or os.environ.get("SCRIBA_DB")
    folder = Path(db_path).expanduser().parent if db_path else Path(user_data_dir("scriba", appauthor=False))
    return folder / "recent.json"


def load(db_path: str | Path | None) -> list[Path]:
    """The remembered files that still exist, newest first (a missing or damaged list reads as empty)."""
    try:
        entries = json.loads(recent_file(db_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [Path(e) for e in entries if isinstance(e, str) and Path(e).is_file()]


def add(db_path: str | Path | None, path: str | Path) -> list[Path]:
    """Put `path` first in the list (once) and keep it; returns the list. An unwritable folder is
    left alone (the list is a convenience: opening the file never fails for it)."""
    path = Path(path).expanduser().resolve()
    paths = [path, *(p for p in load(db_path) if p.resolve() != path)][:KEEP]
    target = recent_file(db_path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, json.dumps([str(p) for p in paths], indent=1) + "\n")
    except OSError:
        pass
    return paths
