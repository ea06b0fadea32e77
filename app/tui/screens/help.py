"""The help screen (F1, or ? outside the editor): every key, where it works and what it does. Built from
THE registry of writing actions (engine.actions.ACTIONS) and the BINDINGS of the app, its screens and
widgets, with the writer's keymap (settings) applied — never a list of its own, so a new binding or
action shows up here by itself. Each row also names the binding's id, the name a keymap override uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.actions import ACTIONS

_WRITING_ACTION = re.compile(r"writing_action\('(\w+)'\)")


@dataclass(frozen=True)
class Row:
    keys: str  # as shown: "ctrl+s", "1-9", "f4"
    does: str
    binding_id: str | None = None


def places(app_class: type) -> list[tuple[str, list[type]]]:
    """Where keys work, and the classes whose BINDINGS hold them (`app_class`: the app's, which opens this
    screen; the others imported here, where they are needed)."""
    from app.tui.screens.main import MainScreen
    from app.tui.screens.time_travel import TimeTravelScreen
    from app.tui.widgets.candidates import CandidatesPanel
    from app.tui.widgets.editor import NodeEditor
    from app.tui.widgets.history import RevisionList
    from app.tui.widgets.outline import OutlineTree

    return [("Anywhere", [app_class, MainScreen]), ("Outline", [OutlineTree]), ("Editor", [NodeEditor]),
            ("Candidates", [CandidatesPanel]), ("History panel", [RevisionList]),
            ("Time travel", [TimeTravelScreen]), ("Help", [HelpScreen])]


def _bindings(cls: type) -> list[Binding]:
    return [b if isinstance(b, Binding) else Binding(*b) for b in cls.__dict__.get("BINDINGS", [])]


def binding_ids(app_class: type) -> set[str]:
    """Every binding id a keymap override can name."""
    return {b.id for _, classes in places(app_class) for cls in classes for b in _bindings(cls) if b.id}


def show_keys(keys: str) -> str:
    """"ctrl+comma,f9" -> "ctrl+, / f9"."""
    shown = []
    for key in keys.split(","):
        *modifiers, name = key.strip().split("+")
        shown.append("+".join([*modifiers, format_key(name)]))
    return " / ".join(shown)


def _does(binding: Binding) -> str:
    match = _WRITING_ACTION.search(binding.action)
    if match and match.group(1) in ACTIONS:
        entry = ACTIONS[match.group(1)]
        return f"{entry.title}: {entry.help}"
    return binding.tooltip or binding.description or binding.action


def rows(classes: list[type], keymap: dict[str, str]) -> list[Row]:
    """The rows for bindings of `classes` (keys the keymap moved shown where they are now); bindings shown
    as one (the same key_display, e.g. 1-9) listed once."""
    out: list[Row] = []
    for cls in classes:
        for b in _bindings(cls):
            keys = b.key_display or show_keys(keymap.get(b.id, b.key) if b.id else b.key)
            if out and b.key_display and out[-1].keys == keys:
                continue
            out.append(Row(keys, _does(b), b.id))
    return out


def writing_action_rows(keymap: dict[str, str]) -> list[Row]:
    """The registry's actions (outline keys), with what each applies to."""
    out = []
    for a in ACTIONS.values():
        where = ", ".join(a.node_kinds) if a.needs_node else ("the selection or the document's end"
                                                              if a.node_kinds else "the whole document")
        out.append(Row(show_keys(keymap.get(a.name, a.key)), f"{a.title}: {a.help} ({where})", a.name))
    return out


def help_table(title: str, items: list[Row]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False, box=None,
                  expand=True, padding=(0, 1))
    table.add_column("keys", style="bold", no_wrap=True, min_width=12)
    table.add_column("does", ratio=1)
    table.add_column("id", style="dim", no_wrap=True)
    for row in items:
        table.add_row(row.keys, row.does, row.binding_id or "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        keymap = getattr(self.app, "settings", None)
        keymap = keymap.keymap if keymap is not None else {}
        with VerticalScroll(id="help", classes="dialog"):
            yield Static(Text.assemble(("scriba — every key", "bold"), "   ",
                                       ("esc closes · the palette (ctrl+p) runs any of these by name · "
                                        "Settings (ctrl+, or f9) move keys by id", "dim")), id="help-title")
            yield Static(help_table("Writing actions (in the outline)", writing_action_rows(keymap)),
                         classes="help-section")
            for place, classes in places(type(self.app)):
                items = rows(classes, keymap)
                if place == "Outline":  # its writing-action keys are the section above
                    items = [r for r in items if r.binding_id not in ACTIONS]
                if place == "Editor":
                    items.append(Row("ctrl+z / ctrl+y", "undo / redo typing; the usual text keys (shift+arrows "
                                     "select, ctrl+x/c/v cut, copy, paste)"))
                if items:
                    yield Static(help_table(place, items), classes="help-section")

    def on_mount(self) -> None:
        self.query_one("#help").focus()

    def action_close(self) -> None:
        self.dismiss(None)
