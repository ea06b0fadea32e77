"""The open-file dialog: the recent files, a tree of the folder of the file being edited, and a path
to type. Returns the chosen path (None on escape)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

MARKDOWN = (".md", ".markdown", ".mdown", ".txt")


class MarkdownTree(DirectoryTree):
    """Folders and Markdown (or text) files; hidden ones and the store's own folders (a database's
    `.journal`, what the writer types, kept beside it) left out."""

    def on_mount(self) -> None:
        self.root.set_label(self.path.name if hasattr(self.path, "name") else str(self.path))

    def filter_paths(self, paths):
        return [p for p in paths if not p.name.startswith(".")
                and (p.suffix.lower() in MARKDOWN if not p.is_dir() else p.suffix != ".journal")]


class OpenFileScreen(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, folder: Path, recent: list[Path]) -> None:
        super().__init__(classes="dialog-screen")
        self.folder = folder
        self.recent = recent

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog open-file"):
            yield Label("Open a file", classes="dialog-title")
            if self.recent:
                yield Static("Recent", classes="dialog-help")
                yield OptionList(*(Option(str(p), id=str(p)) for p in self.recent), id="recent-files")
            yield MarkdownTree(self.folder, id="file-tree")
            yield Input(placeholder="or type a path (a new file is created on first save)", id="open-path")
            yield Static("enter: open · tab: next · esc: cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        (self.query_one("#recent-files") if self.recent else self.query_one("#file-tree")).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(Path(event.option.id))

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            path = Path(event.value.strip()).expanduser()
            self.dismiss(path if path.is_absolute() else self.folder / path)

    def action_cancel(self) -> None:
        self.dismiss(None)
