"""The Markdown document tree: headings → paragraphs → sentences, plus opaque blocks.

Import is exact (`Document.from_markdown(t).to_markdown() == t`), ids are stable across edits and
external changes, and `span()` gives the exact offsets that fill-in-the-middle prompts are cut from.
"""

from .nodes import InputRefused, Kind, Node, NodeRecord, decode
from .roundtrip import check_corpus_roundtrip
from .segment import split_sentences
from .tree import Change, Document

__all__ = ["Change", "Document", "InputRefused", "Kind", "Node", "NodeRecord", "check_corpus_roundtrip",
           "decode", "split_sentences"]

