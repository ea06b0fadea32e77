"""The settings screen (ctrl+, or f9, or the palette's "Settings…"): the writer's settings (app.settings) as
a form. Save (ctrl+s, or the button) checks every value, writes the file atomically and applies it at
once (the next request samples with it, the theme and keys change now); a value it cannot take is named
in a one-line message and the form stays open with everything typed in it. Escape leaves unchanged.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch, TextArea

from app import settings as settings_file
from app.settings import Settings, SettingsError
from engine.tasks import LEVELS, MAX_BYTES


def shown_path(path: Path) -> str:
    """`path`, with the home folder as ~."""
    try:
        return "~/" + str(path.expanduser().relative_to(Path.home()))
    except ValueError:
        return str(path)


def _parse_number(name: str, text: str, kind: type):
    try:
        return kind(text.strip())
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {what} (got {text.strip()!r})") from None


def parse_keymap(text: str) -> dict[str, str]:
    """Lines of `binding id = keys` (blank lines and # comments skipped)."""
    keymap = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, keys = line.partition("=")
        if not sep or not name.strip() or not keys.strip():
            raise SettingsError(f"keymap line {number}: write it as  binding id = keys  (got {line!r})")
        keymap[name.strip()] = keys.strip().strip('"')
    return keymap


class SettingsScreen(ModalScreen[Settings | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save_here", "Save settings")]

    def __init__(self, settings: Settings) -> None:
        super().__init__(classes="dialog-screen")
        self.settings = settings

    def compose(self) -> ComposeResult:
        s = self.settings
        themes = sorted(self.app.available_themes)
        with VerticalScroll(id="settings", classes="dialog"):
            yield Label("Settings", classes="dialog-title")
            yield Static(f"kept in {shown_path(settings_file.path())}", classes="dialog-help", id="settings-path")
            yield from self._row("Theme", Select([(t, t) for t in themes], value=s.theme if s.theme in themes
                                                 else Select.NULL, allow_blank=False, compact=True,
                                                 id="set-theme"))
            yield from self._row("Candidates (1-9)", Input(str(s.candidates), compact=True, id="set-candidates"))
            yield from self._row("Temperature (0-2)", Input(repr(s.temperature), compact=True, id="set-temperature"))
            yield from self._row("Top-p (0-1]", Input(repr(s.top_p), compact=True, id="set-top_p"))
            yield from self._row("Autosave on quit", Switch(s.autosave, id="set-autosave"))
            yield Label("Length caps, bytes (empty: the level's own)", classes="settings-heading")
            for level in LEVELS:
                cap = s.caps.get(level)
                yield from self._row(level, Input("" if cap is None else str(cap), placeholder=f"{MAX_BYTES[level]}",
                                                  compact=True, id=f"set-cap-{level}"))
            yield Label("Keys: one  binding id = keys  a line (F1 lists the ids)", classes="settings-heading")
            yield TextArea("\n".join(f"{k} = {v}" for k, v in s.keymap.items()), id="set-keymap",
                           soft_wrap=False, show_line_numbers=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="settings-save", variant="primary", compact=True)
                yield Button("Cancel", id="settings-cancel", compact=True)
            yield Static("ctrl+s: save · esc: cancel", classes="dialog-keys")

    @staticmethod
    def _row(label: str, widget) -> ComposeResult:
        with Horizontal(classes="settings-row"):
            yield Label(label, classes="settings-label")
            yield widget

    def on_mount(self) -> None:
        self.query_one("#set-candidates", Input).focus()

    def read_form(self) -> Settings:
        """The form's values as settings (SettingsError naming the first one it cannot take)."""
        value = self.query_one("#set-theme", Select).value
        caps = {}
        for level in LEVELS:
            text = self.query_one(f"#set-cap-{level}", Input).value.strip()
            if text:
                caps[level] = _parse_number(f"caps.{level}", text, int)
        return settings_file.changed(
            self.settings,
            theme=self.settings.theme if value is Select.NULL else value,
            candidates=_parse_number("candidates", self.query_one("#set-candidates", Input).value, int),
            temperature=_parse_number("temperature", self.query_one("#set-temperature", Input).value, float),
            top_p=_parse_number("top_p", self.query_one("#set-top_p", Input).value, float),
            autosave=self.query_one("#set-autosave", Switch).value,
            caps=caps,
            keymap=self._known(parse_keymap(self.query_one("#set-keymap", TextArea).text)),
        )

    def _known(self, keymap: dict[str, str]) -> dict[str, str]:
        from app.tui.screens.help import binding_ids

        unknown = sorted(set(keymap) - binding_ids(type(self.app)))
        if unknown:
            raise SettingsError(f"keymap: no binding {unknown[0]!r} (F1 lists the ids)")
        return keymap

    def action_save_here(self) -> None:
        try:
            new = self.read_form()
            self.app.use_settings(new)
        except SettingsError as exc:
            self.notify(str(exc), title="Not saved", severity="error", timeout=8)
            return
        except OSError as exc:
            self.notify(f"cannot write {settings_file.path()}: {exc}", title="Not saved", severity="error",
                        timeout=8)
            return
        self.notify(f"settings saved to {shown_path(settings_file.path())}", timeout=3)
        self.dismiss(new)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "settings-save":
            self.action_save_here()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save_here()

    def action_cancel(self) -> None:
        self.dismiss(None)
