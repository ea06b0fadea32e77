"""Instructions the model can learn: forms that can be derived from the corpus itself, honestly.

A free instruction ("make it punchier") names a change the corpus never shows, so the model cannot have
learnt it. These forms describe the NEW text only, so training can derive them from the span it is about
to write (the span is the answer, the form is true of it) and the model learns to follow them:

    include: W1, W2     the new text contains these words or phrases (taken from the original span)
    about N words       the new text has about N words (within 25 %, at least 3)
    start: W            the new text starts with these words
    list | prose        the new text is a bulleted/numbered list, or has no list line (sections)

In the byte layout (engine.tasks) an instruction made only of these forms goes in the INSTRUCTION field in
its canonical spelling (`canonical`), forms joined by "; ", in this order, and WITHOUT the old text: exactly
as training writes it. `parse` reads what a writer types (the canonical spelling, and a few plain
variants: "must contain X", "around 40 words", "begins with W", "as a list"); anything it cannot read
makes the instruction free text, which goes to the model with the old text (trained only through the
writer's accepted revisions, `--from-history`). `satisfied` checks a candidate against the forms (the
instruction eval, engine/evaluate.py). No torch here.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

FORMS = ("include", "length", "start", "form")
# what the writer is told (the instruct dialog, the registry's help)
HELP = "include: W1, W2 · about N words · start: W · list | prose (separate with ;)"
LEVEL_FORMS = {  # the forms each span level trains
    "sentence": ("include", "length", "start"),
    "paragraph": ("include", "length", "start"),
    "section": ("include", "length", "start", "form"),
}

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
_LIST_LINE = re.compile(r"^\s{0,3}(?:[-*+]|\d{1,9}[.)])[ \t]+\S", re.M)
_MARKER = re.compile(r"^\s*(?:#{1,6}[ \t]+|[-*+][ \t]+|\d{1,9}[.)][ \t]+|>[ \t]?)")
_STOP = frozenset("""a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how however i if in into is it its itself just let may me might
more most must my myself no nor not now of off on once one only or other our ours ourselves out over own same
shall she should so some such than that the their theirs them themselves then there these they this those
through thus to too under until up upon us very was we were what when where which while who whom why will with
within without would yet you your yours yourself""".split())


@dataclass
class Forms:
    """An instruction made only of understood forms (every field optional)."""

    include: list[str] = field(default_factory=list)
    words: int | None = None  # about this many words
    start: str | None = None
    form: str | None = None  # "list" | "prose"

    def __bool__(self) -> bool:
        return bool(self.include or self.words or self.start or self.form)

    def names(self) -> list[str]:
        return [n for n, on in zip(FORMS, (self.include, self.words, self.start, self.form)) if on]


def canonical(forms: Forms) -> str:
    """The one spelling training writes and inference sends (forms in FORMS order, joined by "; ")."""
    parts = []
    if forms.include:
        parts.append("include: " + ", ".join(forms.include))
    if forms.words:
        parts.append(f"about {forms.words} words")
    if forms.start:
        parts.append("start: " + forms.start)
    if forms.form:
        parts.append(forms.form)
    return "; ".join(parts)


_PARSERS = [
    ("include", re.compile(r"^(?:include|includes|including|contain|contains|containing|mention|mentions|use|uses"
                           r"|must (?:contain|include|mention|use)|with the (?:words?|phrases?))\s*:?\s+(.+)$", re.I)),
    ("length", re.compile(r"^(?:length\s*:?\s*)?(?:about|around|roughly|approximately|~)?\s*(\d{1,4})\s+words?$",
                          re.I)),
    ("start", re.compile(r"^(?:start|starts|starting|begin|begins|beginning|open|opens)\s*(?:with)?\s*:?\s+(.+)$",
                         re.I)),
    ("form", re.compile(r"^(?:form\s*:?\s*)?(?:as\s+)?(?:an?\s+)?"
                        r"(list|bulleted list|bullet list|bullets|prose|no list)$", re.I)),
]


def parse(instruction: str | None) -> Forms | None:
    """The forms of an instruction, or None when any part of it is not an understood form (free text)."""
    if not instruction or not instruction.strip():
        return None
    forms = Forms()
    for part in re.split(r"[;\n]+", instruction):
        part = part.strip().rstrip(".")
        if not part:
            continue
        found = next(((name, m) for name, rx in _PARSERS if (m := rx.match(part))), None)
        if found is None:
            return None
        name, m = found
        value = m.group(1).strip()
        if name == "include":
            words = [w.strip().strip("\"'“”") for w in re.split(r",|\band\b", value)]
            forms.include += [w for w in words if w]
            if not forms.include:
                return None
        elif name == "length":
            forms.words = int(value)
            if not 1 <= forms.words <= 2000:
                return None
        elif name == "start":
            forms.start = value.strip("\"'“”")
        else:
            forms.form = "prose" if value.lower() in ("prose", "no list") else "list"
    return forms or None


def word_count(text: str) -> int:
    return len(_WORD.findall(_MARKER.sub("", text)))


def _contains(text: str, phrase: str) -> bool:
    return re.search(r"(?<![A-Za-z0-9])" + re.escape(phrase.lower()) + r"(?![A-Za-z0-9])", text.lower()) is not None


def _starts(text: str, start: str) -> bool:
    body = " ".join(_MARKER.sub("", text.lstrip()).split())
    return body.lower().startswith(" ".join(start.split()).lower())


def satisfied(forms: Forms, text: str) -> dict[str, bool]:
    """form name -> whether `text` satisfies it (only the forms the instruction has)."""
    out = {}
    if forms.include:
        out["include"] = all(_contains(text, p) for p in forms.include)
    if forms.words:
        out["length"] = abs(word_count(text) - forms.words) <= max(3, round(0.25 * forms.words))
    if forms.start:
        out["start"] = _starts(text, forms.start)
    if forms.form:
        out["form"] = (_LIST_LINE.search(text) is not None) == (forms.form == "list")
    return out


def derive(rng: random.Random, middle: str, level: str) -> Forms | None:
    """Forms that are true of `middle` (the span training will write), a random one to three of those that
    apply at `level`; None when none applies (too short a span)."""
    names = [n for n in LEVEL_FORMS.get(level, ()) if n != "form" or "\n" in middle or level == "section"]
    words = _WORD.findall(_MARKER.sub("", middle))
    if len(words) < 3:
        return None
    rng.shuffle(names)
    forms = Forms()
    for name in names[:rng.randint(1, min(3, len(names)))]:
        if name == "include":
            content = list(dict.fromkeys(w for w in words if len(w) >= 4 and w.lower() not in _STOP))
            if content:
                forms.include = rng.sample(content, min(len(content), rng.randint(1, 3)))
        elif name == "length":
            n = word_count(middle)
            forms.words = n if n <= 20 else 5 * round(n / 5)
        elif name == "start":
            m = re.match(r"\S+(?:\s+\S+){0,%d}" % rng.randint(0, 3), " ".join(_MARKER.sub("", middle.lstrip()).split()))
            forms.start = m.group(0).split(";")[0].strip() or None if m else None
        else:
            forms.form = "list" if _LIST_LINE.search(middle) else "prose"
    return forms or None
