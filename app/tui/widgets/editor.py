"""The editor for the selected node: a Markdown TextArea that reports hand edits at a sensible grain.

It posts `NodeEditor.EditReady(node_id, text)` when the writer pauses typing (IDLE_SECONDS), when it
loses focus, and before it is given another node, never per keystroke. The screen records each as
one revision by the writer.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.widgets import TextArea

IDLE_SECONDS = 2.0
KIND_TITLE = {"heading": "§ heading", "paragraph": "¶ paragraph", "sentence": "› sentence", "block": "▤ block"}


class NodeEditor(TextArea):
    BINDINGS = [
        Binding("escape", "screen.focus_outline", "Back to outline"),
        Binding("ctrl+r", "screen.writing_action('rewrite')", "Rewrite"),
        Binding("ctrl+g", "screen.writing_action('continue')", "Continue"),
    ]

    @dataclass
    class EditReady(Message):
        """The writer changed node `node_id` to `text` and paused (or left the editor)."""

        node_id: str
        text: str
        reason: str  # "idle" | "blur" | "selection"

    def __init__(self, **kwargs) -> None:
        super().__init__("", soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        try:
            self.language = "markdown"
        except Exception:  # noqa: BLE001 - no tree-sitter grammar here: plain text editing
            pass
        self.node_id: str | None = None
        self._original = ""
        self._idle: Timer | None = None

    @property
    def dirty(self) -> bool:
        """The editor holds text for its node that is not in the document yet."""
        return self.node_id is not None and self.text != self._original

    def show_node(self, node_id: str | None, text: str) -> None:
        """Edit another node (the pending edit of the current one is posted first)."""
        self.flush("selection")
        self.node_id = node_id
        self._original = text
        self.load_text(text)
        self.read_only = node_id is None
        self.border_subtitle = ""

    def show_selection(self, node, read_only: bool) -> None:
        """Edit the selected document node (None: nothing selected), titled by its kind."""
        if node is None:
            self.show_node(None, "")
            self.border_title = "Editor"
            return
        self.show_node(node.id, node.text)
        self.read_only = read_only
        self.border_title = f"Editor · {KIND_TITLE.get(str(node.kind), str(node.kind))}"

    def mark_recorded(self, text: str) -> None:
        """The app took `text` into the document: it is now the baseline."""
        self._original = text

    def take_pending(self) -> tuple[str, str] | None:
        """(node id, text) of an edit not yet given to the app, and forget it (it is the app's now)."""
        if self._idle is not None:
            self._idle.stop()
            self._idle = None
        self.border_subtitle = ""
        if not self.dirty:
            return None
        self._original = self.text
        return self.node_id, self.text

    def flush(self, reason: str) -> None:
        pending = self.take_pending()
        if pending is not None:
            self.post_message(self.EditReady(*pending, reason))

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        if not self.dirty:
            return
        self.border_subtitle = "editing…"
        if self._idle is not None:
            self._idle.stop()
        self._idle = self.set_timer(IDLE_SECONDS, lambda: self.flush("idle"))

    def _on_blur(self, event) -> None:
        self.flush("blur")
