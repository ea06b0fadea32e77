"""An installable package: the wheel carries the bundled model, the demo, the engine configs, the TUI's
styles and the store's migrations, and the code finds each through package resources — in the checkout
and in an installed copy away from it."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from app.store import db
from engine import resources
from engine.protocol import EngineUnavailable

REPO = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def python_folders() -> set[str]:
    """Dotted names of the folders of app/ and engine/ that hold Python files."""
    found = set()
    for top in ("app", "engine"):
        for source in (REPO / top).rglob("*.py"):
            if "__pycache__" not in source.parts:
                found.add(".".join(source.parent.relative_to(REPO).parts))
    return found


def checkout_files() -> list[str]:
    """The files of the working tree as git sees them (tracked, and untracked but not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [name for name in out.splitlines() if (REPO / name).is_file()]


def test_every_python_folder_is_a_listed_package():
    assert SETUPTOOLS["package-dir"] == {"scriba_assets": "assets"}
    assert set(SETUPTOOLS["packages"]) == python_folders() | {"scriba_assets"}


def test_resources_are_found_in_the_checkout():
    model = resources.bundled_model_dir()
    assert (model / "config.json").is_file() and (model / "MODEL_CARD.md").is_file()
    assert model.samefile(REPO / "assets" / "model")
    assert resources.demo_document().read_text() == (REPO / "assets" / "demo.md").read_text()
    assert resources.configs_dir().samefile(REPO / "engine" / "configs")
    assert resources.config_file("default") == resources.config_file("default.json")
    assert json.loads(resources.config_file("tiny").read_text())
    assert resources.config_names() == sorted(p.stem for p in (REPO / "engine" / "configs").glob("*.json"))
    assert (db.MIGRATIONS_DIR / "env.py").is_file()


@pytest.mark.parametrize("name", ["nope", "", "../configs/default", "default.yaml"])
def test_an_unknown_config_is_a_one_line_refusal(name):
    with pytest.raises(resources.MissingResource) as caught:
        resources.config_file(name)
    message = str(caught.value)
    assert "\n" not in message and repr(name) in message and "default, " in message


def test_missing_model_and_demo_are_one_line_errors(tmp_path, monkeypatch):
    # an installation whose scriba_assets package lost its files
    (tmp_path / "scriba_assets").mkdir()
    (tmp_path / "scriba_assets" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "scriba_assets", raising=False)
    importlib.invalidate_caches()
    try:
        assert resources.assets_dir() == tmp_path / "scriba_assets"
        with pytest.raises(EngineUnavailable, match=r"^the bundled model is missing from this install") as no_model:
            resources.bundled_model_dir()
        with pytest.raises(resources.MissingResource, match=r"^the demo document is missing") as no_demo:
            resources.demo_document()
        assert "\n" not in str(no_model.value) + str(no_demo.value)
        assert resources.bundled_model_dir(check=False) == tmp_path / "scriba_assets" / "model"
    finally:
        sys.modules.pop("scriba_assets", None)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the working tree (no stale build/ folder, nothing written here)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in checkout_files():
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, timeout=600)
    (built,) = out.glob("scriba-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_code_model_demo_configs_styles_and_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {"scriba_assets/__init__.py", "scriba_assets/demo.md", "app/tui/app.tcss",
               "app/store/migrations/env.py", "app/store/migrations/script.py.mako"}
    shipped |= {f"scriba_assets/model/{p.name}" for p in (REPO / "assets" / "model").iterdir() if p.is_file()}
    shipped |= {f"engine/configs/{p.name}" for p in (REPO / "engine" / "configs").glob("*.json")}
    shipped |= {f"app/store/migrations/versions/{p.name}" for p in db.MIGRATIONS_DIR.glob("versions/*.py")}
    shipped |= {name for name in checkout_files() if name.endswith(".py") and name.startswith(("app/", "engine/"))}
    assert {"scriba_assets/model/config.json", "scriba_assets/model/model.safetensors",
            "engine/configs/default.json", "app/store/migrations/versions/0003_document_file_hash.py"} <= shipped
    assert shipped - names == set()
    tops = {name.split("/")[0] for name in names if not name.startswith("scriba-")}
    assert tops == {"app", "engine", "scriba_assets"}  # no bare `assets`, no tests
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "scriba = app.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


INSTALLED_CHECK = """
import json, sys
from engine import resources
from app.store import Store, db
from app.tui.app import ScribaApp
with Store(sys.argv[1]) as store:
    head = db.head_revision()
print(json.dumps({"model": str(resources.bundled_model_dir()), "demo": str(resources.demo_document()),
                  "config": str(resources.config_file("default")), "migrations": str(db.MIGRATIONS_DIR),
                  "css": str(ScribaApp.CSS_PATH), "head": head, "torch": "torch" in sys.modules}))
"""


@pytest.mark.slow
def test_an_installed_copy_finds_its_own_resources(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    # PYTHONPATH first: the installed copy, not the checkout, answers `import app` / `import engine`
    result = subprocess.run([sys.executable, "-c", INSTALLED_CHECK, str(tmp_path / "x.db")], cwd=tmp_path,
                            env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    assert found.pop("head") == db.head_revision() and found.pop("torch") is False
    for what, path in found.items():
        assert Path(path).is_relative_to(target), (what, path)
        assert Path(path).exists(), (what, path)
