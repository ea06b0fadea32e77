"""A candidate in full, before it goes in: what it replaces (counted: subsections, paragraphs, sentences,
characters) and the change to the document in context (a line diff against the current text), in a
scrollable view. enter accepts it (the writer has read what goes: no second question), ←/→ show the
other candidates, escape goes back to the candidates. Dismisses with the index accepted, or None."""

from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from app.change_preview import ChangePreview
from app.tui.widgets.candidates import printable

_STYLES = {"- ": "red", "+ ": "green", "… ": "dim italic", "…": "dim italic"}


def diff_text(preview: ChangePreview) -> Text:
    """The diff, removed lines red, added lines green, skipped stretches dim."""
    out = Text(overflow="fold")
    for line in preview.diff or ["  (no change to the document)"]:
        style = next((s for mark, s in _STYLES.items() if line.startswith(mark)), "")
        out.append(printable(line) + "\n", style=style)
    return out


class CandidateView(ModalScreen[int | None]):
    CSS_PATH = "candidate_view.tcss"
    BINDINGS = [
        Binding("enter", "accept", "Accept this one"),
        Binding("left", "move(-1)", "Previous"),
        Binding("right", "move(1)", "Next"),
        Binding("escape", "close", "Back"),
    ]

    def __init__(self, title: str, count: int, index: int, preview_of: Callable[[int], ChangePreview]) -> None:
        super().__init__(id="candidate-view-screen")
        self.title_text = title
        self.count = count
        self.index = index
        self.preview_of = preview_of  # the preview of candidate i against the document as it is now

    def compose(self) -> ComposeResult:
        with Vertical(id="candidate-view"):
            yield Label("", id="candidate-view-title")
            yield Static("", id="candidate-view-summary")
            with VerticalScroll(id="candidate-view-diff"):
                yield Static("", id="candidate-view-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show(self.index)
        self.query_one("#candidate-view-diff").focus()

    def show(self, index: int) -> None:
        self.index = index
        preview = self.preview_of(index)
        self.preview = preview
        self.query_one("#candidate-view-title", Label).update(
            f"Candidate {index + 1} of {self.count} · {self.title_text}")
        summary = self.query_one("#candidate-view-summary", Static)
        summary.update(preview.summary().capitalize())
        summary.set_class(preview.removes, "-removes")
        summary.set_class(preview.error is not None, "-error")
        self.query_one("#candidate-view-text", Static).update(diff_text(preview))
        self.query_one("#candidate-view-diff").scroll_home(animate=False)

    def action_move(self, delta: int) -> None:
        if self.count > 1:
            self.show((self.index + delta) % self.count)

    def action_accept(self) -> None:
        if self.preview.error is None:
            self.dismiss(self.index)
        else:
            self.notify(f"candidate {self.index + 1} {self.preview.summary()}", severity="error")

    def action_close(self) -> None:
        self.dismiss(None)
