"""The writing actions as the editor offers them, derived from THE registry (engine.actions.ACTIONS):
the outline's keys, the command palette's entries, the candidates panel's hint and the dialog that asks
for an instruction. A new registry entry shows up in all of them; the main screen runs each through
`action_writing_action(name)`."""

from __future__ import annotations

from textual.binding import Binding

from app.tui.screens.dialogs import TextPrompt
from engine import actions
from engine.actions import ACTIONS, WritingAction


def label(entry: WritingAction) -> str:
    """The footer's short label: the action's name; an action that asks how to change the selection
    (an instruction is required) is shown by its question ("Rewrite as…")."""
    if entry.instruction == "required" and entry.node_kinds and entry.prompt[0]:
        return entry.prompt[0]
    return entry.name.capitalize()


def action_string(entry: WritingAction) -> str:
    """The main screen's action that runs `entry`."""
    return f"writing_action('{entry.name}')"


def outline_bindings() -> list[Binding]:
    """The outline's key for each writing action (shown in the footer, in registry order)."""
    return [Binding(a.key, f"screen.{action_string(a)}", label(a), id=a.name) for a in ACTIONS.values()]


def palette_entries() -> list[tuple[str, str, str]]:
    """(title, help with the key, the main screen's action) for each writing action."""
    return [(a.title, f"{a.help} ({a.key})", action_string(a)) for a in ACTIONS.values()]


def hint() -> str:
    """What the empty candidates panel says: the keys that ask the model for help."""
    keys = " · ".join(f"{a.key} {label(a).lower()}" for a in ACTIONS.values())
    return f"Select a node and ask for help: {keys} · v inspect  (ctrl+p: every command)"


def instruction_prompt(name: str) -> TextPrompt | None:
    """The dialog that asks for the instruction action `name` requires first (None: it runs at once)."""
    entry = actions.get(name)
    if entry.instruction != "required":
        return None
    help_text = ("How should the selected text change?" if entry.node_kinds
                 else "New headings are added at the end of the document.")
    return TextPrompt(*entry.prompt, help_text=help_text)
