"""The status bar: document name, saved state, whether history is recorded (and, when it is off, why:
for as long as it is off, not just in a notice), other windows on the document, engine (model, backend,
device), generation speed. On a narrow terminal the middle gives way: the saved state and "history off"
always show."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

HISTORY_OFF = "history is off: "


def history_off_reason(session) -> str:
    """Why the open document's changes go to no revision store ('' while they do, or will: a store still
    opening or waiting for a lock is not off)."""
    if session is None or session.provisional or session.store is not None or session.store_locked:
        return ""
    reason = session.store_error or next((n for n in session.notes if n.startswith(HISTORY_OFF)), "")
    return reason.removeprefix(HISTORY_OFF).removeprefix("waiting for the database: ") or "no revision store"


class StatusBar(Widget):
    document: reactive[str] = reactive("")
    saved: reactive[bool] = reactive(True)
    recorded: reactive[bool] = reactive(True)  # every change is in the revision store
    history_off: reactive[str] = reactive("")  # why there is no revision store ('' while there is)
    engine: reactive[str] = reactive("loading model…")
    engine_ok: reactive[bool] = reactive(False)
    speed: reactive[float | None] = reactive(None)
    activity: reactive[str] = reactive("")
    others: reactive[str] = reactive("")  # other live instances on this document (app.instances)

    def render(self) -> Text:
        width = self.size.width
        left = Text.assemble((f" {self.document} ", "bold reverse"), " ",
                             ("● unsaved", "bold yellow") if not self.saved else ("✓ saved", "green"))
        if self.history_off:
            left.append_text(Text.assemble("  ", ("⚠ history off: ", "bold red"), (self.history_off, "red")))
        elif not self.recorded:
            left.append_text(Text.assemble("  ", ("⚠ history not recorded", "bold red")))
        middle = Text()
        if self.others:
            middle.append_text(Text.assemble("  ", (self.others, "bold yellow")))
        if self.activity and self.activity != "history off":  # said above, with why
            middle.append_text(Text.assemble("  ", (self.activity, "italic")))
        engine = Text.assemble((f"{self.speed:,.0f} B/s  " if self.speed is not None else "", "cyan"),
                               ("⚙ " + self.engine, "" if self.engine_ok else "italic dim"))
        right = engine + Text.assemble("  ", ("F1 help", "dim"), " ")
        # narrow: the help hint goes first, then the engine gives way to the middle, the middle to the left
        if left.cell_len + middle.cell_len + right.cell_len + 1 > width:
            right = engine + Text(" ")
        if left.cell_len + middle.cell_len + right.cell_len + 1 > width:
            right.truncate(max(0, width - left.cell_len - middle.cell_len - 1), overflow="ellipsis")
        if left.cell_len + middle.cell_len + right.cell_len + 1 > width:
            middle.truncate(max(0, width - left.cell_len - 1), overflow="ellipsis")
        left.append_text(middle)
        left.truncate(width, overflow="ellipsis")
        if left.cell_len + right.cell_len > width:
            right = Text()
        gap = max(0, width - left.cell_len - right.cell_len)
        return left + Text(" " * gap) + right
