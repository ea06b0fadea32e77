"""Progress of the generation in flight: while the model reads the context (prefill), how much and for
how long, with an estimate from the last prefill's speed; then per candidate a bar toward the length
cap, its bytes/s and the time left at that speed (at most: a candidate may stop sooner). Hidden when
no generation runs, so no stale speed stays on screen."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

BAR = 20  # cells of a bar
TICK = 0.25  # seconds between redraws while the context is read (no update comes from the engine then)


def bar(done: float, width: int = BAR) -> str:
    """A bar of `width` cells, `done` (0..1) of it filled, in eighths."""
    done = min(max(done, 0.0), 1.0)
    eighths = round(done * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width, "·")[:width]


def size(nbytes: float) -> str:
    return f"{nbytes / 1000:.1f} KB" if nbytes >= 1000 else f"{nbytes:.0f} B"


def seconds(s: float) -> str:
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


class GenerationProgress(Static):
    prefill_rate: float | None = None  # bytes/s of the last prefill (for the next estimate), per process

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.display = False
        self.generation = None
        self.max_bytes = 0
        self.prompt_bytes = 0
        self.started = 0.0
        self.prefilled: float | None = None  # when the first candidate bytes came (the context was read)
        self.finished: dict[int, float] = {}  # candidate index -> when it was first seen finished
        self._timer = None

    def start(self, generation) -> None:
        """A generation began: show the prefill (the engine says nothing until its first bytes)."""
        self.generation = generation
        request = generation.proposal.request
        self.max_bytes = request.max_bytes
        self.prompt_bytes = len(request.prompt)
        self.started = time.perf_counter()
        self.prefilled = None
        self.finished = {}
        self.display = True
        self._show_prefill()
        if self._timer is None:
            self._timer = self.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        if self.generation is not None and self.prefilled is None:
            self._show_prefill()

    def _show_prefill(self) -> None:
        elapsed = time.perf_counter() - self.started
        line = Text.assemble(("reading the context ", "bold"), f"{size(self.prompt_bytes)} · {seconds(elapsed)}")
        rate = GenerationProgress.prefill_rate
        if rate:
            estimate = self.prompt_bytes / rate
            line = Text.assemble(f"{bar(elapsed / max(estimate, 1e-6))} ", line,
                                 f" · ~{seconds(max(estimate - elapsed, 0))} left")
        self.update(line)

    def show(self, generation, candidates, now: float | None = None) -> None:
        """The candidates as they stream in (from the engine's updates; `now`: perf_counter's time)."""
        if generation is not self.generation or not generation.running:
            return
        now = time.perf_counter() if now is None else now
        if self.prefilled is None:
            self.prefilled = now
            GenerationProgress.prefill_rate = self.prompt_bytes / max(now - self.started, 1e-6)
            if self._timer is not None:  # the engine's updates redraw from now on
                self._timer.stop()
                self._timer = None
        lines = []
        for i, cand in enumerate(candidates):
            if cand.finish != "running":
                self.finished.setdefault(i, now)  # a finished candidate keeps the speed it wrote at
            rate = cand.nbytes / max(self.finished.get(i, now) - self.prefilled, 1e-6)
            if cand.finish == "running":
                left = (self.max_bytes - cand.nbytes) / rate if rate > 0 else None
                state = f"≤{seconds(left)} left" if left is not None else "starting"
            else:
                state = {"stop": "done", "length": "cut at length", "cancelled": "cancelled"}.get(cand.finish,
                                                                                               cand.finish)
            lines.append(Text.assemble(
                (f"{i + 1} ", "bold"), (bar(cand.nbytes / max(self.max_bytes, 1)), "cyan"),
                f" {cand.nbytes}/{self.max_bytes} B · {rate:,.0f} B/s · {state}"))
        self.update(Text("\n").join(lines))

    def clear(self) -> None:
        """The generation is over (done, failed, cancelled, put away): hide."""
        self.generation = None
        self.display = False
        self.update("")
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
