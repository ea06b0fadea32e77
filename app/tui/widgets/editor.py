"""The editor for the selected node: a Markdown TextArea that reports hand edits at a sensible grain.

It posts `NodeEditor.EditReady(node_id, text)` when the writer pauses typing (IDLE_SECONDS), after
MAX_WAIT_SECONDS of steady typing without a pause, when it loses focus, and before it is given another
node, never per keystroke. The screen records each as one revision by the writer. Meanwhile it posts
`NodeEditor.Typing(node_id, text)` at most every JOURNAL_SECONDS while text is typed, for the journal
(app.journal): typed text is on disk within about a second, long before it is a revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.widgets import TextArea
from textual.widgets.text_area import Selection

IDLE_SECONDS = 2.0
MAX_WAIT_SECONDS = 5.0  # steady typing is recorded at least this often
JOURNAL_SECONDS = 0.5  # typed text reaches the journal within this (debounced, not per key)
KIND_TITLE = {"heading": "§ heading", "paragraph": "¶ paragraph", "sentence": "› sentence", "block": "▤ block"}


class NodeEditor(TextArea):
    BINDINGS = [
        Binding("escape", "screen.focus_outline", "Back to outline"),
        Binding("ctrl+r", "screen.writing_action('rewrite')", "Rewrite"),
        Binding("ctrl+g", "screen.continue_at_cursor", "Continue"),
    ]

    @dataclass
    class EditReady(Message):
        """The writer changed node `node_id` to `text` and paused (or left the editor)."""

        node_id: str
        text: str
        reason: str  # "idle" | "steady" | "blur" | "selection"

    @dataclass
    class Typing(Message):
        """The writer is typing in node `node_id`, which now reads `text` (for the journal)."""

        node_id: str
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__("", soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        try:
            self.language = "markdown"
        except Exception:  # noqa: BLE001 - no tree-sitter grammar here: plain text editing
            pass
        self.node_id: str | None = None
        self._original = ""
        self._idle: Timer | None = None
        self._max_wait: Timer | None = None  # started by the first key after a recording; never restarted
        self._journal: Timer | None = None

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

    def select_placeholder(self) -> None:
        """Select the text of a new node (a heading's title, after its `#`s), so typing replaces it."""
        text = self.text
        start = len(text) - len(text.lstrip("#").lstrip(" ")) if text.startswith("#") else 0
        last = text.count("\n")
        self.selection = Selection((0, start), (last, len(text) - (text.rfind("\n") + 1)))

    def mark_recorded(self, text: str) -> None:
        """The app took `text` into the document: it is now the baseline."""
        self._original = text

    def take_pending(self) -> tuple[str, str] | None:
        """(node id, text) of an edit not yet given to the app, and forget it (it is the app's now)."""
        for timer in (self._idle, self._max_wait, self._journal):
            if timer is not None:
                timer.stop()
        self._idle = self._max_wait = self._journal = None
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
        if self._max_wait is None:
            self._max_wait = self.set_timer(MAX_WAIT_SECONDS, lambda: self.flush("steady"))
        if self._journal is None:
            self._journal = self.set_timer(JOURNAL_SECONDS, self._journal_due)

    def _journal_due(self) -> None:
        self._journal = None
        if self.dirty:
            self.post_message(self.Typing(self.node_id, self.text))

    def in_flight(self) -> tuple[str, str] | None:
        """(node id, text) the editor holds and has not given to the app yet."""
        return (self.node_id, self.text) if self.dirty else None

    def _on_blur(self, event) -> None:
        self.flush("blur")
