"""Hand editing: the writer's edits of a node (one revision per pause, not per keystroke), structure
edits (insert, move, delete), and the history: the panel, restore, time travel."""

from __future__ import annotations

from engine.document import InputRefused
from app.tui.screens.dialogs import Choice
from app.tui.screens.time_travel import TimeTravelScreen
from app.tui.widgets.editor import NodeEditor
from app.tui.widgets.history import HistoryPanel, RevisionList
from app.tui.widgets.outline import preview


class EditingMixin:
    history_whole_document = False

    # -- the writer's text ---------------------------------------------------------------------------

    def on_node_editor_edit_ready(self, message: NodeEditor.EditReady) -> None:
        self.record_edit(message.node_id, message.text)

    def record_pending_edit(self) -> None:
        """Record what the writer typed in the editor and has not yet recorded (before anything else
        changes the document: a selection, an action, a save)."""
        pending = self.editor.take_pending()
        if pending is not None:
            self.record_edit(*pending)

    def record_edit(self, node_id: str, text: str) -> None:
        """Put the writer's `text` for `node_id` into the tree and record it (author "writer")."""
        doc = self.doc
        if doc is None or node_id not in doc:
            self.notify("that node is gone (changed elsewhere); your text is still in the editor's undo",
                        severity="warning")
            return
        node = doc.node(node_id)
        kind = str(node.kind)
        before = {n.id for n in doc.walk()}
        try:
            doc.set_text(node_id, text)
        except InputRefused:  # e.g. a heading that no longer reads as one: take it as Markdown
            md = doc.to_markdown()
            start, end = doc.span(node_id)
            try:
                doc.merge_markdown(md[:start] + text + md[end:])
            except InputRefused as exc:
                self.notify(f"edit not taken: {exc}", severity="error")
                return
        self.session.commit(doc, author="writer", operation="edit", level=kind)
        self._after_change(node_id, reshaped={n.id for n in doc.walk()} != before)
        if node_id in doc and self.editor.node_id == node_id and doc.node(node_id).text.strip() != text.strip():
            self._follow_split(node_id, text)

    def _follow_split(self, node_id: str, text: str) -> None:
        """The edit made more than one node (a sentence became two, a paragraph got a blank line): keep
        everything the writer typed in view by editing the paragraph that holds it now."""
        doc = self.doc
        node = doc.node(node_id)
        target = node.parent if node.kind.value == "sentence" else node
        if target.kind.value != "paragraph":
            self.editor.show_node(node_id, node.text)
            return
        rel = doc.span(node_id)[0] - doc.span(target.id)[0] + len(text.rstrip())
        self.outline.select_id(target.id)
        self.select_node(target.id)
        before = target.text[:rel]
        self.editor.move_cursor((before.count("\n"), len(before) - (before.rfind("\n") + 1)))

    def _after_change(self, node_id: str | None, reshaped: bool = True) -> None:
        """Show the tree after a change; keep the editor on `node_id` while it exists."""
        doc = self.doc
        if node_id is not None and node_id not in doc:
            node_id = next((i for i in doc.last_change.created if i in doc), None)
        if reshaped:
            self.outline.load(doc, select=node_id if node_id is not None else self.selected_id)
        else:
            changed = set(doc.last_change.ids) | {node_id}
            for nid in list(changed):
                if nid in doc and doc.node(nid).parent is not None:
                    changed.add(doc.node(nid).parent.id)
            self.outline.relabel(doc, [i for i in changed if i in doc])
        if self.editor.node_id not in doc or self.editor.node_id != self.selected_id:
            self.select_node(node_id if node_id in doc else self.outline.selected_id)
        self.refresh_status()
        if self.session.unrecorded and self.session.store_error:
            self.notify(f"kept in memory, not in history yet: {self.session.store_error}", severity="warning")
        self.schedule_side_refresh()

    # -- structure -----------------------------------------------------------------------------------

    def _structure_edit(self, operation: str, edit) -> None:
        if not self.ready_to_change():
            return
        if self.doc is None or self.selected_id is None:
            self.notify("select a node first", severity="warning")
            return
        self.record_pending_edit()
        try:
            focus = edit(self.doc, self.doc.node(self.selected_id))
        except (InputRefused, KeyError, ValueError) as exc:
            self.notify(f"{operation}: {exc}", severity="error")
            return
        self.session.commit(self.doc, author="writer", operation=operation)
        self._after_change(focus)
        self.select_node(focus if focus in self.doc else self.selected_id)

    def action_new_paragraph(self) -> None:
        self._insert("paragraph")

    def action_new_heading(self) -> None:
        self._insert("heading")

    def _insert(self, kind: str) -> None:
        """A new paragraph (or heading) right after the selected one (a heading: at the top of its section)."""
        def edit(doc, node):
            if node.kind.value == "sentence":
                node = node.parent
            if kind == "paragraph":
                parent, index = (node, 0) if node.kind.value == "heading" else \
                    (node.parent, node.parent.children.index(node) + 1)
                return doc.insert(parent.id, index, "paragraph", "New paragraph.")
            parent, index = node.parent, node.parent.children.index(node) + 1
            level = node.level if node.kind.value == "heading" else \
                (parent.level + 1 if parent.kind.value == "heading" else 1)
            return doc.insert(parent.id, index, "heading", "#" * min(level, 6) + " New section")

        self._structure_edit("insert", edit)
        self.editor.focus()

    def action_delete_node(self) -> None:
        if self.selected_id is None or not self.ready_to_change():
            return
        node = self.doc.node(self.selected_id)

        def confirmed(choice: str | None) -> None:
            if choice == "delete":
                def edit(doc, node):
                    siblings = node.parent.children
                    i = siblings.index(node)
                    after = siblings[i + 1] if i + 1 < len(siblings) else siblings[i - 1] if i else node.parent
                    doc.delete(node.id)
                    return after.id if after.id in doc else None

                self._structure_edit("delete", edit)

        what = "the whole section" if node.kind.value == "heading" else f"this {node.kind.value}"
        self.push_screen(Choice("Delete?", f"Delete {what}: “{preview(node.text, 60)}”? It stays in the history.",
                                [("delete", "Delete"), ("keep", "Keep")]), confirmed)

    def action_move_node(self, delta: int) -> None:
        def edit(doc, node):
            siblings = node.parent.children
            i = siblings.index(node) + delta
            if not 0 <= i < len(siblings):
                raise ValueError("already at the edge of its section")
            doc.move(node.id, node.parent.id, i)
            return node.id

        self._structure_edit("move", edit)

    # -- history -------------------------------------------------------------------------------------

    def refresh_history(self) -> None:
        if self.session is None:
            return
        panel = self.history_panel
        panel.whole_document = self.history_whole_document
        node_id = None if self.history_whole_document else self.selected_id
        if self.history_whole_document:
            revisions = self.session.history(None)
        elif node_id is not None and node_id in self.doc:
            ids = [node_id] + [c.id for c in self.doc.node(node_id).children if c.kind.value == "sentence"]
            revisions = sorted((r for i in ids for r in self.session.history(i)), key=lambda r: r.id)
        else:
            revisions = []
        current = {n.id: n.text for n in self.doc.walk()}
        label = "(no node)"
        if node_id is not None and node_id in self.doc:
            node = self.doc.node(node_id)
            label = f"{node.kind.value}: {preview(node.text, 30)}"
        panel.show(revisions, current, label)

    def action_toggle_history_scope(self) -> None:
        self.history_whole_document = not self.history_whole_document
        self.refresh_history()

    def on_revision_list_restore_requested(self, message: RevisionList.RestoreRequested) -> None:
        rev = message.revision
        node_id = None if self.history_whole_document else rev.node_id
        self.restore_revision(rev.id, node_id)

    def restore_revision(self, revision_id: int, node_id: str | None = None) -> None:
        if not self.ready_to_change() or self.session.store is None:
            self.notify("no revision store: history is off", severity="error")
            return
        self.record_pending_edit()
        try:
            revisions = self.session.restore(revision_id, node_id)
        except Exception as exc:  # noqa: BLE001 - StoreError: one line, keep running
            self.notify(f"could not restore: {exc}", severity="error")
            return
        self.show_document(select=node_id)
        self.refresh_history()
        what = "the node" if node_id else "the document"
        self.notify(f"restored {what} as of revision #{revision_id} ({len(revisions)} new revisions)")

    def action_time_travel(self) -> None:
        if not self.ready_to_change() or self.session.store is None:
            self.notify("no revision store: history is off", severity="error")
            return
        self.record_pending_edit()

        def done(revision: int | None) -> None:
            if revision is not None:
                self.restore_revision(revision)

        self.push_screen(TimeTravelScreen(self.session), done)
