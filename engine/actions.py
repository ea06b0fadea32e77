"""Writing actions: THE registry, and each action's span rule and apply rule on the document tree.

An action is one `WritingAction` entry in `ACTIONS`. Everything that lists actions derives from it:
the TUI's keys, the command palette, the candidates hint, `scriba generate --action`, the store's
operations and the training mixture's example kinds. The span rule says which bytes of the document's
Markdown the middle replaces, for a node of the tree; the editor (through `make_task`) and training
(engine.spans, which picks each node and calls the same rule) both cut spans with it, so the model trains
on exactly the spans the editor asks for. The byte layout of the prompt is engine.tasks'.

The spans (DESIGN.md, "Writing actions as bytes"):
  rewrite    a sentence or a paragraph (a heading is rewritten as summarise)
  summarise  the heading line of the section the node is in (the node itself when it is a heading)
  expand     the body of that section; "add to the section" (WritingAction.add_span / add): new text after
             the section's own text, before its first subsection, nothing removed
  continue   new text right after the node: after a sentence it goes on in the same paragraph; after a
             paragraph, heading or block it is a new paragraph (no node: after the document)
  outline    heading lines only, from a premise (the instruction) and the headings there are already
The old text goes into the prompt only with a free-text instruction (a rewrite "as asked", trained only on
the writer's accepted revisions); without one, the span is simply filled in again from its context, exactly
as in training. An instruction made of the trained forms (engine.instructions: words to include, a length,
opening words, list or prose) goes in canonically and without the old text, as training writes it. No torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from engine import instructions
from engine.document import Document
from engine.tasks import PREFIX_BUDGET, SUFFIX_BUDGET, Action, Task, align, fit


class ActionRefused(ValueError):
    """This action cannot be applied to that node (one-line message)."""


@dataclass(frozen=True)
class Span:
    """What an action's middle replaces: `markdown[start:end]` (aligned: no surrounding whitespace), and the
    whole prefix and suffix the prompt is cut from. Those are `markdown[:start]` and `markdown[end:]`, sliced
    only when asked (training lists every span of whole books), except where the span is new text (the body
    of an empty section, a continuation, an outline): then `new_prefix` / `new_suffix` say what they are."""

    level: str  # engine.tasks.LEVELS
    start: int
    end: int
    markdown: str = field(default="", repr=False)  # the document's Markdown (shared, never copied)
    heading_level: int = 0
    node_id: str | None = None  # the node the span is aligned to (a heading for summarise and expand)
    new_prefix: str | None = None
    new_suffix: str | None = None

    @property
    def prefix(self) -> str:
        return self.markdown[:self.start] if self.new_prefix is None else self.new_prefix

    @property
    def suffix(self) -> str:
        return self.markdown[self.end:] if self.new_suffix is None else self.new_suffix


@dataclass(frozen=True)
class WritingAction:
    """One writing action, everything the layers above need to know about it."""

    name: str  # the command name (CLI --action, TUI action, palette); most are the byte tag's action
    action: Action  # the byte tag (engine.tasks) and the store's operation
    key: str  # the outline key
    title: str  # the command palette's and the footer's title
    help: str  # one line: what it does
    node_kinds: tuple[str, ...]  # kinds of node it applies to; () = the whole document (no node needed)
    instruction: str  # "never" | "optional" | "required": whether it takes / asks the writer for an instruction
    prompt: tuple[str, str] = ("", "")  # (title, placeholder) of the instruction dialog
    example_kinds: tuple[str, ...] = ()  # the training mixture's kinds that cut this action's spans
    span: Callable[[Document, str | None], Span] | None = None
    apply: Callable[[Document, str | None, str], None] | None = None
    # the "add" variant (expand: add to the section instead of replacing its body); None: none
    add_span: Callable[[Document, str | None], Span] | None = None
    add: Callable[[Document, str | None, str], None] | None = None

    @property
    def needs_node(self) -> bool:
        return bool(self.node_kinds) and self.name != "continue"


# ---------------------------------------------------------------------------------------- span rules
def section_heading(doc: Document, node_id: str):
    """The node itself when it is a heading, else the nearest heading before it (its section's heading)."""
    node = doc.node(node_id)
    if str(node.kind) == "heading":
        return node
    last = None
    for n in doc.walk():
        if n.id == node_id:
            break
        if str(n.kind) == "heading":
            last = n
    if last is None:
        raise ActionRefused("this node is not in a section (there is no heading before it)")
    return last


def aligned(doc: Document, md: str, node_id: str, part: str = "node") -> tuple[int, int]:
    s, e = doc.span(node_id, part)
    return align(md, s, e)


def _block_end(md: str) -> str:
    """The document as a prefix for a new paragraph at its end."""
    body = md.rstrip()
    return body + "\n\n" if body else ""


def rewrite_span(doc: Document, node_id: str | None) -> Span:
    kind = str(doc.node(node_id).kind)
    if kind == "heading":
        return summarise_span(doc, node_id)
    if kind not in ("sentence", "paragraph"):
        raise ActionRefused(f"cannot rewrite a {kind} node (sentences, paragraphs and headings only)")
    md = doc.to_markdown()
    s, e = aligned(doc, md, node_id)
    return Span(kind, s, e, md, node_id=node_id)


def summarise_span(doc: Document, node_id: str | None) -> Span:
    head = section_heading(doc, node_id)
    md = doc.to_markdown()
    s, e = aligned(doc, md, head.id)
    return Span("heading", s, e, md, head.level, head.id)


def expand_span(doc: Document, node_id: str | None) -> Span:
    head = section_heading(doc, node_id)
    md = doc.to_markdown()
    _, he = aligned(doc, md, head.id)
    bs, be = doc.span(head.id, "body")
    s, e = align(md, max(bs, he), be)
    if s < e:
        return Span("section", s, e, md, head.level, head.id)
    rest = md[he:].lstrip("\n")  # an empty section: the body goes after the heading line and a blank line
    return Span("section", he, he, md, head.level, head.id, new_prefix=md[:he] + "\n\n",
                new_suffix=("\n\n" + rest) if rest else "\n")


def _own_text_end(doc: Document, md: str, head) -> int:
    """Where new text added to `head`'s section goes: after the section's own text (its paragraphs and
    blocks), before its first subsection; right after the heading line when it has no text of its own."""
    _, he = aligned(doc, md, head.id)
    bs, be = doc.span(head.id, "body")
    sub = next((c for c in head.children if str(c.kind) == "heading"), None)
    s, e = align(md, max(bs, he), doc.span(sub.id)[0] if sub is not None else be)
    return e if s < e else he


def expand_add_span(doc: Document, node_id: str | None) -> Span:
    """New section text added after the section's own text (nothing of it is replaced)."""
    head = section_heading(doc, node_id)
    md = doc.to_markdown()
    at = _own_text_end(doc, md, head)
    rest = md[at:].lstrip("\n")
    return Span("section", at, at, md, head.level, head.id, new_prefix=md[:at] + "\n\n",
                new_suffix=("\n\n" + rest) if rest else "\n")


def continue_span(doc: Document, node_id: str | None) -> Span:
    md = doc.to_markdown()
    if node_id is None:
        return Span("paragraph", len(md), len(md), md, new_prefix=_block_end(md), new_suffix="")
    _, e = aligned(doc, md, node_id)
    glue = "" if str(doc.node(node_id).kind) == "sentence" else "\n\n"
    return Span("paragraph", e, e, md, node_id=node_id, new_prefix=md[:e] + glue, new_suffix="")


def outline_span(doc: Document, node_id: str | None = None) -> Span:
    heads = [n.text.strip() for n in doc.walk() if str(n.kind) == "heading"]
    md = doc.to_markdown()
    return Span("document", len(md), len(md), md, new_prefix="".join(h + "\n" for h in heads), new_suffix="")


def document_title(doc: Document) -> str:
    """The text of the first heading (the outline's premise when the writer gives none)."""
    for n in doc.walk():
        if str(n.kind) == "heading":
            return n.text.split("\n")[0].lstrip("#").strip()  # a setext heading: its first line
    return ""


# ---------------------------------------------------------------------------------------- house style
# A candidate comes out in the corpus's normal form (one line per paragraph, "- " bullets, "\n"); the apply
# rules put it in the document's own: a hard-wrapped paragraph stays wrapped at its width, CRLF line ends and
# the bullet character the document uses are kept, so an accepted candidate does not stand out.
_BULLET_LINE = re.compile(r"^(\s*)([-*+])([ \t])", re.M)


def line_end(md: str) -> str:
    """The document's line end: CRLF when most of its lines end so."""
    return "\r\n" if md.count("\r\n") * 2 > md.count("\n") else "\n"


def bullet_char(md: str) -> str | None:
    """The bullet character the document's lists use most (None: it has no bulleted list)."""
    found = _BULLET_LINE.findall(md)
    if not found:
        return None
    return max("-*+", key=lambda c: sum(1 for _, b, _ in found if b == c))


def wrap_width(paragraph: str) -> int:
    """The column a hard-wrapped paragraph is wrapped at (its longest line but the last), 0 if one line."""
    lines = paragraph.replace("\r", "").split("\n")
    return max(len(ln) for ln in lines[:-1]) if len(lines) > 1 else 0


def wrap(text: str, width: int, eol: str = "\n", first_col: int = 0) -> str:
    """One paragraph's text greedily wrapped at `width` columns (the first line starting at `first_col`)."""
    words, lines, cur, col = text.split(), [], "", first_col
    for w in words:
        if cur and col + 1 + len(w) > width and not _OPENS_BLOCK.match(w):
            lines.append(cur)
            cur, col = w, len(w)
        else:
            cur, col = (cur + " " + w, col + 1 + len(w)) if cur else (w, col + len(w))
    lines.append(cur)
    return eol.join(lines)


_OPENS_BLOCK = re.compile(r"^(?:[-+*>#|=<`~_]|\d{1,9}[.)](?:\s|$))")


def house_style(md: str, text: str) -> str:
    """Block text (a section body, an outline, a continuation) in the document's bullets and line ends."""
    bullet = bullet_char(md)
    if bullet and bullet != "-":
        text = _BULLET_LINE.sub(lambda m: m.group(1) + bullet + m.group(3), text)
    eol = line_end(md)
    return text.replace("\r\n", "\n").replace("\n", eol) if eol != "\n" else text


# ---------------------------------------------------------------------------------------- apply rules
def _apply_rewrite(doc: Document, node_id: str | None, text: str) -> None:
    node = doc.node(node_id)
    kind = str(node.kind)
    if kind == "heading":
        return _apply_summarise(doc, node_id, text)
    para = node if kind == "paragraph" else node.parent
    md = doc.to_markdown()
    ps, pe = aligned(doc, md, para.id)
    old = md[ps:pe]
    width = wrap_width(old)
    if not width:
        doc.set_text(node_id, text)
        return
    eol = "\r\n" if "\r\n" in old else "\n"
    if kind == "paragraph":
        doc.set_text(para.id, wrap(text, width, eol))
        return
    # a sentence: the lines before its own stay; from its line on the paragraph is wrapped again
    ss, se = aligned(doc, md, node_id)
    line_start = old.rfind("\n", 0, ss - ps) + 1
    head, rest = old[:line_start], old[line_start:ss - ps] + " ".join(text.split()) + old[se - ps:]
    doc.set_text(para.id, head + wrap(rest, width, eol))


def _apply_summarise(doc: Document, node_id: str | None, text: str) -> None:
    head = section_heading(doc, node_id)
    line = text.strip().split("\n")[0]
    if not line.startswith("#"):
        line = "#" * head.level + " " + line
    doc.set_text(head.id, line)


def _apply_expand(doc: Document, node_id: str | None, text: str) -> None:
    doc.replace_section_body(section_heading(doc, node_id).id, house_style(doc.to_markdown(), text))


def _apply_expand_add(doc: Document, node_id: str | None, text: str) -> None:
    """The section's body with `text` put after its own text (its subsections follow, unchanged)."""
    head = section_heading(doc, node_id)
    if not text.strip():
        return
    md = doc.to_markdown()
    bs, be = doc.span(head.id, "body")
    at = max(_own_text_end(doc, md, head), bs)
    own, subsections = md[bs:at].rstrip("\n"), md[at:be].lstrip("\n")
    body = (own + "\n\n" if own else "") + text.strip() + "\n\n" + subsections
    doc.replace_section_body(head.id, body if subsections or be < len(md) else body.rstrip("\n") + "\n")


def _apply_continue(doc: Document, node_id: str | None, text: str) -> None:
    md = doc.to_markdown()
    if node_id is None:
        doc.merge_markdown(_block_end(md) + text.strip() + "\n")
        return
    _, e = aligned(doc, md, node_id)
    eol = line_end(md)
    glued = text if str(doc.node(node_id).kind) == "sentence" else eol * 2 + house_style(md, text.strip())
    doc.merge_markdown(md[:e] + glued + md[e:])


def _apply_outline(doc: Document, node_id: str | None, text: str) -> None:
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if lines:
        head = doc.to_markdown().rstrip("\n")
        doc.merge_markdown((head + "\n\n" if head.strip() else "") + "\n\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------- the registry
ACTIONS: dict[str, WritingAction] = {a.name: a for a in [
    WritingAction("expand", Action.EXPAND, "e", "Expand section", "write the body of the selected heading's section",
                  ("heading", "paragraph", "sentence", "block"), "optional", example_kinds=("section",),
                  span=expand_span, apply=_apply_expand, add_span=expand_add_span, add=_apply_expand_add),
    WritingAction("rewrite", Action.REWRITE, "r", "Rewrite", "rewrite the selected sentence or paragraph",
                  ("sentence", "paragraph", "heading"), "optional", example_kinds=("sentence", "paragraph"),
                  span=rewrite_span, apply=_apply_rewrite),
    WritingAction("instruct", Action.REWRITE, "i", "Rewrite with an instruction…",
                  "rewrite the selection the way you say (trained: " + instructions.HELP + ")",
                  ("sentence", "paragraph", "heading"), "required",
                  prompt=("Rewrite as…", "trained forms: " + instructions.HELP), example_kinds=("history",),
                  span=rewrite_span, apply=_apply_rewrite),
    WritingAction("summarise", Action.SUMMARISE, "s", "Summarise section into its heading",
                  "a new heading line for the section", ("heading", "paragraph", "sentence", "block"), "optional",
                  example_kinds=("heading",), span=summarise_span, apply=_apply_summarise),
    WritingAction("continue", Action.CONTINUE, "c", "Continue", "write on after the selected node",
                  ("heading", "paragraph", "sentence", "block"), "never", example_kinds=("plain",),
                  span=continue_span, apply=_apply_continue),
    WritingAction("outline", Action.OUTLINE, "o", "Draft an outline…", "headings from a one-line premise",
                  (), "required", prompt=("Outline from a premise", "what the document is about"),
                  example_kinds=("outline",), span=outline_span, apply=_apply_outline),
]}

# The training mixture's kinds: each action's, plus the writer's own accepted changes.
EXAMPLE_KINDS: tuple[str, ...] = tuple(dict.fromkeys(
    k for a in ACTIONS.values() for k in a.example_kinds if k != "history")) + ("history",)
# The store's operations that are writing actions (the model's changes are recorded under these).
OPERATIONS: frozenset[str] = frozenset(a.action.value for a in ACTIONS.values())


def get(name: str | Action) -> WritingAction:
    try:
        return ACTIONS[str(name.value if isinstance(name, Action) else name)]
    except KeyError:
        raise ActionRefused(f"unknown action {name!r} (one of {', '.join(ACTIONS)})") from None


# ---------------------------------------------------------------------------------------- tasks and candidates
def span_task(span: Span, action: Action, instruction: str | None = None, old: str | None = None) -> Task:
    """The untrimmed Task of a span (the old text goes in only with an instruction)."""
    heading_level = span.heading_level if span.level in ("heading", "section") else 0
    return Task(action, span.level, span.prefix, span.suffix, old=old if instruction else None,
                instruction=instruction, heading_level=heading_level)


def span_rule(entry: WritingAction, add: bool = False) -> Callable[[Document, str | None], Span]:
    """The action's span rule (add=True: its "add" variant; ActionRefused if it has none)."""
    if add and entry.add_span is None:
        raise ActionRefused(f"{entry.name} has no 'add' variant")
    return entry.add_span if add else entry.span


def make_task(doc: Document, node_id: str | None, action: str | Action, instruction: str | None = None, *,
              prefix_budget: int = PREFIX_BUDGET, suffix_budget: int = SUFFIX_BUDGET, add: bool = False) -> Task:
    """The Task for `action` on node `node_id` of `doc` (trimmed to the byte budgets, heading path kept).
    add=True: the action's "add" variant (expand: new text added to the section, nothing replaced)."""
    entry = get(action)
    rule = span_rule(entry, add)
    instruction = (instruction or None) if entry.instruction != "never" else None
    if entry.action == Action.OUTLINE:
        span = outline_span(doc)
        premise = instruction if instruction is not None else document_title(doc)
        return fit(span_task(span, Action.OUTLINE, premise), prefix_budget, suffix_budget)
    if node_id is None and entry.action != Action.CONTINUE:
        raise ActionRefused(f"{entry.name} needs a node")
    span = rule(doc, node_id)
    act = Action.SUMMARISE if span.level == "heading" else entry.action  # a heading is rewritten as summarise
    md = doc.to_markdown()
    old = md[span.start:span.end] if span.start < span.end else None
    forms = instructions.parse(instruction) if span.level in instructions.LEVEL_FORMS else None
    if forms:  # a trained instruction: its canonical spelling and no old text, exactly as training has it
        return fit(span_task(span, act, instructions.canonical(forms)), prefix_budget, suffix_budget)
    return fit(span_task(span, act, instruction, old), prefix_budget, suffix_budget)


def _fingerprint(doc: Document) -> dict[str, tuple]:
    return {r.id: (r.kind, r.parent_id, r.order, r.level, r.text, r.tail) for r in doc.records()}


def changed_nodes(before: Document, after: Document) -> list[str]:
    """Ids of nodes inserted, deleted or changed (text, tail, place, kind) between two documents."""
    a, b = _fingerprint(before), _fingerprint(after)
    return [i for i in b if a.get(i) != b[i]] + [i for i in a if i not in b]


def apply_candidate(doc: Document, node_id: str | None, action: str | Action, text: str, *,
                    with_changes: bool = False, add: bool = False):
    """A new Document with the action's span replaced by `text` (a finished candidate: engine.tasks.finish).
    `doc` itself is not changed. with_changes=True returns (Document, ids of the nodes that changed).
    add=True: the action's "add" rule (expand: `text` goes after the section's own text)."""
    entry = get(action)
    span_rule(entry, add)
    if node_id is not None and not text.strip() and entry.action not in (Action.EXPAND, Action.OUTLINE):
        raise ActionRefused("the candidate is empty")
    if node_id is not None and entry.node_kinds and str(doc.node(node_id).kind) not in entry.node_kinds:
        raise ActionRefused(f"cannot {entry.name} a {doc.node(node_id).kind} node")
    new = Document.from_records(doc.records())
    (entry.add if add else entry.apply)(new, node_id, text)
    return (new, changed_nodes(doc, new)) if with_changes else new
