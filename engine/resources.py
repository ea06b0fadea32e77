"""The files scriba ships: the bundled model, the demo document and the engine configs, found through
package resources so that a wheel (or `pip install .`) finds them where it put them.

The top-level `assets/` folder is installed as the package `scriba_assets` (pyproject's `package-dir`);
the configs are package data of `engine` (`engine/configs/*.json`). Torch-free.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from engine.protocol import EngineUnavailable

ASSETS_PACKAGE = "scriba_assets"


class MissingResource(FileNotFoundError):
    """A file scriba ships is not where the installation should have put it. One-line message."""


def _as_path(location: Traversable, what: str) -> Path:
    if not isinstance(location, Path):  # e.g. a zipped install: the model is read by path (safetensors)
        raise MissingResource(f"{what} is not a plain folder ({location}); install scriba unzipped")
    return location


def assets_dir() -> Path:
    """The installed `scriba_assets` package, or the `assets/` folder of a source checkout run without
    installing (PYTHONPATH=checkout, as on the GPU machine), which sits beside the `engine` package."""
    try:
        return _as_path(resources.files(ASSETS_PACKAGE), "the scriba assets")
    except ModuleNotFoundError:
        return _as_path(resources.files("engine"), "the engine package").parent / "assets"


def bundled_model_dir(*, check: bool = True) -> Path:
    """The folder of the bundled model. With `check`, EngineUnavailable when it holds no model."""
    folder = assets_dir() / "model"
    if check and not (folder / "config.json").is_file():
        raise EngineUnavailable(f"the bundled model is missing from this installation ({folder}); "
                                "reinstall scriba or give a model folder (--model DIR)")
    return folder


def demo_document() -> Path:
    """The demo Markdown document (read-only: the editor opens a copy of it)."""
    path = assets_dir() / "demo.md"
    if not path.is_file():
        raise MissingResource(f"the demo document is missing from this installation ({path}); reinstall scriba")
    return path


def configs_dir() -> Path:
    """The folder of the engine's run configs (`default.json`, `tiny.json`, …)."""
    return _as_path(resources.files("engine"), "the engine package") / "configs"


def config_names() -> list[str]:
    """The names of the shipped configs, without `.json`, sorted."""
    return sorted(p.stem for p in configs_dir().glob("*.json"))


def config_file(name: str) -> Path:
    """The shipped config called `name` ("default" or "default.json"). MissingResource names the known
    ones when there is no such config (a path is not a name: the caller opens paths itself)."""
    stem = name[:-len(".json")] if name.endswith(".json") else name
    path = configs_dir() / f"{stem}.json"
    if not stem or "/" in stem or "\\" in stem or not path.is_file():
        raise MissingResource(f"no engine config named {name!r} (known: {', '.join(config_names()) or 'none'})")
    return path
