"""The model's side of the editor: loading the engine (in a worker, once the document shows), running a
writing action on a node (streaming its candidates into the candidates panel), accepting, rejecting
or regenerating them, and inspect.

The assistant owns the engine and the generation in flight, and drives the widgets it is given (the
candidates panel, the status bar, the inspect view). The screen passes in the session and the node of
each request, routes the workers' messages here, and hears back through CandidateAccepted and
ChangeRefused (app.tui.messages) when a candidate went into the document or was refused.
"""

from __future__ import annotations

import dataclasses
import time

from textual.screen import Screen

from app import change_preview, writing
from app.session import Session
from app.store.errors import ConflictError
from app.tui.generation import Generation, run_generation
from app.tui.messages import (
    CandidateAccepted,
    ChangeRefused,
    EngineFailed,
    EngineLoaded,
    GenerationDone,
    GenerationFailed,
    GenerationUpdate,
    InspectionReady,
)
from app.tui.options import EditorOptions
from app.tui.screens.candidate_view import CandidateView
from app.tui.screens.dialogs import Choice
from app.tui.widgets.candidates import CandidatesPanel
from app.tui.widgets.inspect_view import InspectView
from app.tui.widgets.outline import preview
from app.tui.widgets.status import StatusBar
from engine import actions
from engine.actions import ActionRefused
from engine.document import InputRefused
from engine.protocol import Engine


