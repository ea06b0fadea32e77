"""The document as a collapsible tree: headings, paragraphs, sentences and opaque blocks.

Labels are a kind icon and a one-line preview; each kind has its own colour (component classes,
styled in app.tcss from the theme). A node's children are added to the tree when it is first expanded
(or when a node under it is selected), so a long document opens quickly: a new document opens with its
heading levels expanded as far as the outline stays under FIRST_LINES lines (a short one: all of them).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from app.tui.widgets.editor import NodeEditor
from app.tui.writing_actions import outline_bindings

PREVIEW_CHARS = 48
FIRST_LINES = 600  # a new document opens with as many heading levels expanded as fit in this many lines


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


def first_expanded(doc, budget: int | None = None) -> set[str]:
    """The headings to show expanded when `doc` is first shown: level by level of the tree (all of a
    level or none of it), as long as the outline stays within `budget` lines (FIRST_LINES)."""
    budget = FIRST_LINES if budget is None else budget
    out: set[str] = set()
    lines = len(doc.root.children)
    level = [n for n in doc.root.children if str(n.kind) == "heading"]
    while level:
        more = sum(len(n.children) for n in level)
        if lines + more > budget:
            break
        lines += more
        out.update(n.id for n in level)
        level = [c for n in level for c in n.children if str(c.kind) == "heading"]
    return out


@dataclass
class OutlineItem:
    node_id: str
    kind: str
    filled: bool = True  # False: a node whose children are not added to the tree yet


class OutlineTree(Tree[OutlineItem]):
    """The outline. Posts `OutlineTree.NodeChosen` when the highlighted node changes."""

    BINDINGS = [
        *outline_bindings(),  # the writing actions, from the registry
        Binding("n", "screen.new_paragraph", "New ¶", show=False),
        Binding("h", "screen.new_heading", "New §", show=False),
        Binding("d", "screen.delete_node", "Delete", show=False),
        Binding("right", "open_node", "Open", show=False),
        Binding("left", "close_node", "Close", show=False),
        Binding("ctrl+up", "screen.move_node(-1)", "Move up", show=False),
        Binding("ctrl+down", "screen.move_node(1)", "Move down", show=False),
        Binding("v", "screen.inspect", "Inspect"),
        Binding("enter", "edit", "Edit"),
    ]
    COMPONENT_CLASSES = Tree.COMPONENT_CLASSES | {
        "outline--heading", "outline--paragraph", "outline--sentence", "outline--block"}

    @dataclass
    class NodeChosen(Message):
        node_id: str | None

    def __init__(self, **kwargs) -> None:
        super().__init__("document", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self.auto_expand = False
        self._by_id: dict[str, TreeNode[OutlineItem]] = {}
        self._expanded: set[str] = set()  # what to show expanded (at the last load) of nodes not added yet
        self._doc = None

    # -- building ----------------------------------------------------------------------------------

    def load(self, doc, select: str | None = None) -> None:
        """Show `doc`, keeping which nodes were expanded, and put the cursor on `select` if given."""
        expanded = {tid for tid, tn in self._by_id.items() if tn.is_expanded}
        expanded |= {i for i in self._expanded if i not in self._by_id}  # under nodes not added yet
        if not any(i in doc for i in self._by_id):  # a new document (or new ids): headings open
            expanded = first_expanded(doc)
        self._expanded = expanded
        self._doc = doc
        self.clear()
        self._by_id = {}
        self._add_children(self.root, doc.root, expanded)
        self.root.expand()
        if select is not None:
            self.select_id(select)

    def _add_children(self, parent: TreeNode, node, expanded: set[str]) -> None:
        """Add `node`'s children under `parent`; the children of those in `expanded` too (recursively),
        the others' when they are first expanded."""
        for child in node.children:
            has_children = bool(child.children)
            item = OutlineItem(child.id, str(child.kind), filled=not has_children)
            tn = parent.add(node_label(child), item, allow_expand=has_children, expand=child.id in expanded)
            self._by_id[child.id] = tn
            if has_children and child.id in expanded:
                self._fill(tn, child, expanded)

    def _fill(self, tn: TreeNode[OutlineItem], node, expanded: set[str] = frozenset()) -> None:
        tn.data.filled = True
        self._add_children(tn, node, expanded)

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        item = event.node.data
        if item is not None and not item.filled and self._doc is not None and item.node_id in self._doc:
            self._fill(event.node, self._doc.node(item.node_id), self._expanded)

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
            tn = self._reveal(self._doc.node(node_id))
        if tn is None:
            return False
        ancestor = tn.parent
        while ancestor is not None:
            ancestor.expand()
            ancestor = ancestor.parent
        self._tree_lines  # noqa: B018 - lay the lines out now, so the new node has its line number
        self.move_cursor(tn)
        return True

    def _reveal(self, node) -> TreeNode[OutlineItem] | None:
        """Add the tree nodes down to `node` (under an ancestor not expanded yet); None if it has none."""
        path = []
        while node is not None and node.id not in self._by_id:
            path.append(node)
            node = node.parent
        if node is None:
            return None
        for child in reversed(path):
            holder = self._by_id[node.id]
            if not holder.data.filled:
                self._fill(holder, node, self._expanded)
            holder.expand()
            if child.id not in self._by_id:  # not a child of `node` any more: the tree is stale
                return None
            node = child
        return self._by_id[node.id]

    def _on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        event.stop()
        item = event.node.data
        if item is not None and self._by_id.get(item.node_id) is not event.node:
            return  # a node of the tree before the last `load`
        self.post_message(self.NodeChosen(item.node_id if item else None))

    # -- handing over to the editor ------------------------------------------------------------------

    def action_edit(self) -> None:
        """Enter: edit the selected node. The focus moves now, not after the keys already queued (Textual's
        `focus()` waits its turn), so the writer's next keys are the editor's."""
        editor = self._editor()
        if editor is not None and editor.node_id is not None and self.selected_id is not None:
            self.screen.set_focus(editor)

    def _editor(self) -> NodeEditor | None:
        editors = self.screen.query(NodeEditor)
        return editors.first() if editors else None

    async def _on_key(self, event: events.Key) -> None:
        """The outline's keys act in the order they were typed, here, as each arrives: Textual would run a
        binding only once the key has bubbled up to the app, after the keys queued behind it were handed
        out. So a key that reaches the outline after one of them moved the focus to the editor (typed
        while the app lagged, right after Enter, `h` or `n`) goes to the editor, in order, and never to
        the outline's one-key actions."""
        focused = self.screen.focused
        if focused is not self and isinstance(focused, NodeEditor):
            event.stop()
            event.prevent_default()
            key = events.Key(event.key, event.character)
            key.set_sender(self)
            focused.post_message(key)
            return
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return

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
