"""The messages that worker threads post to the main screen (Textual's post_message is thread-safe), and
that the screen's components (app.tui.assistant, app.tui.file_sync) post to it when the document
changed under them. Typed dataclasses: what each carries is part of its name's contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # annotations only: the messages module must not load the engine or the store
    from app.session import Session
    from app.store.errors import ConflictError
    from app.tui.generation import Generation
    from engine.protocol import Candidate, Engine, Inspection


@dataclass
class DocumentOpened(Message):
    """`session.provisional`: the file alone, shown while the revision store opens."""

    session: Session
    seconds: float


@dataclass
class DocumentOpenFailed(Message):
    reason: str


@dataclass
class EngineLoaded(Message):
    engine: Engine
    seconds: float


@dataclass
class EngineFailed(Message):
    reason: str


@dataclass
class GenerationUpdate(Message):
    """Candidates as they are now, while they stream in (copies: the engine keeps writing its own)."""

    generation: Generation
    candidates: list[Candidate]
    speed: float  # bytes per second so far


@dataclass
class GenerationDone(Message):
    generation: Generation
    candidates: list[Candidate]
    seconds: float


@dataclass
class GenerationFailed(Message):
    generation: Generation
    reason: str


@dataclass
class InspectionReady(Message):
    node_id: str
    inspection: Inspection | Exception  # the exception when inspecting failed


@dataclass
class FileChangedOnDisk(Message):
    data: bytes


@dataclass
class FileDeleted(Message):
    pass


@dataclass
class CandidateAccepted(Message):
    """The writer took a candidate: the session holds the document with it; `focus` is the node to show."""

    focus: str | None


@dataclass
class ExternalEditMerged(Message):
    """The file's new content is merged into the session's document; `keep`: the writer's pending edit
    (node id, text) to apply on top of it."""

    keep: tuple[str, str] | None = None


@dataclass
class ChangeRefused(Message):
    """`what` was not recorded: another window changed the same node since; the session holds the
    store's version."""

    what: str
    error: ConflictError


__all__ = ["CandidateAccepted", "ChangeRefused", "DocumentOpenFailed", "DocumentOpened", "EngineFailed",
           "EngineLoaded", "ExternalEditMerged", "FileChangedOnDisk", "FileDeleted", "GenerationDone",
           "GenerationFailed", "GenerationUpdate", "InspectionReady"]
