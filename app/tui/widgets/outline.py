"""The document as a collapsible tree: headings, paragraphs, sentences and opaque blocks.

Labels are a kind icon and a one-line preview; each kind has its own colour (component classes,
styled in app.tcss from the theme). Sentences are added when their paragraph is first expanded, so
a long document opens quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

PREVIEW_CHARS = 48


def block_icon(text: str) -> str:
    head = text.lstrip()[:3]
    if head[:1] in "-*+" or head[:2].rstrip(".)").isdigit():
        return "•"
    if head.startswith(("```", "~~~")) or text.startswith("    "):
        return "⌥"
    if head.startswith(">"):
        return "❝"
    if head.startswith("|"):
        return "▦"
    return "▤"


def node_icon(node) -> str:
    kind = str(node.kind)
    if kind == "heading":
        return "§"
    if kind == "paragraph":
        return "¶"
    if kind == "sentence":
        return "›"
    return block_icon(node.text)


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """One line of `text`: whitespace collapsed, cut with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def node_label(node) -> Text:
    kind = str(node.kind)
    body = f"H{node.level} {node.plain}" if kind == "heading" else node.text
    return Text.assemble((node_icon(node) + " ", "bold"), preview(body or "(empty)"))


@dataclass
class OutlineItem:
    node_id: str
    kind: str
    filled: bool = True  # False: a paragraph whose sentences are not added yet


class OutlineTree(Tree[OutlineItem]):
    """The outline. Posts `OutlineTree.NodeChosen` when the highlighted node changes."""

    BINDINGS = [
        Binding("e", "app.expand", "Expand"),
        Binding("r", "app.rewrite", "Rewrite"),
        Binding("i", "app.instruct", "Rewrite as…"),
        Binding("s", "app.summarise", "Summarise"),
        Binding("c", "app.continue_text", "Continue"),
        Binding("o", "app.outline", "Outline"),
        Binding("n", "app.new_paragraph", "New ¶", show=False),
        Binding("h", "app.new_heading", "New §", show=False),
        Binding("d", "app.delete_node", "Delete", show=False),
        Binding("right", "open_node", "Open", show=False),
        Binding("left", "close_node", "Close", show=False),
        Binding("ctrl+up", "app.move_node(-1)", "Move up", show=False),
        Binding("ctrl+down", "app.move_node(1)", "Move down", show=False),
        Binding("v", "app.inspect", "Inspect"),
        Binding("enter", "app.focus_editor", "Edit"),
    ]
    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {
        "outline--heading", "outline--paragraph", "outline--sentence", "outline--block"}

    class NodeChosen(Message):
        def __init__(self, node_id: str | None) -> None:
            super().__init__()
            self.node_id = node_id

    def __init__(self, **kwargs) -> None:
        super().__init__("document", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False
        self._by_id: dict[str, TreeNode[OutlineItem]] = {}
        self._doc = None

    # -- building ----------------------------------------------------------------------------------

    def load(self, doc, select: str | None = None) -> None:
        """Show `doc`, keeping which nodes were expanded, and put the cursor on `select` if given."""
        expanded = {tid for tid, tn in self._by_id.items() if tn.is_expanded}
        first = not any(i in doc for i in self._by_id)  # a new document (or new ids): headings open
        self._doc = doc
        self.clear()
        self._by_id = {}
        self._add_children(self.root, doc.root, expanded, first)
        self.root.expand()
        if select is not None:
            self.select_id(select)

    def _add_children(self, parent: TreeNode, node, expanded: set[str], first: bool) -> None:
        for child in node.children:
            kind = str(child.kind)
            has_children = bool(child.children)
            item = OutlineItem(child.id, kind, filled=kind != "paragraph")
            tn = parent.add(node_label(child), item, allow_expand=has_children,
                            expand=(kind == "heading" and first) or child.id in expanded)
            self._by_id[child.id] = tn
            if kind == "paragraph":
                if child.id in expanded:
                    self._fill(tn, child)
            elif has_children:
                self._add_children(tn, child, expanded, first)

    def _fill(self, tn: TreeNode[OutlineItem], paragraph) -> None:
        for sentence in paragraph.children:
            self._by_id[sentence.id] = tn.add_leaf(node_label(sentence), OutlineItem(sentence.id, "sentence"))
        tn.data.filled = True

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        item = event.node.data
        if item is not None and not item.filled and self._doc is not None and item.node_id in self._doc:
            self._fill(event.node, self._doc.node(item.node_id))

    def relabel(self, doc, node_ids) -> None:
        """Refresh the labels of these nodes (after an edit that kept the tree's shape)."""
        for nid in node_ids:
            tn = self._by_id.get(nid)
            if tn is not None and nid in doc:
                tn.set_label(node_label(doc.node(nid)))
        self._doc = doc

    # -- selection ---------------------------------------------------------------------------------

    @property
    def selected_id(self) -> str | None:
        node = self.cursor_node
        return node.data.node_id if node is not None and node.data is not None else None

    def select_id(self, node_id: str) -> bool:
        tn = self._by_id.get(node_id)
        if tn is None and self._doc is not None and node_id in self._doc:
            parent = self._doc.node(node_id).parent  # a sentence of a paragraph not filled yet
            if parent is not None and parent.id in self._by_id:
                holder = self._by_id[parent.id]
                if not holder.data.filled:
                    self._fill(holder, parent)
                holder.expand()
                tn = self._by_id.get(node_id)
        if tn is None:
            return False
        ancestor = tn.parent
        while ancestor is not None:
            ancestor.expand()
            ancestor = ancestor.parent
        self._tree_lines  # noqa: B018 - lay the lines out now, so the new node has its line number
        self.move_cursor(tn)
        return True

    def _on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        item = event.node.data
        self.post_message(self.NodeChosen(item.node_id if item else None))

    def action_open_node(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()
        elif node is not None and node.children:
            self.move_cursor(node.children[0])

    def action_close_node(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    # -- rendering ---------------------------------------------------------------------------------

    def render_label(self, node: TreeNode[OutlineItem], base_style: Style, style: Style) -> Text:
        if node.data is not None:
            kind_style = self.get_component_rich_style(f"outline--{node.data.kind}", partial=True)
            style = kind_style + style
        return super().render_label(node, base_style, style)
