"""The writer's settings, kept between runs: a TOML file in `platformdirs.user_config_dir("scriba")`
(`$SCRIBA_CONFIG` names another file, e.g. for tests).

    settings, problem = load()          # never raises: a bad file gives the defaults and a one-line problem
    save(settings)                      # atomic (app.sync.atomic_write)

    theme = "textual-dark"
    candidates = 3          # how many candidates each request offers (1-9: the keys that accept them)
    temperature = 0.8       # 0 = always the likeliest byte
    top_p = 0.95
    autosave = true         # write the file on quit

    [caps]                  # at most this many bytes per level (never more than the level's own cap)
    sentence = 400

    [keymap]                # a binding's id (the help screen lists them) -> keys, comma separated
    expand = "E"
    toggle_outline = "ctrl+o,f6"

A value that is wrong (a word where a number goes, a level that does not exist) is replaced by its default
and named in the problem; the rest of the file is kept. UI-free and torch-free: the editor (app.tui) and
the writing service's `Sampling` are built from it.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from app import writing
from app.sync import atomic_write
from engine.tasks import LEVELS

ENV = "SCRIBA_CONFIG"
FILE_NAME = "config.toml"
MAX_CANDIDATES = 9  # the candidates panel accepts with the keys 1-9
MAX_CAP = 1 << 16


class SettingsError(ValueError):
    """A value the settings cannot take (one line, naming the setting)."""


@dataclass(frozen=True)
class Settings:
    theme: str = "textual-dark"
    candidates: int = 3
    temperature: float = 0.8
    top_p: float = 0.95
    autosave: bool = True
    caps: dict[str, int] = field(default_factory=dict)  # level -> at most this many bytes (only the writer's)
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys ("ctrl+e" or "f5,ctrl+e")

    def sampling(self, seed: int | None = None, max_bytes: int | None = None) -> writing.Sampling:
        """The writing service's sampling for these settings."""
        return writing.Sampling(n=self.candidates, temperature=self.temperature, top_p=self.top_p, seed=seed,
                                max_bytes=max_bytes, caps=dict(self.caps))


def path() -> Path:
    """The settings file: $SCRIBA_CONFIG, else config.toml in the user config folder."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("scriba", appauthor=False)) / FILE_NAME


# ---------------------------------------------------------------------------------------- checking values
def _number(name: str, value, kind: type, low: float, high: float):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        what = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {what} from {low:g} to {high:g} (got {value!r})")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be from {low:g} to {high:g} (got {value!r})")
    return kind(value)


def check(name: str, value):
    """`value` as setting `name` takes it, or SettingsError naming what is wrong."""
    if name == "theme":
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"theme must be a theme's name (got {value!r})")
        return value.strip()
    if name == "candidates":
        return _number(name, value, int, 1, MAX_CANDIDATES)
    if name == "temperature":
        return _number(name, value, float, 0.0, 2.0)
    if name == "top_p":
        value = _number(name, value, float, 0.0, 1.0)
        if value <= 0:
            raise SettingsError("top_p must be above 0 (1 keeps every byte)")
        return value
    if name == "autosave":
        if not isinstance(value, bool):
            raise SettingsError(f"autosave must be true or false (got {value!r})")
        return value
    if name == "caps":
        if not isinstance(value, dict):
            raise SettingsError("caps must be a table: level = bytes")
        caps = {}
        for level, cap in value.items():
            if level not in LEVELS:
                raise SettingsError(f"caps: no level {level!r} (one of {', '.join(LEVELS)})")
            caps[level] = _number(f"caps.{level}", cap, int, 1, MAX_CAP)
        return caps
    if name == "keymap":
        if not isinstance(value, dict):
            raise SettingsError("keymap must be a table: binding id = \"keys\"")
        keymap = {}
        for binding, keys in value.items():
            if not isinstance(keys, str) or not keys.strip() or any(not k.strip() for k in keys.split(",")):
                raise SettingsError(f"keymap.{binding} must be keys such as \"ctrl+e\" or \"f5,ctrl+e\" (got {keys!r})")
            keymap[str(binding)] = ",".join(k.strip() for k in keys.split(","))
        return keymap
    raise SettingsError(f"unknown setting {name!r} (one of {', '.join(f.name for f in fields(Settings))})")


def from_dict(data: dict) -> tuple[Settings, list[str]]:
    """Settings from a parsed file: each good value taken, each bad one left at its default and named."""
    values, problems = {}, []
    for name, value in data.items():
        try:
            values[name] = check(name, value)
        except SettingsError as exc:
            problems.append(str(exc))
    return Settings(**values), problems


def _read(file: Path) -> tuple[dict | None, str | None]:
    """The parsed file (None when missing or unreadable) and why it could not be read."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"cannot read it ({exc.__class__.__name__}: {exc})"
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, f"not valid TOML ({exc})"


def load(file: Path | None = None) -> tuple[Settings, str | None]:
    """The settings in `file` (default: `path()`); a missing file is the defaults. Never raises: a file that
    cannot be read or parsed gives the defaults, a bad value its default, and the one-line problem says so."""
    file = file or path()
    data, unreadable = _read(file)
    if unreadable is not None:
        return Settings(), f"settings {file}: {unreadable}; using the defaults"
    settings, problems = from_dict(data or {})
    if not problems:
        return settings, None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return settings, f"settings {file}: {problems[0]}{more}; using the default there"


# ---------------------------------------------------------------------------------------- writing
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def to_toml(settings: Settings) -> str:
    lines = ["# scriba settings (written by the editor: ctrl+, ; comments are not kept)"]
    tables = []
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if isinstance(value, dict):
            if value:
                tables.append((f.name, value))
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    for name, table in tables:
        lines += ["", f"[{name}]"] + [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def save(settings: Settings, file: Path | None = None) -> Path:
    """Write `settings` to `file` (default: `path()`) atomically; a file that could not be read back
    (a bad one, which is being replaced) is kept beside it as FILE.bad first. Raises OSError."""
    file = file or path()
    if _read(file)[1] is not None:  # the writer's unreadable file: kept beside it, never lost
        file.with_name(file.name + ".bad").write_bytes(file.read_bytes())
    atomic_write(file, to_toml(settings))
    return file


def changed(settings: Settings, **values) -> Settings:
    """`settings` with `values` checked and set (SettingsError for the first bad one)."""
    return replace(settings, **{name: check(name, value) for name, value in values.items()})
