"""The candidates panel: the model's alternatives for the selected node, side by side, streaming in.

Keys (when focused): 1-9 accept that candidate (one that replaces existing text asks first), enter show
the highlighted one in full (the candidate view: the change in context, enter there accepts it), ←/→
move, g regenerate, x reject all, escape cancel a running generation (then reject).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from app.tui.writing_actions import hint

HINT = hint()
_CONTROL = {c: "·" for c in range(32) if c not in (9, 10)} | {127: "·"}


def printable(text: str) -> str:
    """Text safe to draw: control characters shown as '·' (a random model writes them)."""
    return text.translate(_CONTROL)


class CandidateCard(Static):
    def __init__(self, index: int, **kwargs) -> None:
        super().__init__("", classes="candidate", **kwargs)
        self.index = index

    def show(self, text: str, finish: str, nbytes: int) -> None:
        state = {"running": "…", "stop": "done", "length": "cut at length", "cancelled": "cancelled"}.get(
            finish, finish)
        self.border_title = f"{self.index + 1}"
        self.border_subtitle = f"{nbytes} B · {state}"
        self.update(Text(printable(text) or "…", overflow="fold"))

    def on_click(self) -> None:
        panel = self.parent
        if isinstance(panel, CandidatesPanel):
            panel.highlighted = self.index
            panel.focus()


class CandidatesPanel(Horizontal, can_focus=True):
    BINDINGS = [
        *(Binding(str(i), f"screen.accept_candidate({i - 1})", "Accept" if i == 1 else f"Accept {i}", show=i == 1,
                  key_display="1-9") for i in range(1, 10)),
        Binding("enter", "screen.show_candidate", "Show"),
        Binding("left", "move(-1)", "Prev", show=False),
        Binding("right", "move(1)", "Next", show=False),
        Binding("g", "screen.regenerate", "Regenerate"),
        Binding("x", "screen.reject_candidates", "Reject"),
    ]

    @dataclass
    class Accept(Message):
        """The writer took candidate `index` (the highlighted one, by enter)."""

        index: int

    highlighted: reactive[int] = reactive(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.texts: list[str] = []
        self.running = False
        self.border_title = "Candidates"

    def compose(self):
        yield Static(HINT, classes="candidates-hint")

    def start(self, title: str) -> None:
        """A new request: clear the cards."""
        self.running = True
        self.add_class("-active")
        self.texts = []
        self.border_title = f"Candidates · {title}"
        self.border_subtitle = "generating… (esc cancels)"
        self.remove_children()
        self.highlighted = 0

    def update_candidates(self, candidates, speed: float | None = None) -> None:
        """Show the candidates as they are now (called many times while they stream in)."""
        cards = list(self.query(CandidateCard))
        for i in range(len(cards), len(candidates)):
            card = CandidateCard(i)
            self.mount(card)
            cards.append(card)
        self.texts = [c.text for c in candidates]
        for card, cand in zip(cards, candidates):
            card.show(cand.text, cand.finish, cand.nbytes)
        self._mark()
        if speed is not None and self.running:
            self.border_subtitle = f"generating… {speed:,.0f} B/s (esc cancels)"

    def finish(self, texts: list[str], note: str) -> None:
        """Generation over: show the finished texts (what accepting one would insert)."""
        self.running = False
        self.texts = texts
        for card, text in zip(self.query(CandidateCard), texts):
            card.update(Text(printable(text) or "(empty)", overflow="fold"))
        self.border_subtitle = note

    def clear_candidates(self, note: str = "") -> None:
        self.running = False
        self.remove_class("-active")
        self.texts = []
        self.remove_children()
        self.border_title = "Candidates"
        self.border_subtitle = note
        self.mount(Static(HINT, classes="candidates-hint"))

    def watch_highlighted(self) -> None:
        self._mark()

    def _mark(self) -> None:
        for card in self.query(CandidateCard):
            card.set_class(card.index == self.highlighted, "-highlighted")

    def action_move(self, delta: int) -> None:
        if self.texts:
            self.highlighted = (self.highlighted + delta) % len(self.texts)
            cards = list(self.query(CandidateCard))
            if self.highlighted < len(cards):
                self.scroll_to_widget(cards[self.highlighted], animate=False)

    def action_accept_highlighted(self) -> None:
        self.post_message(self.Accept(self.highlighted))
