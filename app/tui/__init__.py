"""The scriba TUI (Textual). `run_app` is the entry point the CLI calls; importing this package is cheap
(Textual and the app load inside run_app; the engine loads in a worker after the first screen)."""

from __future__ import annotations

import sys
from pathlib import Path


def run_app(path: str | None, db_path=None, model_dir=None, backend: str = "auto", device: str | None = None,
            *, autosave: bool = True, engine_url: str | None = None) -> int:
    """Open `path` (default: the writer's copy of the demo document) in the editor. Returns the exit
    code: 0, or 1 when the file is refused (binary, not UTF-8, a folder), with a one-line message."""
    # Textual, the store and the document tree load here, not when the CLI imports this package
    from app.session import demo_copy, read_document_file
    from engine.document import InputRefused

    try:
        file = Path(path).expanduser() if path else demo_copy()
        read_document_file(file)  # refuse binary / invalid input before the screen opens
    except InputRefused as exc:
        print(f"scriba: {path}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"scriba: cannot prepare the demo document: {exc}", file=sys.stderr)
        return 1
    from app.tui.app import ScribaApp

    app = ScribaApp(file, db_path=db_path, model_dir=model_dir, backend=backend, device=device,
                    autosave=None if autosave else False,  # None: the settings' (--no-autosave turns it off)
                    engine_url=engine_url)
    result = app.run()
    if app.main.recorder.farewell:
        print(app.main.recorder.farewell, file=sys.stderr)
    return int(app.return_code or 0) if result is None or isinstance(result, int) else 0


__all__ = ["run_app"]
