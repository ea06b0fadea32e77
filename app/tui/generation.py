"""The engine in the TUI: loading it in a worker, the writing actions (expand, rewrite, summarise,
continue, outline), candidates streaming in from a thread worker, accept / reject / regenerate /
cancel, and the inspect view. The UI thread never waits for the model."""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field

from app.actions import ActionRefused, apply_candidate, make_task
from engine.document import InputRefused
from app.tui.messages import (EngineFailed, EngineLoaded, GenerationDone, GenerationFailed, GenerationUpdate,
                              InspectionReady)
from app.tui.screens.dialogs import TextPrompt
from app.tui.widgets.inspect_view import InspectView
from app.tui.widgets.outline import preview

UPDATE_INTERVAL = 0.05  # seconds between streamed updates to the UI


@dataclass
class Generation:
    action: str
    node_id: str | None
    task: object  # engine.tasks.Task
    instruction: str | None
    params: dict
    cancel: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.perf_counter)
    running: bool = True
    texts: list[str] = field(default_factory=list)  # finished (what accepting one inserts)
    raw: list = field(default_factory=list)  # the engine's candidates, as it returned them
    latest: list = field(default_factory=list)  # the last streamed candidates (while running)


class GenerationMixin:
    # -- the engine ----------------------------------------------------------------------------------

    def start_engine_load(self) -> None:
        self.status.engine = "loading model…"
        self.run_worker(self._load_engine, thread=True, group="engine", name="load engine", exit_on_error=False)

    def _load_engine(self) -> None:
        started = time.perf_counter()
        try:
            from engine.api import load_engine

            engine = load_engine(self.model_dir, backend=self.backend, device=self.device)
        except Exception as exc:  # noqa: BLE001 - EngineUnavailable, no torch, …: say it, keep running
            self.post_message(EngineFailed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            return
        self.post_message(EngineLoaded(engine, time.perf_counter() - started))

    def on_engine_loaded(self, message: EngineLoaded) -> None:
        self._engine_ready(message.engine)

    def _engine_ready(self, engine) -> None:
        self.engine, self.engine_error = engine, None
        info = engine.info()
        self.engine_name = info.model
        self.status.engine = f"{info.model} · {info.backend} · {info.device}"
        self.status.engine_ok = True

    def on_engine_failed(self, message: EngineFailed) -> None:
        self.engine_error = message.reason
        self.status.engine = "no model (writing actions off)"
        self.notify(f"{message.reason}\nYou can keep writing; the writing actions need a model (--model DIR).",
                    title="No model", severity="warning", timeout=10)

    def _engine_or_explain(self) -> bool:
        if self.engine is not None:
            return True
        reason = self.engine_error or "the model is still loading; try again in a moment"
        self.notify(f"writing actions are off: {reason}", severity="warning")
        return False

    # -- the actions ---------------------------------------------------------------------------------

    def action_expand(self) -> None:
        self.generate("expand")

    def action_rewrite(self) -> None:
        self.generate("rewrite")

    def action_summarise(self) -> None:
        self.generate("summarise")

    def action_continue_text(self) -> None:
        self.generate("continue")

    def action_instruct(self) -> None:
        """Rewrite with an instruction typed by the writer."""
        if self._engine_or_explain():
            self.push_screen(TextPrompt("Rewrite as…", "e.g. shorter, plainer, more concrete",
                                        help_text="How should the selected text change?"),
                             lambda text: self.generate("rewrite", text) if text else None)

    def action_outline(self) -> None:
        """Draft an outline (headings) from a one-line premise."""
        if self._engine_or_explain():
            self.push_screen(TextPrompt("Outline from a premise", "what the document is about",
                                        help_text="New headings are added at the end of the document."),
                             lambda text: self.generate("outline", text) if text else None)

    def generate(self, action: str, instruction: str | None = None, node_id: str | None = None,
                 seed: int | None = None) -> Generation | None:
        """Ask the engine for candidates for `action` on the selected node (in a thread worker)."""
        if not self.ready_to_change() or not self._engine_or_explain():
            return None
        from engine.api import GenerationRequest
        from engine.tasks import build_prompt

        self.record_pending_edit()
        node_id = node_id if node_id is not None else (None if action == "outline" else self.selected_id)
        try:
            task = make_task(self.doc, node_id, action, instruction)
        except (ActionRefused, InputRefused, KeyError, ValueError) as exc:
            self.notify(f"{action}: {exc}", severity="warning")
            return None
        prompt = build_prompt(task)
        s = self.sampling
        params = {"n": s["n"], "temperature": s["temperature"], "top_p": s["top_p"],
                  "seed": s["seed"] if seed is None else seed,
                  "max_bytes": min(prompt.max_bytes, s["max_bytes"] or prompt.max_bytes)}
        request = GenerationRequest(prompt.data, stop=prompt.stop, stop_after=prompt.stop_after, **params)
        if self.generation is not None:
            self.generation.cancel.set()
        gen = Generation(task.action.value, node_id, task, instruction, params)
        self.generation = gen
        target = preview(self.doc.node(node_id).text, 30) if node_id else "the document"
        self.candidates.start(f"{gen.action} {task.level} · {target}")
        self.candidates.focus()
        self.status.activity = f"{gen.action}…"
        self.run_worker(lambda: self._generate_in_thread(gen, request), thread=True, exclusive=True,
                        group=f"gen-{node_id}", name=f"{gen.action} {node_id}", exit_on_error=False)
        return gen

    def _generate_in_thread(self, gen: Generation, request) -> None:
        last = [0.0]

        def on_update(candidates) -> None:
            now = time.perf_counter()
            if now - last[0] < UPDATE_INTERVAL:
                return
            last[0] = now
            copies = [dataclasses.replace(c) for c in candidates]
            nbytes = sum(c.nbytes for c in copies)
            self.post_message(GenerationUpdate(gen, copies, nbytes / max(now - gen.started, 1e-6)))

        try:
            result = self.engine.generate(request, on_update=on_update, cancel=gen.cancel)
        except Exception as exc:  # noqa: BLE001 - a GPU that went away, out of memory: say it
            self.post_message(GenerationFailed(gen, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            return
        self.post_message(GenerationDone(gen, result, time.perf_counter() - gen.started))

    def on_generation_update(self, message: GenerationUpdate) -> None:
        if message.generation is self.generation and self.generation.running:
            self.generation.latest = message.candidates
            self.candidates.update_candidates(message.candidates, message.speed)
            self.status.speed = message.speed

    def on_generation_done(self, message: GenerationDone) -> None:
        gen = message.generation
        gen.running = False
        gen.raw = message.candidates
        if gen is not self.generation:
            return
        from engine.tasks import finish

        self.candidates.update_candidates(message.candidates)
        gen.texts = [finish(gen.task, c.text) for c in message.candidates]
        nbytes = sum(c.nbytes for c in message.candidates)
        self.status.speed = nbytes / max(message.seconds, 1e-6)
        self.status.activity = ""
        cancelled = gen.cancel.is_set()
        note = (f"{'cancelled' if cancelled else 'done'} · {nbytes} B in {message.seconds:.1f} s · "
                "1-9/enter accept · g regenerate · x reject")
        self.candidates.finish(gen.texts, note)

    def on_generation_failed(self, message: GenerationFailed) -> None:
        message.generation.running = False
        if message.generation is self.generation:
            self.status.activity = ""
            self.candidates.clear_candidates("the model failed")
            self.notify(f"the model failed: {message.reason}", severity="error", timeout=10)

    # -- candidates ------------------------------------------------------------------------------------

    def action_accept_candidate(self, index: int) -> None:
        gen = self.generation
        if gen is not None and gen.running:
            # a candidate that has finished can be taken while the others are still being written
            latest = gen.latest
            if not (0 <= index < len(latest)) or latest[index].finish == "running":
                self.notify(f"candidate {index + 1} is still being written (esc stops all)", severity="warning")
                return
            from engine.tasks import finish

            gen.cancel.set()
            gen.running = False
            gen.texts = [finish(gen.task, c.text) for c in latest]
            self.status.activity = ""
        if gen is None or not gen.texts:
            return
        if not 0 <= index < len(gen.texts):
            return
        text = gen.texts[index]
        try:
            new_doc, changed = apply_candidate(self.doc, gen.node_id, gen.action, text, with_changes=True)
        except (ActionRefused, InputRefused, KeyError, ValueError) as exc:
            self.notify(f"cannot apply candidate {index + 1}: {exc}", severity="error")
            return
        self.session.commit(new_doc, author="model", operation=gen.action, level=gen.task.level,
                            instruction=gen.instruction, model=getattr(self, "engine_name", None), params=gen.params,
                            candidates=gen.texts, chosen=index)
        self.generation = None
        self.candidates.clear_candidates(f"accepted candidate {index + 1}")
        focus = gen.node_id if gen.node_id in new_doc else next((i for i in changed if i in new_doc), None)
        self.show_document(select=focus)
        self.outline.focus()
        self.refresh_history()

    def action_reject_candidates(self) -> None:
        if self.generation is not None:
            self.generation.cancel.set()
            self.generation = None
        self.candidates.clear_candidates("rejected")
        self.outline.focus()

    def action_regenerate(self) -> None:
        gen = self.generation
        if gen is None:
            return
        seed = None if gen.params.get("seed") is None else gen.params["seed"] + 1
        self.generate(gen.action, gen.instruction, node_id=gen.node_id, seed=seed)

    def action_cancel_generation(self) -> None:
        if self.generation is not None and self.generation.running:
            self.generation.cancel.set()
            self.candidates.border_subtitle = "cancelling…"

    # -- inspect -----------------------------------------------------------------------------------------

    def action_inspect(self) -> None:
        if self.session is None or self.selected_id is None or not self._engine_or_explain():
            return
        node_id, text = self.selected_id, self.doc.node(self.selected_id).text
        view = self.inspect_view
        view.show_message("inspecting…")
        self.action_show_tab("inspect")

        def work() -> None:
            try:
                self.post_message(InspectionReady(node_id, self.engine.inspect(text)))
            except Exception as exc:  # noqa: BLE001
                self.post_message(InspectionReady(node_id, exc))

        self.run_worker(work, thread=True, exclusive=True, group="inspect", exit_on_error=False)

    def on_inspection_ready(self, message: InspectionReady) -> None:
        view = self.inspect_view
        if isinstance(message.inspection, Exception):
            view.show_message(f"inspect failed: {message.inspection}")
        else:
            view.show(message.inspection)
