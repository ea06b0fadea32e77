"""Time travel: every change set of the document, oldest to newest; the whole document as it was right
after the highlighted one, and export of that state to a file."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, TextArea
from textual.widgets.option_list import Option

from app.tui.formatting import change_set_row
from app.tui.screens.dialogs import TextPrompt


def change_sets(revisions: list) -> list[list]:
    """Revisions grouped by change id, oldest change first."""
    groups: dict[int, list] = {}
    for rev in revisions:
        groups.setdefault(rev.change_id, []).append(rev)
    return sorted(groups.values(), key=lambda g: min(r.id for r in g))


class TimeTravelScreen(Screen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "export", "Export this state"),
        Binding("R", "restore", "Restore this state"),
    ]

    def __init__(self, session) -> None:
        super().__init__()
        self.session = session
        self.sets = change_sets(session.history())
        self.shown_revision: int | None = None

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal():
            yield OptionList(*[Option(change_set_row(g), id=str(max(r.id for r in g))) for g in self.sets],
                             id="change-sets")
            yield TextArea("", read_only=True, soft_wrap=True, id="time-travel-text")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Time travel · {self.session.name}"
        self.sub_title = f"{len(self.sets)} change sets"
        options = self.query_one(OptionList)
        if self.sets:
            options.highlighted = len(self.sets) - 1
        options.focus()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        revision = int(event.option.id)
        self.shown_revision = revision
        text = self.session.at(revision).to_markdown()
        self.query_one("#time-travel-text", TextArea).load_text(text)
        self.sub_title = f"the document right after revision #{revision}"

    def action_export(self) -> None:
        if self.shown_revision is None:
            return
        revision = self.shown_revision
        default = str(self.session.path.with_name(f"{self.session.path.stem}@{revision}.md"))

        def done(path: str | None) -> None:
            if not path:
                return
            try:
                target = self.session.export(path, self.session.at(revision))
            except OSError as exc:
                self.notify(f"could not export: {exc.strerror or exc}", severity="error")
                return
            self.notify(f"exported the document as of revision #{revision} to {target}")

        self.app.push_screen(TextPrompt("Export this state to", value=default), done)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_restore(self) -> None:
        if self.shown_revision is not None:
            self.dismiss(self.shown_revision)
