"""One run of a writing action in the editor: the proposal (app.writing), its cancel event, and the
candidates as they stream in; and the thread worker that runs it on the engine, posting typed
messages to the screen so the UI thread never waits for the model."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from textual.message import Message

from app import writing
from app.tui.messages import GenerationDone, GenerationFailed, GenerationUpdate
from engine.protocol import Candidate, Engine

UPDATE_INTERVAL = 0.05  # seconds between streamed updates to the UI


@dataclass
class Generation:
    proposal: writing.Proposal
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.perf_counter)
    running: bool = True
    texts: list[str] = field(default_factory=list)  # finished (what accepting one inserts)
    raw: list[Candidate] = field(default_factory=list)  # the engine's candidates, as it returned them
    latest: list[Candidate] = field(default_factory=list)  # the last streamed candidates (while running)

    @property
    def node_id(self) -> str | None:
        return self.proposal.node_id

    @property
    def params(self) -> dict:
        return self.proposal.params

    def take_finished(self) -> bool:
        """Stop now, keeping the candidates streamed so far as the finished ones (a finished candidate
        can be accepted while the others are still being written)."""
        self.cancel.set()
        self.running = False
        self.texts = writing.finish_candidates(self.proposal, self.latest)
        return bool(self.texts)


def run_generation(engine: Engine, gen: Generation, post: Callable[[Message], object]) -> None:
    """Run `gen` on `engine` (blocking: a thread worker), posting GenerationUpdate while it streams,
    then GenerationDone, or GenerationFailed with a one-line reason."""
    last = [0.0]

    def on_update(candidates: list[Candidate]) -> None:
        now = time.perf_counter()
        if now - last[0] < UPDATE_INTERVAL:
            return
        last[0] = now
        copies = [dataclasses.replace(c) for c in candidates]
        nbytes = sum(c.nbytes for c in copies)
        post(GenerationUpdate(gen, copies, nbytes / max(now - gen.started, 1e-6)))

    try:
        result = writing.generate(engine, gen.proposal, on_update=on_update, cancel=gen.cancel)
    except Exception as exc:  # noqa: BLE001 - a GPU that went away, out of memory: say it
        post(GenerationFailed(gen, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return
    post(GenerationDone(gen, result, time.perf_counter() - gen.started))
