"""What the editor was asked to open, and how (the app's arguments, given to the screen and its parts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app import writing


@dataclass
class EditorOptions:
    path: Path
    db_path: str | Path | None = None
    model_dir: str | Path | None = None
    backend: str = "auto"
    device: str | None = None
    watch: bool = True
    autosave: bool = True
    load_engine: bool = True  # load the engine (model_dir, or the bundled one) once the document shows
    engine_url: str | None = None  # instead: use the engine served there (scriba serve; engine.remote)
    sampling: writing.Sampling = writing.Sampling()
