"""The Markdown document tree: headings → paragraphs → sentences, plus opaque blocks.

Import is exact (`Document.from_markdown(t).to_markdown() == t`), ids are stable across edits and
external changes, and `span()` gives the exact offsets that fill-in-the-middle prompts are cut from.
"""

from .nodes import InputRefused, Kind, Node, NodeRecord, decode
from .segment import split_sentences
from .tree import Change, Document

__all__ = ["Change", "Document", "InputRefused", "Kind", "Node", "NodeRecord", "check_corpus_roundtrip",
           "check_roundtrip_command", "decode", "split_sentences"]


def check_corpus_roundtrip(paths) -> tuple[int, list[str]]:
    """Round-trip every document under `paths` (see `engine.document.roundtrip`): (count, failures)."""
    from .roundtrip import check_corpus_roundtrip as check

    return check(paths)


def check_roundtrip_command(paths: list[str] | None = None) -> int:
    """`scriba check-roundtrip [PATH…]`: prints failures and a summary; returns the exit status."""
    from .roundtrip import check_roundtrip_command as command

    return command(paths)
