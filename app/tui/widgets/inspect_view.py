"""The inspect view: the selected node's text coloured by the model's next-byte entropy, with the
chunk boundaries the model chose marked by a thin '│' before the character where a chunk begins.

Entropy and boundaries are per byte; a character of several UTF-8 bytes takes the highest entropy
of its bytes, and is marked if a chunk begins at its first byte (a boundary inside a character is
shown at that character too).
"""

from __future__ import annotations

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

# low entropy (the model is sure) -> cool; high (it has no idea) -> hot
_STOPS = [(0.0, (40, 70, 140)), (2.0, (40, 130, 110)), (4.0, (150, 140, 40)), (6.0, (170, 80, 30)),
          (8.0, (160, 30, 50))]
BOUNDARY = "│"


def entropy_colour(bits: float) -> Color:
    bits = max(0.0, min(8.0, bits))
    for (x0, c0), (x1, c1) in zip(_STOPS, _STOPS[1:]):
        if bits <= x1:
            t = (bits - x0) / (x1 - x0)
            return Color.from_rgb(*(round(a + (b - a) * t) for a, b in zip(c0, c1)))
    return Color.from_rgb(*_STOPS[-1][1])


def char_byte_starts(text: str) -> list[int]:
    """Byte offset (UTF-8) at which each character of `text` starts, plus the total length at the end."""
    starts, pos = [], 0
    for ch in text:
        starts.append(pos)
        pos += len(ch.encode("utf-8"))
    starts.append(pos)
    return starts


def render_inspection(text: str, entropy: list[float], boundaries: list[int], quantum: float = 0.5) -> Text:
    """`text` with a background per character from its bytes' entropy (binned to `quantum` bits so that
    tiny numeric differences don't change the picture) and '│' at chunk starts."""
    starts = char_byte_starts(text)
    bounds = set(boundaries)
    out = Text()
    for i, ch in enumerate(text):
        lo, hi = starts[i], starts[i + 1]
        if i and any(b in bounds for b in range(lo, hi)):
            out.append(BOUNDARY, style="bold bright_white")
        bits = max(entropy[lo:hi], default=0.0)
        bits = round(bits / quantum) * quantum
        shown = "⏎\n" if ch == "\n" else ch
        out.append(shown, style=Style(bgcolor=entropy_colour(bits), color="white"))
    return out


def legend() -> Text:
    out = Text("entropy (bits/byte): ")
    for bits in range(0, 9):
        out.append(f" {bits} ", style=Style(bgcolor=entropy_colour(bits), color="white"))
    out.append(f"   {BOUNDARY} = a chunk starts here", style="dim")
    return out


class InspectView(VerticalScroll):
    def compose(self):
        yield Static("Select a node and press v to see how the model reads it.", id="inspect-summary")
        yield Static("", id="inspect-text")

    def show_message(self, message: str) -> None:
        self.query_one("#inspect-summary", Static).update(Text(message, style="italic"))
        self.query_one("#inspect-text", Static).update("")

    def show(self, inspection, stage: int = 0) -> None:
        entropy = list(inspection.entropy)
        stages = inspection.boundaries or [[]]
        bounds = stages[min(stage, len(stages) - 1)]
        nbytes = len(inspection.text.encode("utf-8"))
        mean = sum(entropy) / len(entropy) if entropy else 0.0
        chunks = len(bounds) + (1 if nbytes else 0)
        summary = Text.assemble(
            ("Inspect", "bold"), f" · {nbytes} bytes · mean entropy {mean:.2f} bits/byte · ",
            f"stage {stage + 1}/{len(stages)}: {chunks} chunks ({nbytes / max(chunks, 1):.1f} bytes/chunk)\n",
            legend())
        self.query_one("#inspect-summary", Static).update(summary)
        self.query_one("#inspect-text", Static).update(render_inspection(inspection.text, entropy, bounds))
