"""The status bar: document name, saved state, other windows on the document, engine (model, backend,
device), generation speed."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


class StatusBar(Widget):
    document: reactive[str] = reactive("")
    saved: reactive[bool] = reactive(True)
    recorded: reactive[bool] = reactive(True)  # every change is in the revision store
    engine: reactive[str] = reactive("loading model…")
    engine_ok: reactive[bool] = reactive(False)
    speed: reactive[float | None] = reactive(None)
    activity: reactive[str] = reactive("")
    others: reactive[str] = reactive("")  # other live instances on this document (app.instances)

    def render(self) -> Text:
        parts = [
            (f" {self.document} ", "bold reverse"), " ",
            ("● unsaved", "bold yellow") if not self.saved else ("✓ saved", "green"),
        ]
        if not self.recorded:
            parts += ["  ", ("⚠ history not recorded", "bold red")]
        if self.others:
            parts += ["  ", (self.others, "bold yellow")]
        if self.activity:
            parts += ["  ", (self.activity, "italic")]
        left = Text.assemble(*parts)
        right = Text.assemble(
            (f"{self.speed:,.0f} B/s  " if self.speed is not None else "", "cyan"),
            ("⚙ " + self.engine, "" if self.engine_ok else "italic dim"), " ")
        gap = max(1, self.size.width - left.cell_len - right.cell_len)
        return left + Text(" " * gap) + right
