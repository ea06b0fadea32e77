"""Messages that worker threads post to the app (Textual's post_message is thread-safe)."""

from __future__ import annotations

from textual.message import Message


class DocumentOpened(Message):
    """`session.provisional`: the file alone, shown while the revision store opens."""

    def __init__(self, session, seconds: float) -> None:
        super().__init__()
        self.session = session
        self.seconds = seconds


class DocumentOpenFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class EngineLoaded(Message):
    def __init__(self, engine, seconds: float) -> None:
        super().__init__()
        self.engine = engine
        self.seconds = seconds


class EngineFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class GenerationUpdate(Message):
    def __init__(self, generation, candidates: list, speed: float) -> None:
        super().__init__()
        self.generation = generation
        self.candidates = candidates
        self.speed = speed


class GenerationDone(Message):
    def __init__(self, generation, candidates: list, seconds: float) -> None:
        super().__init__()
        self.generation = generation
        self.candidates = candidates
        self.seconds = seconds


class GenerationFailed(Message):
    def __init__(self, generation, reason: str) -> None:
        super().__init__()
        self.generation = generation
        self.reason = reason


class InspectionReady(Message):
    def __init__(self, node_id: str, inspection) -> None:
        super().__init__()
        self.node_id = node_id
        self.inspection = inspection


class FileChangedOnDisk(Message):
    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data = data


class FileDeleted(Message):
    pass