class Assistant:
    def __init__(self, screen: Screen, options: EditorOptions, engine: Engine | None, *,
                 candidates: CandidatesPanel, status: StatusBar, inspect_view: InspectView) -> None:
        self.screen = screen  # where its workers run, its notes show and its messages go
        self.options = options
        self.engine = engine
        self.engine_name: str | None = None
        self.engine_error: str | None = None if (engine is not None or options.load_engine) else "no model loaded"
        self.should_load_engine = options.load_engine and engine is None
        self.generation: Generation | None = None
        self.candidates = candidates
        self.status = status
        self.inspect_view = inspect_view

    def start(self) -> None:
        """On mount: show the engine it was given, or why there is none."""
        if self.engine is not None:
            self._engine_ready(self.engine)
        elif not self.should_load_engine:
            self.status.engine = self.engine_error

    # -- the engine --------------------------------------------------------------------------------------

    def load_engine_if_wanted(self) -> None:
        if self.should_load_engine and self.engine is None:
            self.should_load_engine = False
            self.status.engine = "loading model…"
            self.screen.run_worker(self._load_engine, thread=True, group="engine", name="load engine",
                                   exit_on_error=False)

    def _load_engine(self) -> None:
        started = time.perf_counter()
        try:
            if self.options.engine_url:  # a served engine: its status shows as calls go (engine.remote)
                from engine.remote import RemoteEngine  # noqa: PLC0415

                engine = RemoteEngine(self.options.engine_url, on_status=self._remote_status)
                engine.info()  # fetched here, in the worker: _engine_ready reads it back without the network
                self.screen.post_message(EngineLoaded(engine, time.perf_counter() - started))
                return
            # torch loads here, in a worker, after the document is on screen
            from engine.api import load_engine  # noqa: PLC0415

            # on a CPU the decoding step compiles in the background: the first request runs eagerly at once
            engine = load_engine(self.options.model_dir, backend=self.options.backend, device=self.options.device,
                                 compile_cpu="background")
        except Exception as exc:  # noqa: BLE001 - EngineUnavailable, no torch, …: say it, keep running
            self.screen.post_message(EngineFailed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            return
        self.screen.post_message(EngineLoaded(engine, time.perf_counter() - started))

    def _remote_status(self, status: str) -> None:
        """A served engine answered ok / slow / not at all (called from the worker that called it)."""
        self.screen.app.call_from_thread(self._show_remote_status)

    def _show_remote_status(self) -> None:
        if self.engine is not None and hasattr(self.engine, "status_line"):
            self.status.engine = f"{self.engine_name} · {self.engine.status_line()}"
            self.status.engine_ok = self.engine.status == "ok"

    def engine_loaded(self, message: EngineLoaded) -> None:
        self._engine_ready(message.engine)

    def _engine_ready(self, engine: Engine) -> None:
        self.engine, self.engine_error = engine, None
        info = engine.info()
        self.engine_name = info.model
        self.status.engine = f"{info.model} · {info.backend} · {info.device}"
        self.status.engine_ok = True

    def engine_failed(self, message: EngineFailed) -> None:
        self.engine_error = message.reason
        self.status.engine = "no model (writing actions off)"
        self.screen.notify(f"{message.reason}\nYou can keep writing; the writing actions need a model (--model DIR).",
                           title="No model", severity="warning", timeout=10)

    def engine_or_explain(self) -> bool:
        """Whether the engine is there; if not, tell the writer why the writing actions are off."""
        if self.engine is not None:
            return True
        reason = self.engine_error or "the model is still loading; try again in a moment"
        self.screen.notify(f"writing actions are off: {reason}", severity="warning")
        return False

    # -- generations -------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.generation is not None and self.generation.running

    def generate(self, session: Session, node_id: str | None, action: str, instruction: str | None = None,
                 seed: int | None = None, add: bool | None = None) -> Generation | None:
        """Ask the engine for candidates for `action` on `node_id` of the session's document, in a thread
        worker (the session takes changes, and the writer's pending edit is recorded: the screen's part).
        An action with an "add" variant (expand) on a section that has text asks first (add=None): add to
        the section, or replace its text; then it runs (None is returned meanwhile)."""
        if add is None and self._ask_add_or_replace(session, node_id, action, instruction, seed):
            return None
        sampling = self.options.sampling if seed is None else dataclasses.replace(self.options.sampling, seed=seed)
        try:
            proposal = writing.propose(session.doc, node_id, action, instruction, sampling,
                                       base_revision=session.revision, add=bool(add))
        except (ActionRefused, InputRefused, KeyError, ValueError) as exc:
            self.screen.notify(f"{action}: {exc}", severity="warning")
            return None
        if self.generation is not None:
            self.generation.cancel.set()
        gen = Generation(proposal)
        self.generation = gen
        target = preview(session.doc.node(proposal.node_id).text, 30) if proposal.node_id else "the document"
        mode = " (add)" if proposal.add else ""
        self.candidates.start(f"{proposal.operation}{mode} {proposal.task.level} · {target}")
        self.candidates.focus()
        self.status.activity = f"{proposal.operation}…"
        engine, post = self.engine, self.screen.post_message
        self.screen.run_worker(lambda: run_generation(engine, gen, post), thread=True, exclusive=True,
                               group=f"gen-{proposal.node_id}", name=f"{proposal.operation} {proposal.node_id}",
                               exit_on_error=False)
        return gen

    def _ask_add_or_replace(self, session: Session, node_id: str | None, action: str, instruction: str | None,
                            seed: int | None) -> bool:
        """If `action` has an "add" variant and its span on `node_id` holds text, ask the writer which
        (then generate with the answer) and return True; else False (it runs as it is)."""
        try:
            entry = actions.get(action)
            if entry.add_span is None or node_id is None:
                return False
            span = entry.span(session.doc, node_id)
        except (ActionRefused, InputRefused, KeyError, ValueError):
            return False  # generate says why
        if span.start >= span.end:
            return False  # an empty section: nothing to replace
        head = session.doc.node(span.node_id)
        what = change_preview.replaced_nodes(session.doc, span.start, span.end, section=True)
        counts = ", ".join(change_preview.plural(what[k], k, k + "s") for k in
                           ("subsection", "paragraph", "block") if what.get(k))
        size = change_preview.plural(span.end - span.start, "character", "characters")

        def chosen(choice: str | None) -> None:
            if choice in ("add", "replace"):  # through the screen: it records a pending edit, shows progress
                self.screen.generate(action, instruction, node_id=node_id, seed=seed, add=choice == "add")

        self.screen.app.push_screen(Choice(
            f"{entry.title}: “{preview(head.text.lstrip('# '), 40)}”",
            f"This section already has text ({counts}, {size}). Add the new text to it (after its own "
            "text, before its subsections), or write the section again and replace all of it?",
            [("add", "Add to the section"), ("replace", "Replace its text"), ("cancel", "Cancel")]), chosen)
        return True

    def again(self) -> tuple[str, str | None, str | None, int | None, bool] | None:
        """(action, instruction, node id, seed, add) that asks again for the last request with the next seed."""
        gen = self.generation
        if gen is None:
            return None
        seed = None if gen.params.get("seed") is None else gen.params["seed"] + 1
        return gen.proposal.action.name, gen.proposal.instruction, gen.node_id, seed, gen.proposal.add

    def update(self, message: GenerationUpdate) -> None:
        if message.generation is self.generation and self.generation.running:
            self.generation.latest = message.candidates
            self.candidates.update_candidates(message.candidates, message.speed)
            self.status.speed = message.speed

    def done(self, message: GenerationDone) -> None:
        gen = message.generation
        gen.running = False
        gen.raw = message.candidates
        if gen is not self.generation:
            return
        self.candidates.update_candidates(message.candidates)
        gen.texts = writing.finish_candidates(gen.proposal, message.candidates)
        nbytes = sum(c.nbytes for c in message.candidates)
        self.status.speed = None  # the speed was this generation's: the note below keeps how fast it wrote
        self.status.activity = ""
        note = (f"{'cancelled' if gen.cancel.is_set() else 'done'} · {nbytes} B in {message.seconds:.1f} s · "
                "1-9/enter accept · g regenerate · x reject")
        self.candidates.finish(gen.texts, note)

    def failed(self, message: GenerationFailed) -> None:
        message.generation.running = False
        if message.generation is self.generation:
            self.status.activity = ""
            self.candidates.clear_candidates("the model failed")
            self.screen.notify(f"the model failed: {message.reason}", severity="error", timeout=10)

    def texts_now(self) -> list[str]:
        """The finished texts of the candidates (while running: the ones streamed so far, cut as finished)."""
        gen = self.generation
        if gen is None:
            return []
        return writing.finish_candidates(gen.proposal, gen.latest) if gen.running else gen.texts

    def preview_of(self, session: Session, index: int) -> change_preview.ChangePreview:
        gen = self.generation
        return change_preview.preview(gen.proposal, self.texts_now(), index, session.doc)

    def show_candidate(self, session: Session | None, index: int) -> None:
        """Open candidate `index` in the candidate view (a diff in context); accepting it there takes it."""
        gen = self.generation
        if gen is None or session is None or not 0 <= index < len(self.texts_now()):
            return
        target = preview(session.doc.node(gen.node_id).text, 40) if gen.node_id in session.doc else "the document"
        title = f"{gen.proposal.operation}{' (add)' if gen.proposal.add else ''} · {target}"

        def chosen(picked: int | None) -> None:
            if picked is not None and gen is self.generation:
                self.accept(session, picked, confirmed=True)
            else:
                self.candidates.focus()
            if gen is self.generation:
                self.candidates.highlighted = picked if picked is not None else self.candidates.highlighted

        self.screen.app.push_screen(CandidateView(title, len(self.texts_now()), index,
                                                  lambda i: self.preview_of(session, i)), chosen)

    def accept(self, session: Session | None, index: int, confirmed: bool = False) -> None:
        """Put candidate `index` into the session's document (CandidateAccepted), or say why not. One that
        replaces existing text asks first, saying what goes (unless `confirmed`: read in the candidate view)."""
        gen = self.generation
        if gen is not None and gen.running:
            # a candidate that has finished can be taken while the others are still being written
            latest = gen.latest
            if not (0 <= index < len(latest)) or latest[index].finish == "running":
                self.screen.notify(f"candidate {index + 1} is still being written (esc stops all)",
                                   severity="warning")
                return
        if gen is None or session is None or not 0 <= index < len(self.texts_now()):
            return
        if not confirmed and self._confirm_replacing(session, index):
            return
        if gen.running:
            gen.take_finished()
            self.status.activity = ""
        if not 0 <= index < len(gen.texts):
            return
        try:
            accepted = session.accept(gen.proposal, gen.texts, index, model=self.engine_name,
                                      then=lambda outcome: self._accepted(gen, index, outcome))
        except (ActionRefused, InputRefused, KeyError, ValueError) as exc:
            self.screen.notify(f"cannot apply candidate {index + 1}: {exc}", severity="error")
            return
        except ConflictError as exc:  # recorded at once (no store worker) and refused
            self.screen.post_message(ChangeRefused(f"candidate {index + 1}", exc))
            accepted = exc
        if accepted is None:  # recorded in the background: `_accepted` follows
            self.candidates.border_subtitle = f"recording candidate {index + 1}…"
            return
        self._accepted(gen, index, accepted)

    def _confirm_replacing(self, session: Session, index: int) -> bool:
        """If candidate `index` replaces existing text, ask first (then accept on yes) and return True."""
        change = self.preview_of(session, index)
        if not change.removes or change.error is not None:
            return False  # it only adds (or accepting says why it cannot)
        gen = self.generation
        target = preview(session.doc.node(gen.node_id).text, 40) if gen.node_id in session.doc else "the document"

        def chosen(choice: str | None) -> None:
            if gen is not self.generation:
                return
            if choice == "replace":
                self.accept(session, index, confirmed=True)
            elif choice == "preview":
                self.show_candidate(session, index)
            else:
                self.candidates.focus()

        self.screen.app.push_screen(Choice(
            f"Replace with candidate {index + 1}?",
            f"Candidate {index + 1} {change.summary()} of “{target}”. What it replaces stays in the history "
            "(ctrl+z in the outline undoes).",
            [("replace", "Replace"), ("preview", "Show the change"), ("keep", "Keep the text")]), chosen)
        return True

    def _accepted(self, gen: Generation, index: int, outcome) -> None:
        """Candidate `index` is recorded (outcome: app.writing.Accepted), or refused (a StoreError)."""
        if gen is self.generation:
            self.generation = None
        if isinstance(outcome, ConflictError):
            self.candidates.clear_candidates(f"candidate {index + 1} not taken")
            return  # the screen heard of the refusal from the document view (or below, recorded at once)
        if isinstance(outcome, Exception):
            self.candidates.clear_candidates(f"candidate {index + 1} not recorded")
            self.screen.notify(f"candidate {index + 1} not recorded: {outcome}", severity="error", timeout=10)
            return
        # said once, not kept in the panel: a restore or an undo later must not leave it saying so
        self.candidates.clear_candidates()
        self.screen.notify(f"accepted candidate {index + 1} (ctrl+z undoes)", timeout=4)
        self.screen.post_message(CandidateAccepted(outcome.focus))

    def reject(self) -> None:
        self.stop()
        self.generation = None
        self.candidates.clear_candidates("rejected")

    def cancel(self) -> None:
        """Stop the running generation (what it wrote so far stays as candidates)."""
        if self.running:
            self.generation.cancel.set()
            self.candidates.border_subtitle = "cancelling…"

    def stop(self) -> None:
        """Stop the model now (the editor is leaving, or the candidates are put away)."""
        if self.generation is not None:
            self.generation.cancel.set()

    # -- inspect -----------------------------------------------------------------------------------------

    def inspect(self, node_id: str, text: str) -> None:
        """The engine's entropy and chunk boundaries over `text`, in a thread worker (InspectionReady)."""
        self.inspect_view.show_message("inspecting…")
        engine, post = self.engine, self.screen.post_message

        def work() -> None:
            try:
                post(InspectionReady(node_id, engine.inspect(text)))
            except Exception as exc:  # noqa: BLE001
                post(InspectionReady(node_id, exc))

        self.screen.run_worker(work, thread=True, exclusive=True, group="inspect", exit_on_error=False)

    def inspection_ready(self, message: InspectionReady) -> None:
        if isinstance(message.inspection, Exception):
            self.inspect_view.show_message(f"inspect failed: {message.inspection}")
        else:
            self.inspect_view.show(message.inspection)
