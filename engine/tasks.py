"""Writing actions as bytes: THE single definition of each action's byte layout.

Every action is fill-in-the-middle on the document's Markdown, with the span aligned to a node
(DESIGN.md, "Writing actions as bytes"). Training examples (engine/examples.py) and inference prompts
(engine/actions.py make_task, for the editor and the CLI) are both built here, so the two cannot drift apart.

Layout (control bytes from engine.bytes; text is UTF-8, which never contains a control byte):

    PSM:  BOS TASK tag FIM_PREFIX prefix FIM_SUFFIX suffix [OLD old] [INSTRUCTION instr] FIM_MIDDLE
    SPM:  BOS TASK tag FIM_SUFFIX suffix FIM_PREFIX prefix [SUFFIX_HEAD head] [OLD old] [INSTRUCTION instr]
          FIM_MIDDLE
    continue (plain left to right, exactly like a training window):  BOS prefix

What the middle must follow sits right before it: a recurrent state remembers recent bytes best, and
with 6 KB of prefix between them, an instruction or a suffix read first was forgotten (v3: instructions
had no effect, and in SPM the suffix saved 0.001 bits per byte of a paragraph). So the old text and the
instruction come last, and SPM repeats the suffix's first line (`suffix_head`) after the prefix.

then the model writes the middle and EOS. `tag` is ASCII "action:level", plus ":N" (the heading level)
for the heading and section levels, e.g. b"rewrite:sentence", b"expand:section:2",
b"summarise:heading:3", b"outline:document".

Spans are "aligned": the middle carries no leading or trailing whitespace (it stays in the prefix
and suffix), so a sentence is its text without the space after it, a heading is its line without
the newline, a section body starts at its first non-blank character (the prefix ends with the heading
line and the blank line after it) and ends at its last one. `align` makes that so for any span.

Long contexts are trimmed to byte budgets by `fit`: the prefix keeps its end, the suffix its start,
both cut at line (else word, else UTF-8 character) boundaries, and the prefix keeps the heading path
above the span (the chain of enclosing headings) even when the headings themselves were cut away.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import StrEnum

from engine.bytes import (
    BOS,
    CONTROL_BYTES,
    EOS,
    FIM_MIDDLE,
    FIM_PREFIX,
    FIM_SUFFIX,
    INSTRUCTION,
    OLD,
    SUFFIX_HEAD,
    TASK,
)
from engine.document.segment import split_sentences


class Action(StrEnum):
    EXPAND = "expand"
    REWRITE = "rewrite"
    SUMMARISE = "summarise"
    CONTINUE = "continue"
    OUTLINE = "outline"


LEVELS = ("sentence", "paragraph", "heading", "section", "document")
ORDERS = ("psm", "spm")

# Which levels each action works at (the first one is the default).
ACTION_LEVELS: dict[Action, tuple[str, ...]] = {
    Action.REWRITE: ("sentence", "paragraph"),  # a heading is rewritten as summarise:heading
    Action.EXPAND: ("section",),
    Action.SUMMARISE: ("heading",),
    Action.CONTINUE: ("paragraph",),  # up to one paragraph after the cursor (see stop_rule)
    Action.OUTLINE: ("document",),
}

# Generation length limits per level (bytes; the document level: a few paragraphs, ~20 s on a 2-core CPU)
MAX_BYTES = {"sentence": 600, "paragraph": 2048, "heading": 120, "section": 2048, "document": 3072}
HEADING_MAX_CHARS = 100  # a longer title is a sentence, not a heading: cut back to the last whole word
CONTINUE_MAX_BYTES = 1024

# Default context budgets for inference prompts (bytes). Training uses budgets up to its seq_len.
PREFIX_BUDGET = 6144
SUFFIX_BUDGET = 2048
SUFFIX_HEAD_BYTES = 160  # the suffix's first line, repeated next to the span in SPM, is cut to this


@dataclass
class Task:
    action: Action
    level: str  # "sentence" | "paragraph" | "heading" | "section" | "document"
    prefix: str
    suffix: str
    old: str | None = None
    instruction: str | None = None
    heading_level: int = 0  # heading / section level: the number of '#'

    def __post_init__(self) -> None:
        self.action = Action(self.action)
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r} (one of {', '.join(LEVELS)})")
        if not 0 <= self.heading_level <= 6:
            raise ValueError(f"heading_level must be 0-6, got {self.heading_level}")

    @property
    def tag(self) -> str:
        t = f"{self.action.value}:{self.level}"
        if self.level in ("heading", "section") and self.heading_level:
            t += f":{self.heading_level}"
        return t


@dataclass
class Prompt:
    data: bytes  # what the model reads (BOS included); it writes the middle after it
    stop: list[bytes]  # stop at any of these (EOS always among them); the stop itself is not kept
    max_bytes: int
    level: str
    stop_after: list[bytes] = field(default_factory=list)  # stop once the text ends with one of these (kept)


class TaskFormatError(ValueError):
    """Bytes that are not a prompt / training example of this layout."""


# ---------------------------------------------------------------------------------------- layout
def _text(s: str) -> bytes:
    data = s.encode("utf-8")  # raises on lone surrogates: such text cannot be written as bytes
    return data


def suffix_head(suffix: str) -> str:
    """The start of the suffix that SPM reads again right before the middle: its leading whitespace (which
    says whether the span ends its paragraph) and its first line with text, at most SUFFIX_HEAD_BYTES, cut at
    a word. '' when the suffix has no text."""
    body = suffix.lstrip()
    if not body:
        return ""
    head = suffix[: len(suffix) - len(body)] + body.split("\n", 1)[0]
    return trim_suffix(head, SUFFIX_HEAD_BYTES)


def build_prompt(task: Task, order: str = "spm") -> Prompt:
    """The bytes the model reads before writing the span, with its stop rule and length limit.
    Inference uses suffix-prefix-middle by default: a recurrent model remembers recent bytes best, and in
    that order the bytes right before the span are the text the span continues (in prefix-suffix-middle
    they are the end of the suffix, and candidates for different spans began alike). Training uses both."""
    if order not in ORDERS:
        raise ValueError(f"order must be 'psm' or 'spm', got {order!r}")
    if task.action == Action.CONTINUE:
        data = bytes([BOS]) + _text(task.prefix)
    else:
        parts = [bytes([BOS, TASK]), task.tag.encode("ascii")]
        pre = bytes([FIM_PREFIX]) + _text(task.prefix)
        suf = bytes([FIM_SUFFIX]) + _text(task.suffix)
        parts += [pre, suf] if order == "psm" else [suf, pre]
        head = suffix_head(task.suffix) if order == "spm" else ""
        if head:
            parts += [bytes([SUFFIX_HEAD]), _text(head)]
        if task.old is not None:
            parts += [bytes([OLD]), _text(task.old)]
        if task.instruction is not None:
            parts += [bytes([INSTRUCTION]), _text(task.instruction)]
        parts.append(bytes([FIM_MIDDLE]))
        data = b"".join(parts)
    return Prompt(data, stop_rule(task), max_bytes_for(task), task.level, stop_after_rule(task))


def build_example(task: Task, middle: str, order: str = "psm") -> bytes:
    """A training example: exactly the inference prompt, then the span, then EOS."""
    return build_prompt(task, order).data + _text(middle) + bytes([EOS])


def parse_example(data: bytes) -> tuple[Task, str, str | None]:
    """Inverse of build_prompt / build_example: (task, order, middle or None for a bare prompt).
    A continue prompt (BOS + text) parses as Task(CONTINUE, "paragraph", prefix=text) and middle None (in a
    continue example, BOS + text + EOS, the prefix and the middle cannot be told apart: all is prefix)."""
    if not data or data[0] != BOS:
        raise TaskFormatError("does not start with BOS")
    if len(data) == 1 or data[1] != TASK:
        body = data[1:]
        if body.endswith(bytes([EOS])):  # a continue example: prefix and middle cannot be told apart
            body = body[:-1]
        if any(b in CONTROL_BYTES for b in body):
            raise TaskFormatError("control byte inside a plain (continue) prompt")
        return Task(Action.CONTINUE, "paragraph", _decode(body), ""), "psm", None
    # split into (control byte, payload) fields
    fields: list[tuple[int, bytes]] = []
    i = 1
    while i < len(data):
        ctl = data[i]
        if ctl not in CONTROL_BYTES:
            raise TaskFormatError(f"expected a control byte at {i}")
        j = i + 1
        if ctl == FIM_MIDDLE:  # the rest is the middle (and EOS)
            fields.append((ctl, data[j:]))
            break
        while j < len(data) and data[j] not in CONTROL_BYTES:
            j += 1
        fields.append((ctl, data[i + 1:j]))
        i = j
    kinds = [c for c, _ in fields]
    if kinds[0] != TASK or kinds[-1] != FIM_MIDDLE:
        raise TaskFormatError("needs TASK first and FIM_MIDDLE last")
    vals = dict(fields)
    if len(vals) != len(fields):
        raise TaskFormatError("a field appears twice")
    core, extras = kinds[1:3], kinds[3:-1]
    if sorted(core) != [FIM_PREFIX, FIM_SUFFIX]:
        raise TaskFormatError("needs FIM_PREFIX and FIM_SUFFIX right after the tag")
    order = "psm" if core[0] == FIM_PREFIX else "spm"
    known = [SUFFIX_HEAD, OLD, INSTRUCTION] if order == "spm" else [OLD, INSTRUCTION]
    if extras != [c for c in known if c in extras]:
        raise TaskFormatError(f"unexpected fields {extras} before FIM_MIDDLE")
    task = _parse_tag(vals[TASK])
    task.prefix, task.suffix = _decode(vals[FIM_PREFIX]), _decode(vals[FIM_SUFFIX])
    task.old = _decode(vals[OLD]) if OLD in vals else None
    task.instruction = _decode(vals[INSTRUCTION]) if INSTRUCTION in vals else None
    head = suffix_head(task.suffix) if order == "spm" else ""
    if _decode(vals.get(SUFFIX_HEAD, b"")) != head:  # missing where the suffix has text, or not its head
        raise TaskFormatError("the SPM suffix head must be the suffix's first line (engine.tasks.suffix_head)")
    rest = vals[FIM_MIDDLE]
    middle = None
    if rest:
        if rest[-1] != EOS or any(b in CONTROL_BYTES for b in rest[:-1]):
            raise TaskFormatError("the middle must be text ended by EOS")
        middle = _decode(rest[:-1])
    return task, order, middle


def parse(data: bytes) -> Task:
    """The task a prompt (or training example) was built from."""
    return parse_example(data)[0]


def _decode(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TaskFormatError(f"invalid UTF-8: {exc}") from exc


def _parse_tag(raw: bytes) -> Task:
    try:
        parts = raw.decode("ascii").split(":")
        action = Action(parts[0])
        level = parts[1]
        hl = int(parts[2]) if len(parts) == 3 else 0
        if len(parts) not in (2, 3) or (len(parts) == 3 and level not in ("heading", "section")):
            raise ValueError
        return Task(action, level, "", "", heading_level=hl)
    except (UnicodeDecodeError, ValueError, IndexError) as exc:
        raise TaskFormatError(f"bad task tag {raw!r}") from exc


# ---------------------------------------------------------------------------------------- stop rules
def stop_rule(task: Task) -> list[bytes]:
    """Where generation of this task's span ends (besides EOS). The matched stop is not part of the output.
    heading: the end of the line; sentence, paragraph, continue: a blank line (a sentence of a hard-wrapped
    paragraph spans lines); section body: the next heading of the same or a higher level; outline: EOS only."""
    stops = [bytes([EOS])]
    if task.action == Action.CONTINUE or task.level in ("paragraph", "sentence"):
        stops.append(b"\n\n")
    elif task.level == "heading":
        stops.append(b"\n")
    elif task.level == "section":
        top = task.heading_level or 6
        stops += [b"\n" + b"#" * k + b" " for k in range(1, top + 1)]
    return stops


# A sentence ends at terminal punctuation (and a closing quote) followed by a space or a line end.
SENTENCE_ENDS = [f"{p}{q}{w}".encode("utf-8") for p in ".?!" for q in ("", '"', "\u201d", "'", "\u2019", ")")
                 for w in (" ", "\n")]


def stop_after_rule(task: Task) -> list[bytes]:
    """Where generation may also end, keeping the matched text: a rewritten sentence ends after its first
    sentence end. A model should write EOS there; a small one often runs on into the next sentence, and
    `finish` would throw that away anyway, so this only saves time."""
    if task.action != Action.CONTINUE and task.level == "sentence":
        return list(SENTENCE_ENDS)
    return []


def max_bytes_for(task: Task) -> int:
    if task.action == Action.CONTINUE:
        return CONTINUE_MAX_BYTES
    limit = MAX_BYTES[task.level]
    if task.old:
        limit = max(limit, 3 * len(task.old.encode("utf-8")))
    return limit


# ---------------------------------------------------------------------------------------- finishing
_HEADING_LINE = re.compile(r"^(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_BLOCK_MARKER = re.compile(r"^(?:#{1,6}[ \t]+|[-*+][ \t]+|\d{1,9}[.)][ \t]+|>[ \t]?)")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def finish(task: Task, generated: str) -> str:
    """Clean the model's text into exactly what replaces the span ('' when nothing usable came out):
    sentence: one sentence, one line, no surrounding whitespace; paragraph: one paragraph (one line, no
    block marker); heading: one line of exactly `heading_level` '#' and a title; section: the body up to
    the next heading of the same or a higher level; continue: up to one paragraph (starting with a space
    when it continues a sentence in the middle of a line); outline: heading lines only."""
    text = _CONTROL_CHARS.sub("", generated.replace("\r\n", "\n").replace("\t", " "))
    for stop in stop_rule(task):
        if len(stop) == 1 and stop[0] in CONTROL_BYTES:
            continue
        cut = text.find(stop.decode("utf-8"))
        if cut >= 0:
            text = text[:cut]
    if task.action == Action.CONTINUE:
        inline = bool(task.prefix) and not task.prefix.endswith("\n")
        text = " ".join(text.split("\n")).strip() if inline else text.strip()
        if not text:
            return ""
        if inline:
            return ("" if task.prefix[-1].isspace() else " ") + text
        return text
    level = task.level
    if level == "sentence":
        text = _BLOCK_MARKER.sub("", " ".join(text.split()).strip())
        sentences = [s for s, _ in split_sentences(text) if s.strip()]
        return sentences[0] if sentences else ""
    if level == "paragraph":
        text = " ".join(text.split())
        return _BLOCK_MARKER.sub("", text).strip()
    if level == "heading":
        cut_off = "\n" not in text and len(generated.encode("utf-8")) >= max_bytes_for(task)
        line = text.strip().split("\n", 1)[0] if text.strip() else ""
        m = _HEADING_LINE.match(line.strip())
        title = (m.group(2) or "") if m else line
        title = " ".join(title.strip().strip("#").split())
        if cut_off or len(title) > HEADING_MAX_CHARS:  # a run-on sentence, not a title: its first clause or nothing
            title = _first_clause(title)
        title = title.rstrip(" ,;:-").removesuffix(".").rstrip()
        if not title:
            return ""
        hashes = task.heading_level or (len(m.group(1)) if m else 2)
        return "#" * hashes + " " + title
    if level == "section":
        top = task.heading_level or 6
        out = []
        for line in text.split("\n"):
            m = _HEADING_LINE.match(line)
            if m and len(m.group(1)) <= top and (m.group(2) or "").strip():
                break
            out.append(line)
        body = "\n".join(out).strip("\n").rstrip()
        return re.sub(r"\n{3,}", "\n\n", body).lstrip()
    if level == "document":  # outline
        lines = []
        if len(generated.encode("utf-8")) >= max_bytes_for(task) and not text.endswith("\n"):
            text = text.rsplit("\n", 1)[0] if "\n" in text else ""  # the length limit cut its last line
        for line in text.split("\n"):
            m = _HEADING_LINE.match(line.strip())
            if m and (m.group(2) or "").strip():
                lines.append(m.group(1) + " " + " ".join(m.group(2).split()))
        return "\n".join(lines)
    raise AssertionError(level)


_CLAUSE_END = re.compile(r"[.!?](?=\s)|[,;:](?=\s)|\s[-\u2013\u2014]\s|\s\(")


def _first_clause(title: str) -> str:
    """The text before the first sentence or clause break of a title that ran on, when that is a title of at
    least two words within HEADING_MAX_CHARS; else '' (a heading cut mid-sentence is no heading)."""
    m = _CLAUSE_END.search(title)
    head = title[: m.start()].strip() if m else ""
    return head if len(head.split()) >= 2 and len(head) <= HEADING_MAX_CHARS else ""


# ---------------------------------------------------------------------------------------- spans and budgets
def align(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) of text so it neither starts nor ends with whitespace (an empty span stays put)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_HEADING_AT = re.compile(r"#{1,6}(?=[ \t]|$)")


def _heading_at(text: str, pos: int) -> tuple[int, str, int] | None:
    """(level, line, line end) when the line starting at pos is an ATX heading with a title."""
    m = _HEADING_AT.match(text, pos)
    if not m:
        return None
    nl = text.find("\n", pos)
    line_end = len(text) if nl < 0 else nl
    line = text[pos:line_end].rstrip()
    if not line[m.end() - pos:].strip():
        return None
    return m.end() - pos, line, line_end


def heading_path(text: str, end: int | None = None) -> list[str]:
    """The heading lines enclosing position `end` of text (default: its end), outermost first: the nearest
    heading line that lies wholly before `end`, then the nearest one of a higher level before that, ..."""
    end = len(text) if end is None else end
    path: list[str] = []
    need = 7  # the next heading found must have a level below this
    pos = end
    while need > 1 and pos > 0:
        nl = text.rfind("\n#", 0, pos)
        start = nl + 1 if nl >= 0 else 0
        hit = _heading_at(text, start)
        if hit and hit[0] < need and hit[2] <= end:
            path.append(hit[1])
            need = hit[0]
        if nl < 0:
            break
        pos = nl
    return path[::-1]


def _utf8_floor(data: bytes, i: int) -> int:
    """Largest j <= i that is the start of a character (or len)."""
    while 0 < i < len(data) and (data[i] & 0xC0) == 0x80:
        i -= 1
    return i


def trim_suffix(text: str, budget: int) -> str:
    """Keep the start of text within `budget` UTF-8 bytes, cut at a line boundary (else a word, else a
    character boundary)."""
    data = text[: budget + 1].encode("utf-8")
    if len(data) <= budget and len(text) <= budget:
        return text
    if budget <= 0:
        return ""
    cut = _utf8_floor(data, budget)
    head = data[:cut].decode("utf-8")
    nl = head.rfind("\n")
    if nl >= len(head) // 2:
        return head[: nl + 1]
    sp = head.rfind(" ")
    if sp >= len(head) // 2:
        return head[: sp + 1]
    return head


def _trim_tail(text: str, budget: int) -> tuple[str, int]:
    """The end of text within budget bytes, starting at a line (else word, else character) boundary;
    returns (tail, index in text where it starts)."""
    if budget <= 0:
        return "", len(text)
    window = text[-budget:] if budget < len(text) else text  # >= budget bytes (or all of text)
    data = window.encode("utf-8")
    if len(data) <= budget and len(window) == len(text):
        return text, 0
    cut = max(0, len(data) - budget)
    while cut < len(data) and (data[cut] & 0xC0) == 0x80:
        cut += 1
    tail = data[cut:].decode("utf-8")
    start = len(text) - len(tail)
    if start > 0 and text[start - 1] != "\n":
        nl = tail.find("\n")
        if 0 <= nl < len(tail) // 2:
            return tail[nl + 1:], start + nl + 1
        sp = tail.find(" ")
        if 0 <= sp < min(200, len(tail) // 2):
            return tail[sp + 1:], start + sp + 1
    return tail, start


def trim_prefix(text: str, budget: int) -> str:
    """Keep the end of text within `budget` UTF-8 bytes, cut at a line (else word, else character)
    boundary, and put the heading path of the cut-away part back in front (one heading line and a blank
    line each), innermost headings first to be kept when the budget is tight."""
    if len(text) <= budget and len(text.encode("utf-8")) <= budget:
        return text
    if budget <= 0:
        return ""
    tail, start = _trim_tail(text, budget)
    for _ in range(8):
        path = heading_path(text, start)
        head = ""
        for i in range(len(path)):  # drop outer headings until the path leaves room for some text
            cand = "".join(line + "\n\n" for line in path[i:])
            if len(cand.encode("utf-8")) <= budget // 2:
                head = cand
                break
        room = budget - len(head.encode("utf-8"))
        if len(tail.encode("utf-8")) <= room:
            return head + tail
        tail, start = _trim_tail(text, room)
    return tail  # pragma: no cover - the loop converges in practice


def fit(task: Task, prefix_budget: int = PREFIX_BUDGET, suffix_budget: int = SUFFIX_BUDGET) -> Task:
    """The task with its prefix and suffix trimmed to byte budgets (see trim_prefix / trim_suffix)."""
    return dataclasses.replace(task, prefix=trim_prefix(task.prefix, prefix_budget),
                               suffix=trim_suffix(task.suffix, suffix_budget))
