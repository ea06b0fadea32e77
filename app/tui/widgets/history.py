"""The history panel: revisions of the selected node or of the whole document, with a coloured diff of
the highlighted revision against the text as it is now, and restore (a new revision, nothing lost)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from app.tui.formatting import diff, revision_row
from app.tui.widgets.outline import preview

if TYPE_CHECKING:  # the store loads after the first screen
    from app.session import Session
    from app.store.repository import RevisionInfo

MAX_ROWS = 500  # newest first; older ones are in the time-travel view and `scriba history`


class RevisionList(OptionList):
    BINDINGS = [
        Binding("t", "screen.toggle_history_scope", "Node/doc"),
        Binding("R", "restore", "Restore"),
        Binding("T", "screen.time_travel", "Time travel", show=False),
    ]

    @dataclass
    class RestoreRequested(Message):
        revision: RevisionInfo

    def action_restore(self) -> None:
        panel = self.parent
        rev = panel.highlighted_revision if isinstance(panel, HistoryPanel) else None
        if rev is not None:
            self.post_message(self.RestoreRequested(rev))


class HistoryPanel(Vertical):
    whole_document: reactive[bool] = reactive(False)  # the scope: the whole document's, or the node's

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.revisions: list = []
        self._current_text: dict[str, str] = {}

    def compose(self):
        yield Static("", id="history-scope")
        yield RevisionList(id="history-list")
        with VerticalScroll(id="history-diff-scroll"):
            yield Static("", id="history-diff")

    @property
    def highlighted_revision(self):
        index = self.query_one(RevisionList).highlighted
        return self.revisions[index] if index is not None and index < len(self.revisions) else None

    def show_for(self, session: Session, node_id: str | None) -> None:
        """The revisions of `node_id` (and of its sentences) in `session`, or the whole document's."""
        doc = session.doc
        node_id = None if self.whole_document else node_id
        if self.whole_document or (node_id is not None and node_id in doc):
            revisions = session.node_history(node_id)
        else:
            revisions = []
        current = {n.id: n.text for n in doc.walk()}
        label = "(no node)"
        if node_id is not None and node_id in doc:
            node = doc.node(node_id)
            label = f"{node.kind.value}: {preview(node.text, 30)}"
        self.show(revisions, current, label)

    def show(self, revisions: list, current_text: dict[str, str], node_label: str) -> None:
        """`revisions` oldest first; `current_text` maps node id -> its text now (missing: deleted)."""
        self.revisions = list(reversed(revisions))[:MAX_ROWS]
        self._current_text = current_text
        scope = "whole document" if self.whole_document else node_label
        self.query_one("#history-scope", Static).update(
            Text.assemble(("History · ", "bold"), (scope, "italic"), (f"  {len(revisions)} revs · t: node/doc", "dim")))
        options = self.query_one(RevisionList)
        options.clear_options()
        options.add_options([Option(revision_row(r), id=str(r.id)) for r in self.revisions])
        if self.revisions:
            options.highlighted = 0
        self._show_diff()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._show_diff()

    def _show_diff(self) -> None:
        rev = self.highlighted_revision
        view = self.query_one("#history-diff", Static)
        if rev is None:
            view.update(Text("No revisions yet.", style="dim"))
            return
        now = self._current_text.get(rev.node_id)
        head = Text.assemble((f"revision #{rev.id}", "bold"), f" by {rev.author} ({rev.operation})",
                             (f" · {rev.model}" if rev.model else "", "magenta"),
                             (f" · “{rev.instruction}”" if rev.instruction else "", "italic"),
                             " → now:\n", style="")
        if rev.kind == "paragraph":  # a paragraph's text lives in its sentences' revisions
            body = Text(f"the paragraph itself: {getattr(rev, 'effect', 'edit')} (its text is in its sentences' "
                        "revisions)", style="dim")
        elif now is None:
            body = Text("(this node is deleted now)\n", style="red") + Text(rev.text or "")
        elif getattr(rev, "deleted", False):
            body = Text("(this revision deleted the node)", style="red")
        else:
            body = diff(rev.text or "", now)
        view.update(head + body + Text("\n\nR restores this revision (as a new one).", style="dim"))
