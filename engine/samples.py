"""Samples a person can judge: candidates of every writing action on a fixed set of documents and nodes,
written as one Markdown report (`scriba samples`), so two models' reports can be read side by side.

The set is fixed: the demo document and three held-out documents (assets/heldout: never trained on), and
in each the same nodes, chosen by rules rather than by hand (`pick_nodes`):

    heading    the first heading below the document's top level whose section has text of its own
               (else the first heading with any body)
    paragraph  the middle paragraph (of the document's paragraphs, in order)
    sentence   the middle sentence of the middle paragraph among those with two sentences or more

Every action of the registry (engine.actions.ACTIONS) runs on its targets (`TARGETS`; an action added to
the registry later runs on its first node kind), one candidate per seed, so each candidate is reproduced
by `scriba generate FILE --action A --node INDEX --n 1 --seed S --max-bytes B`. The instruction of
`instruct` is a trained form (engine.instructions) derived from the paragraph by a fixed rule, and the
report says whether each candidate satisfies it, beside the same check on the plain rewrite of the same
paragraph (the model without the instruction). The report's body has no timestamp and a stable order: only
the header line (model name and configuration) differs between two models' reports, besides the candidates.
Runs through the `Engine` protocol only; prints nothing; no torch here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine import instructions
from engine.actions import ACTIONS, ActionRefused, make_task, outline_span
from engine.document import Document
from engine.protocol import Engine, EngineInfo, GenerationRequest
from engine.tasks import Prompt, Task, build_prompt, finish

ASSETS = Path(__file__).resolve().parents[1] / "assets"  # the checkout's assets (heldout/ is not shipped)
DEFAULT_DOCUMENTS = ("demo.md", "heldout/governance.md", "heldout/contributing.md",
                     "heldout/essay-on-small-tools.txt")
# the node kinds each action runs on, in this order (None: the whole document)
TARGETS: dict[str, tuple[str | None, ...]] = {
    "expand": ("heading",), "rewrite": ("paragraph", "sentence"), "instruct": ("paragraph",),
    "summarise": ("heading",), "continue": ("paragraph",), "outline": (None,),
}
# modest length caps (bytes, per span level; continue is "paragraph") so a CPU writes the report in minutes
CAPS = {"sentence": 200, "paragraph": 400, "heading": 120, "section": 480, "document": 320}
ARCHITECTURE = ("layout", "d_model", "d_state", "headdim", "expand", "target_ratio")  # the header's config


@dataclass
class SamplesConfig:
    documents: tuple[str | Path, ...] = DEFAULT_DOCUMENTS  # relative to `root`, or absolute
    root: Path = ASSETS
    seeds: tuple[int, ...] = (0, 1, 2)
    temperature: float = 0.8
    top_p: float = 0.95
    caps: dict[str, int] = field(default_factory=lambda: dict(CAPS))
    context_chars: int = 240  # how much of the text before the span is shown
    original_chars: int = 600  # how much of the span's current text is shown


@dataclass
class Sample:
    seed: int
    text: str  # the finished candidate: what accepting it would insert
    raw: str  # what the model wrote
    finish: str  # "stop" | "length" | ...
    nbytes: int
    satisfied: dict[str, bool] | None = None  # the case's forms, checked on `text`


@dataclass
class Case:
    document: str
    action: str
    target: str | None  # the node kind asked for (None: the whole document)
    node: int | None = None  # index in `scriba tree` order
    label: str = ""  # the node's first line
    instruction: str | None = None
    before: str = ""  # the end of the text before the span
    original: str = ""  # the span's current text (empty: new text)
    prompt_bytes: int = 0
    max_bytes: int = 0
    forms: instructions.Forms | None = None  # checked on every sample (instruct's, or its baseline's)
    forms_given: bool = False  # whether the forms were in the prompt
    refused: str | None = None
    samples: list[Sample] = field(default_factory=list)
    task: Task | None = field(default=None, repr=False)
    prompt: Prompt | None = field(default=None, repr=False)


# ---------------------------------------------------------------------------------------- fixed choices
def node_index(doc: Document) -> dict[str, int]:
    """node id -> its index in `scriba tree` order (what `scriba generate --node` takes; ids are random)."""
    return {r.id: i for i, r in enumerate(r for r in doc.records() if r.parent_id is not None)}


def pick_nodes(doc: Document) -> dict[str, str | None]:
    """The node of each target kind, by the fixed rules of the module docstring (None: the document has none)."""
    nodes = list(doc.walk())
    heads = [n for n in nodes if str(n.kind) == "heading"]
    top = min((h.level for h in heads), default=0)
    own = [h for h in heads if any(str(c.kind) != "heading" for c in h.children)]
    with_body = [h for h in heads if h.children]
    heading = next((h for h in own if h.level > top), None) or (own or with_body or [None])[0]
    paras = [n for n in nodes if str(n.kind) == "paragraph"]
    paragraph = paras[len(paras) // 2] if paras else None
    multi = [p for p in paras if len(p.children) >= 2]
    sentence = None
    if multi:
        host = multi[len(multi) // 2]
        sentence = host.children[len(host.children) // 2]
    return {"heading": heading and heading.id, "paragraph": paragraph and paragraph.id,
            "sentence": sentence and sentence.id}


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")


def instruction_forms(text: str) -> instructions.Forms:
    """The instruction `instruct` is given, true of the span it rewrites: include its longest word (the first
    of equal length) and about as many words as it has (rounded to 5 above 20, as training writes it)."""
    words = _WORD.findall(text)
    longest = max(words, key=len) if words else None
    n = instructions.word_count(text)
    return instructions.Forms(include=[longest] if longest else [], words=(n if n <= 20 else 5 * round(n / 5)) or None)


def targets(action: str) -> tuple[str | None, ...]:
    if action in TARGETS:
        return TARGETS[action]
    kinds = [k for k in ACTIONS[action].node_kinds if k in ("heading", "paragraph", "sentence")]
    return (kinds[0],) if kinds else (None,)


def _tail(text: str, chars: int) -> str:
    """The end of `text` within `chars` characters, from a line start (else a word) when there is one."""
    if len(text) <= chars:
        return text
    cut = text[-chars:]
    nl = cut.find("\n")
    if 0 <= nl < len(cut) // 2:
        return cut[nl + 1:]
    sp = cut.find(" ")
    return "…" + cut[sp + 1:] if 0 <= sp < len(cut) // 2 else "…" + cut


def _head(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0] + " …"


# ---------------------------------------------------------------------------------------- running
def plan(doc: Document, name: str, config: SamplesConfig) -> list[Case]:
    """The cases of one document (no model needed): every action on its targets, the prompt and its limits."""
    picks, index = pick_nodes(doc), node_index(doc)
    md = doc.to_markdown()
    cases: list[Case] = []
    for action in ACTIONS:
        for target in targets(action):
            case = Case(name, action, target)
            cases.append(case)
            node_id = picks.get(target) if target else None
            if target and node_id is None:
                case.refused = f"this document has no {target} for the rule"
                continue
            if node_id is not None:
                case.node, case.label = index[node_id], doc.node(node_id).text.strip().split("\n")[0]
            entry = ACTIONS[action]
            try:
                span = outline_span(doc) if target is None else entry.span(doc, node_id)
                case.original = md[span.start:span.end]
                if entry.instruction == "required":
                    case.forms, case.forms_given = instruction_forms(case.original), True
                    case.instruction = instructions.canonical(case.forms)
                task = make_task(doc, node_id, action, case.instruction)
            except ActionRefused as exc:
                case.refused = str(exc)
                continue
            case.before = _tail(span.prefix, config.context_chars)
            if target is None:
                case.instruction = task.instruction  # the outline's premise (the document's title)
            case.task, case.prompt = task, build_prompt(task)
            case.prompt_bytes = len(case.prompt.data)
            case.max_bytes = min(case.prompt.max_bytes, config.caps.get(case.prompt.level, case.prompt.max_bytes))
    # the plain rewrite of instruct's paragraph is checked against the same forms: the model without them
    given = {c.target: c.forms for c in cases if c.forms_given}
    for c in cases:
        if c.action == "rewrite" and c.refused is None and given.get(c.target):
            c.forms = given[c.target]
    return cases


def run_case(engine: Engine, case: Case, config: SamplesConfig) -> None:
    """One candidate per seed for a planned case (a refused case is left as it is)."""
    if case.refused is not None:
        return
    task, prompt = case.task, case.prompt
    for seed in config.seeds:
        request = GenerationRequest(prompt.data, stop=prompt.stop, stop_after=prompt.stop_after,
                                    max_bytes=case.max_bytes, n=1, temperature=config.temperature,
                                    top_p=config.top_p, seed=seed)
        cand = engine.generate(request)[0]
        text = finish(task, cand.text)
        case.samples.append(Sample(seed, text, cand.text, cand.finish, cand.nbytes,
                                   instructions.satisfied(case.forms, text) if case.forms else None))


def collect(engine: Engine, config: SamplesConfig | None = None,
            on_case: Callable[[int, int, Case], None] | None = None) -> list[Case]:
    """Every case of every document, run on `engine`; `on_case(done, total, case)` after each one."""
    config = config or SamplesConfig()
    cases: list[Case] = []
    for doc_path in config.documents:
        path = Path(doc_path) if Path(doc_path).is_absolute() else config.root / doc_path
        cases += plan(Document.from_bytes(path.read_bytes()), str(doc_path), config)
    for i, case in enumerate(cases):
        run_case(engine, case, config)
        if on_case is not None:
            on_case(i + 1, len(cases), case)
    return cases


# ---------------------------------------------------------------------------------------- the report
def _fence(text: str, info: str = "text") -> str:
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, run + 1)
    return f"{ticks}{info}\n{text}\n{ticks}"


def header_line(info: EngineInfo) -> str:
    cfg = ", ".join(f"{k} {info.config[k]}" for k in ARCHITECTURE if k in info.config)
    return f"Model `{info.model}` ({info.params / 1e6:.1f} M parameters; {cfg}) · {info.backend} on {info.device}"


def _forms_line(sample: Sample) -> str:
    return ", ".join(f"{k} {'yes' if ok else 'no'}" for k, ok in sample.satisfied.items())


def _summary(cases: list[Case]) -> list[str]:
    rows = ["| action | target | refused | candidates | stop | length | empty | mean bytes | forms satisfied (all) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    keys = list(dict.fromkeys((c.action, c.target) for c in cases))
    for action, target in keys:
        group = [c for c in cases if (c.action, c.target) == (action, target)]
        samples = [s for c in group for s in c.samples]
        refused = sum(c.refused is not None for c in group)
        n = len(samples)
        stop = sum(s.finish == "stop" for s in samples)
        length = sum(s.finish == "length" for s in samples)
        empty = sum(not s.text.strip() for s in samples)
        mean = f"{sum(s.nbytes for s in samples) / n:.0f}" if n else "–"
        checked = [s for s in samples if s.satisfied]
        forms = f"{sum(all(s.satisfied.values()) for s in checked)}/{len(checked)}" if checked else "–"
        cells = [action, target or "document", refused, n, stop, length, empty, mean, forms]
        rows.append("| " + " | ".join(map(str, cells)) + " |")
    same, pairs = _unchanged_by_instruction(cases)
    if pairs:
        rows += ["", f"With the same seed, {same} of {pairs} `instruct` candidates are byte for byte the plain "
                 "`rewrite` of the same paragraph" + (": the instruction changed nothing there." if same else ".")]
    return rows


def _unchanged_by_instruction(cases: list[Case]) -> tuple[int, int]:
    """(instruct candidates equal to the plain rewrite's of the same node and seed, pairs compared)."""
    plain = {(c.document, c.node, s.seed): s.text for c in cases if c.action == "rewrite" and c.forms
             for s in c.samples}
    pairs = [(plain[(c.document, c.node, s.seed)], s.text) for c in cases if c.forms_given for s in c.samples
             if (c.document, c.node, s.seed) in plain]
    return sum(a == b for a, b in pairs), len(pairs)


def render(info: EngineInfo, cases: list[Case], config: SamplesConfig | None = None) -> str:
    """The Markdown report of collected cases (stable: the same cases give the same bytes)."""
    config = config or SamplesConfig()
    caps = ", ".join(f"{k} {v}" for k, v in config.caps.items())
    out = [f"# Samples: {info.model}", "", header_line(info), "",
           "Written by `scriba samples`: every writing action on a fixed set of documents and nodes (the rules: "
           "engine/samples.py), one candidate per seed (seeds " + ", ".join(map(str, config.seeds)) + "), "
           f"temperature {config.temperature}, top-p {config.top_p}, at most these many bytes per level: {caps}. "
           "Each candidate is shown as accepting it would insert it (after the stop rules); "
           "`scriba generate FILE --action A --node INDEX --n 1 --seed S --max-bytes B` writes it again. "
           "\"forms\": whether the candidate satisfies the trained instruction given to `instruct`; on the plain "
           "`rewrite` of the same paragraph the same check is the baseline (the instruction was not given).",
           "", "## Summary", "", *_summary(cases)]
    document = None
    for case in cases:
        if case.document != document:
            document = case.document
            out += ["", f"## {document}"]
        where = (f"node {case.node}: {_head(case.label, 60)}" if case.node is not None
                 else "no node" if case.target else "the whole document")
        out += ["", f"### {case.action} · {case.target or 'document'} · {where}", ""]
        if case.refused is not None:
            out.append(f"Refused: {case.refused}")
            continue
        out.append(f"Prompt {case.prompt_bytes} bytes · at most {case.max_bytes} bytes")
        if case.instruction is not None:
            given = "premise" if case.target is None else "instruction"
            out += ["", f"The {given}: `{case.instruction}`" if case.instruction.strip()
                    else f"The {given}: none (the document has no heading)"]
        elif case.forms:
            out += ["", f"Checked against (not given): `{instructions.canonical(case.forms)}`"]
        out += ["", "Before the span:", "", _fence(case.before.strip("\n") or "(the start of the document)")]
        if case.original:
            out += ["", "The span now:", "", _fence(_head(case.original, config.original_chars))]
        for s in case.samples:
            line = f"**seed {s.seed}** · {s.finish} · {s.nbytes} bytes"
            if s.satisfied:
                line += f" · forms: {_forms_line(s)}"
            out += ["", line, "", _fence(s.text if s.text.strip() else "(empty)")]
            if not s.text.strip() and s.raw.strip():
                out += ["", "What the model wrote (nothing of it is kept):", "", _fence(s.raw)]
    return "\n".join(out) + "\n"


def report(engine: Engine, config: SamplesConfig | None = None,
           on_case: Callable[[int, int, Case], None] | None = None) -> str:
    """The samples report of `engine` on the fixed set (`config`: the documents, seeds and caps)."""
    config = config or SamplesConfig()
    return render(engine.info(), collect(engine, config, on_case), config)
