"""The engine's face, as the app sees it: value types and the `Engine` protocol. Imports no torch.

The app (TUI, CLI, writing service) talks to an engine only through these types, so it starts, opens
documents and records history before any model is loaded, and a remote engine can stand in for the
in-process one. `engine.api.load_engine` builds the in-process implementation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Protocol, runtime_checkable

from engine.bytes import EOS
from engine.tasks import Action, Task


class EngineUnavailable(RuntimeError):
    """The engine cannot run as asked (no model files, no GPU, no kernels). One-line message."""


@dataclass
class GenerationRequest:
    prompt: bytes  # the full context (engine.tasks builds it), BOS included
    stop: list[bytes] = field(default_factory=lambda: [bytes([EOS])])  # stop at any of these (not kept)
    stop_after: list[bytes] = field(default_factory=list)  # stop once the text ends with any of these (kept)
    max_bytes: int = 512
    n: int = 3
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None


@dataclass
class Candidate:
    text: str
    finish: str = "running"  # "stop" | "length" | "cancelled" | "running"
    nbytes: int = 0
    logprob: float = 0.0  # natural log, summed over the bytes written


@dataclass
class EngineInfo:
    model: str
    backend: str
    device: str
    params: int
    config: dict = field(default_factory=dict)

    def summary(self) -> str:
        return f"{self.model} ({self.params / 1e6:.1f}M) · {self.backend} · {self.device}"


@dataclass
class Inspection:
    text: str
    entropy: list[float]  # per byte of text: entropy (bits) of the model's distribution for that byte
    surprisal: list[float]  # per byte: -log2 p(actual byte)
    boundaries: list[list[int]]  # per stage: byte offsets where a chunk begins


@runtime_checkable
class Engine(Protocol):
    def generate(self, request: GenerationRequest, on_update: Callable[[list[Candidate]], None] | None = None,
                 cancel: threading.Event | None = None) -> list[Candidate]: ...

    def score(self, text: str) -> float: ...

    def inspect(self, text: str) -> Inspection: ...

    def info(self) -> EngineInfo: ...


@dataclass
class HistoryPair:
    """One accepted change from the writer's history: `before[start:end]` became `after`. Made by the app
    (app.history) from the revision store, handed to the trainer as data."""

    doc_id: str
    before: str  # the whole document (Markdown) before the change
    start: int  # span in `before` (str offsets), aligned to a node
    end: int
    after: str  # the text that replaced the span (the accepted candidate or the writer's edit)
    action: str  # tasks.Action value
    level: str
    heading_level: int = 0
    instruction: str | None = None
    author: str = "writer"

    def task(self) -> Task:
        old = self.before[self.start:self.end] if self.instruction else None
        return Task(Action(self.action), self.level, self.before[:self.start], self.before[self.end:], old=old,
                    instruction=self.instruction, heading_level=self.heading_level)
