"""Small text helpers shared by the panels: times, revision rows, word diffs, speeds."""

from __future__ import annotations

import difflib
import re
from datetime import datetime, timezone

from rich.text import Text

FROZEN_TIME: str | None = None  # tests set this so snapshots never show a clock


def format_time(when: datetime | None) -> str:
    if FROZEN_TIME is not None:
        return FROZEN_TIME
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    local = when.astimezone()
    today = datetime.now().astimezone().date()
    return local.strftime("%H:%M:%S" if local.date() == today else "%Y-%m-%d %H:%M")


AUTHOR_STYLE = {"writer": "bold green", "model": "bold magenta", "external": "bold yellow", "import": "bold cyan"}


def revision_row(rev, preview_chars: int = 16) -> Text:
    """One history line: id, who, what, when, and the start of the text."""
    effect = getattr(rev, "effect", "edit")
    what = rev.operation if effect in ("edit", "insert") or rev.operation == effect else f"{rev.operation}/{effect}"
    preview = " ".join((rev.text or "").split())
    preview = preview if len(preview) <= preview_chars else preview[: preview_chars - 1] + "…"
    return Text.assemble(
        (f"#{rev.id:<4} ", "dim"), (f"{rev.author:<8} ", AUTHOR_STYLE.get(rev.author, "")),
        (f"{what[:13]:<13} ", ""), (f"{format_time(rev.created_at):>8} ", "dim"), (preview, "italic"),
    )


def change_set_row(revisions) -> Text:
    """One time-travel line: a change set (revisions sharing a change id)."""
    first = revisions[0]
    nodes = len(revisions)
    return Text.assemble(
        (f"#{max(r.id for r in revisions):<5}", "dim"), (f"{first.author:<9}", AUTHOR_STYLE.get(first.author, "")),
        (f"{first.operation:<10}", ""), (f"{nodes:>3} node{'s' if nodes != 1 else ' '} ", "dim"),
        (format_time(first.created_at), "dim"),
    )


_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


def word_diff(old: str, new: str) -> Text:
    """`old` → `new` as one text: removed words red and struck through, added words green."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    out = Text()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append("".join(a[i1:i2]))
            continue
        if op in ("delete", "replace"):
            out.append("".join(a[i1:i2]), style="bold red strike")
        if op in ("insert", "replace"):
            out.append("".join(b[j1:j2]), style="bold green underline")
    return out


def line_diff(old: str, new: str, old_name: str = "revision", new_name: str = "now") -> Text:
    """A unified diff, coloured (used for long texts, where a word diff would be hard to read)."""
    out = Text()
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=2):
        style = ("bold" if line.startswith(("---", "+++")) else "cyan" if line.startswith("@@")
                 else "red" if line.startswith("-") else "green" if line.startswith("+") else "")
        out.append(line + "\n", style=style)
    return out or Text("(no difference)", style="dim")


def diff(old: str, new: str) -> Text:
    if old == new:
        return Text("(the same as now)", style="dim")
    if old.count("\n") + new.count("\n") > 6:
        return line_diff(old, new)
    return word_diff(old, new)


def speed(nbytes: int, seconds: float) -> float:
    return nbytes / seconds if seconds > 0 else 0.0
