"""The command palette (ctrl+p): every action of the editor, searchable by name. The writing actions
come from the registry (app.tui.writing_actions); the others are listed here. Each runs on the main
screen ("app." ones on the app). They are Textual's system commands (`App.get_system_commands`), next to
its own (Theme, Keys, Maximize, Screenshot; its Quit is replaced by ours): one provider, so the list
without a query is sorted by title and the same on every run."""

from __future__ import annotations

from functools import partial
from typing import Iterator

from textual.app import SystemCommand

from app.tui.writing_actions import palette_entries

# (title, what it does, action string run on the main screen)
OTHER_COMMANDS: list[tuple[str, str, str]] = [
    ("Inspect", "the model's entropy and chunk boundaries on the selected text (v)", "inspect"),
    ("Accept candidate 1", "take the first candidate (1-9 in the candidates panel)", "accept_candidate(0)"),
    ("Show candidate", "the highlighted candidate in full: the change in context (enter in the candidates)",
     "show_candidate"),
    ("Undo", "undo the document's last change, recorded in the history (ctrl+z outside the editor)", "undo"),
    ("Redo", "redo what was undone (ctrl+y or ctrl+shift+z outside the editor)", "redo"),
    ("Regenerate", "ask again for the same node (g)", "regenerate"),
    ("Reject candidates", "put the candidates away (x)", "reject_candidates"),
    ("Cancel generation", "stop the model now (esc)", "cancel_generation"),
    ("New paragraph", "insert a paragraph after the selection (n)", "new_paragraph"),
    ("New heading", "insert a heading after the selection (h)", "new_heading"),
    ("Delete node", "delete the selected node (d); it stays in the history", "delete_node"),
    ("Move node up", "move the selected node before its previous sibling (ctrl+up)", "move_node(-1)"),
    ("Move node down", "move the selected node after its next sibling (ctrl+down)", "move_node(1)"),
    ("Save", "write the file atomically (ctrl+s)", "save"),
    ("Open a file…", "another document: recent files, a folder tree or a typed path (ctrl+o)", "open_file"),
    ("Save as…", "write the document to a new file and go on editing that one (f6)", "save_as"),
    ("Export…", "write the document to another file", "export"),
    ("History", "revisions of the selected node (f2)", "show_tab('history')"),
    ("Toggle history: node / whole document", "which revisions the history panel lists (t)",
     "toggle_history_scope"),
    ("Time travel…", "the whole document at any change set; export or restore it (f3)", "time_travel"),
    ("Preview", "show / hide the side panel with the rendered document (f4)", "toggle_preview"),
    ("Show / hide the outline", "the outline panel on the left (ctrl+b)", "toggle_outline"),
    ("Focus mode", "the editor alone; again (or esc) to leave (f10)", "toggle_focus_mode"),
    ("Edit the selected node", "focus the editor (enter)", "focus_editor"),
    ("Outline", "focus the outline (esc in the editor)", "focus_outline"),
    ("Toggle light / dark theme", "switch the colour theme, kept for the next run (ctrl+t)", "app.toggle_theme"),
    ("Help", "every key, where it works and what it does (f1, ?)", "app.help"),
    ("Settings…", "candidates, temperature, length caps, theme, keys; kept in a file (ctrl+, or f9)",
     "app.settings"),
    ("Quit", "save (autosave) and leave (ctrl+q)", "app.quit"),
]


COMMANDS: list[tuple[str, str, str]] = palette_entries() + OTHER_COMMANDS


def system_commands(screen) -> Iterator[SystemCommand]:
    """Ours, for `App.get_system_commands`: each runs `screen.run_action` (the main screen's)."""
    for title, help_text, action in COMMANDS:
        yield SystemCommand(title, help_text, partial(screen.run_action, action))
