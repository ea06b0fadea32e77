"""The editor for the selected node: a Markdown TextArea that reports hand edits at a sensible grain.

It posts `NodeEditor.EditReady(node_id, text)` when the writer pauses typing (IDLE_SECONDS), after
MAX_WAIT_SECONDS of steady typing without a pause, when it loses focus, and before it is given another
node, never per keystroke. The screen records each as one revision by the writer. Meanwhile it posts
`NodeEditor.Typing(node_id, text)` at most every JOURNAL_SECONDS while text is typed, for the journal
(app.journal): typed text is on disk within about a second, long before it is a revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.expand_tabs import expand_text_tabs_from_widths
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import TextArea
from textual.widgets._text_area import build_byte_to_codepoint_dict
from textual.widgets.text_area import Selection

from app.tui.widgets.wrapping import LONG_LINE, FastWrappedDocument

IDLE_SECONDS = 2.0
MAX_WAIT_SECONDS = 5.0  # steady typing is recorded at least this often
HIGHLIGHT_LIMIT = 200_000  # characters: a longer text is edited without syntax highlighting
JOURNAL_SECONDS = 0.5  # typed text reaches the journal within this (debounced, not per key)
KIND_TITLE = {"heading": "§ heading", "paragraph": "¶ paragraph", "sentence": "› sentence", "block": "▤ block"}


class NodeEditor(TextArea):
    BINDINGS = [
        Binding("escape", "screen.focus_outline", "Back to outline"),
        Binding("ctrl+r", "screen.writing_action('rewrite')", "Rewrite"),
        Binding("ctrl+g", "screen.continue_at_cursor", "Continue"),
    ]

    @dataclass
    class EditReady(Message):
        """The writer changed node `node_id` to `text` and paused (or left the editor)."""

        node_id: str
        text: str
        reason: str  # "idle" | "steady" | "blur" | "selection"

    @dataclass
    class Typing(Message):
        """The writer is typing in node `node_id`, which now reads `text` (for the journal)."""

        node_id: str
        text: str

    def __init__(self, **kwargs) -> None:
        super().__init__("", soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.highlighting = None  # "markdown" where tree-sitter's grammar is here
        try:
            self.language = "markdown"
            self.highlighting = "markdown"
        except Exception:  # noqa: BLE001 - no tree-sitter grammar here: plain text editing
            pass
        self.node_id: str | None = None
        self._original = ""
        self._idle: Timer | None = None
        self._max_wait: Timer | None = None  # started by the first key after a recording; never restarted
        self._journal: Timer | None = None
        self._title_selection: Selection | None = None  # a new heading's selected title (select_placeholder)

    # TextArea makes a new WrappedDocument for every text loaded (and the navigator reads it from here):
    # each one is made a FastWrappedDocument, which wraps long lines quickly (app/tui/widgets/wrapping.py)
    @property
    def wrapped_document(self) -> FastWrappedDocument:
        return self._wrapped_document

    @wrapped_document.setter
    def wrapped_document(self, wrapped) -> None:
        if type(wrapped) is not FastWrappedDocument:
            wrapped.__class__ = FastWrappedDocument  # a subclass with no state of its own
        self._wrapped_document = wrapped

    @property
    def dirty(self) -> bool:
        """The editor holds text for its node that is not in the document yet."""
        return self.node_id is not None and self.text != self._original

    def show_node(self, node_id: str | None, text: str) -> None:
        """Edit another node (the pending edit of the current one is posted first)."""
        self.flush("selection")
        self.node_id = node_id
        self._original = text
        # tree-sitter parses and maps the whole text on every load and edit (~0.7 s a MB): a text that
        # long is edited plain (the title says so)
        language = self.highlighting if len(text) <= HIGHLIGHT_LIMIT else None
        if language != self.language:
            self.load_text("")  # (changing the language re-parses the text loaded)
            self.language = language
        self.load_text(text)
        self.read_only = node_id is None
        self.border_subtitle = ""

    def show_selection(self, node, read_only: bool) -> None:
        """Edit the selected document node (None: nothing selected), titled by its kind."""
        if node is None:
            self.show_node(None, "")
            self.border_title = "Editor"
            return
        self.show_node(node.id, node.text)
        self.read_only = read_only
        plain = " · plain text (too long to highlight)" if self.highlighting and self.language is None else ""
        self.border_title = f"Editor · {KIND_TITLE.get(str(node.kind), str(node.kind))}{plain}"

    def select_placeholder(self) -> None:
        """Select the text of a new node (a heading's title, after its `#`s), so typing replaces it."""
        text = self.text
        start = len(text) - len(text.lstrip("#").lstrip(" ")) if text.startswith("#") else 0
        last = text.count("\n")
        self.selection = Selection((0, start), (last, len(text) - (text.rfind("\n") + 1)))
        self._title_selection = self.selection if start else None

    async def _on_key(self, event: events.Key) -> None:
        # A `#` typed first over a new heading's selected title retypes the whole line, so "## Title" sets
        # the level instead of giving "# ## Title"; any other first key replaces only the title.
        if event.character == "#" and self._title_selection is not None and self.selection == self._title_selection:
            self.selection = Selection((0, 0), self._title_selection.end)
        self._title_selection = None
        await super()._on_key(event)

    def mark_recorded(self, text: str) -> None:
        """The app took `text` into the document: it is now the baseline."""
        self._original = text

    def take_pending(self) -> tuple[str, str] | None:
        """(node id, text) of an edit not yet given to the app, and forget it (it is the app's now)."""
        for timer in (self._idle, self._max_wait, self._journal):
            if timer is not None:
                timer.stop()
        self._idle = self._max_wait = self._journal = None
        self.border_subtitle = ""
        if not self.dirty:
            return None
        self._original = self.text
        return self.node_id, self.text

    def flush(self, reason: str) -> None:
        pending = self.take_pending()
        if pending is not None:
            self.post_message(self.EditReady(*pending, reason))

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        if not self.dirty:
            return
        self.border_subtitle = "editing…"
        if self._idle is not None:
            self._idle.stop()
        self._idle = self.set_timer(IDLE_SECONDS, lambda: self.flush("idle"))
        if self._max_wait is None:
            self._max_wait = self.set_timer(MAX_WAIT_SECONDS, lambda: self.flush("steady"))
        if self._journal is None:
            self._journal = self.set_timer(JOURNAL_SECONDS, self._journal_due)

    def _journal_due(self) -> None:
        self._journal = None
        if self.dirty:
            self.post_message(self.Typing(self.node_id, self.text))

    def in_flight(self) -> tuple[str, str] | None:
        """(node id, text) the editor holds and has not given to the app yet."""
        return (self.node_id, self.text) if self.dirty else None

    def _on_blur(self, event) -> None:
        self.flush("blur")

    # -- drawing long lines ---------------------------------------------------------------------------
    # TextArea._render_line styles the whole line and then divides it at every wrap offset to draw one
    # screen row: a 1 MB one-line paragraph costs ~0.2 s per row (seconds per paint). A soft-wrapped
    # line longer than LONG_LINE is drawn here from the slice of it the row shows; the same styles
    # (cursor line, selection, syntax highlights, cursor, matched bracket, tabs), clipped to the row.

    def _render_line(self, y: int) -> Strip:
        wrapped = self.wrapped_document
        y_offset = y + self.scroll_offset.y
        if self.soft_wrap and 0 <= y_offset < wrapped.height:
            line_info = wrapped._offset_to_line_info[y_offset]
            if line_info is not None and len(self.document.get_line(line_info[0])) > LONG_LINE:
                return self._render_row_of_long_line(*line_info)
        return super()._render_line(y)

    def _render_row_of_long_line(self, line_index: int, section: int) -> Strip:
        theme = self._theme
        base_style = theme.base_style if theme and theme.base_style is not None else self.rich_style
        plain = self.document.get_line(line_index)
        bounds = [0, *self.wrapped_document.get_offsets(line_index), len(plain) + 1]  # +1: the cursor's cell
        lo, hi = bounds[section], bounds[section + 1]
        line = Text(plain[lo:hi], end="", no_wrap=True)
        line.set_length(hi - lo)  # the last row ends in a space, for the cursor

        start, end = self.selection
        cursor_row, cursor_column = end
        (top_row, top_column), (bottom_row, bottom_column) = sorted((start, end))
        has_cursor = self._has_cursor
        highlight_cursor_line = self.highlight_cursor_line and has_cursor
        cursor_line_style = theme.cursor_line_style if (theme and highlight_cursor_line) else None
        if has_cursor and cursor_line_style and cursor_row == line_index:
            line.stylize(cursor_line_style)

        def stylize(style, first: int, last: int) -> None:  # line columns, clipped to this row
            first, last = max(first, lo), min(last, hi)
            if style and first < last:
                line.stylize(style, first - lo, last - lo)

        if start != end and top_row <= line_index <= bottom_row and theme:
            stylize(theme.selection_style, top_column if line_index == top_row else 0,
                    bottom_column if line_index == bottom_row else len(plain))

        line_highlights = self._highlights.get(line_index) if theme else None
        if line_highlights:
            byte_lo = len(plain[:lo].encode())
            row_bytes = plain[lo:hi].encode()
            byte_hi = byte_lo + len(row_bytes)
            to_column = build_byte_to_codepoint_dict(row_bytes)
            for first, last, name in line_highlights:
                style = theme.syntax_styles.get(name)
                first, last = max(first, byte_lo), min(last if last else byte_hi, byte_hi)
                if style is not None and first < last:
                    line.stylize(style, to_column.get(first - byte_lo, 0), to_column.get(last - byte_lo, hi - lo))

        matching_bracket = self._matching_bracket_location
        if has_cursor and self.match_cursor_bracket and matching_bracket is not None and start == end and theme:
            if cursor_row == line_index:
                stylize(theme.bracket_matching_style, cursor_column, cursor_column + 1)
            if matching_bracket[0] == line_index:
                stylize(theme.bracket_matching_style, matching_bracket[1], matching_bracket[1] + 1)
        if cursor_row == line_index and lo <= cursor_column < hi:
            at = cursor_column - lo
            if self.suggestion and (self.has_focus or not self.hide_suggestion_on_blur):
                suggestion_style = self.get_component_rich_style("text-area--suggestion")
                line = Text.assemble(line[:at], (self.suggestion, suggestion_style), line[at:])
            if self._draw_cursor and theme and theme.cursor_style:
                line.stylize(theme.cursor_style, at, at + 1)

        tab_widths = self.wrapped_document.get_tab_widths(line_index)
        tabs_before = plain.count("\t", 0, lo)
        line = expand_text_tabs_from_widths(line, tab_widths[tabs_before:tabs_before + line.plain.count("\t")])

        target_width = self.scrollable_content_region.size.width - self.gutter_width
        text_strip = Strip(line.render(self.app.console), cell_length=line.cell_len)
        if cursor_row == line_index and self.highlight_cursor_line:
            line_style = cursor_line_style
        else:
            line_style = theme.base_style if theme else None
        strip = text_strip.extend_cell_length(target_width, line_style)
        if self.show_line_numbers:
            gutter_style = theme.cursor_line_gutter_style if cursor_row == line_index and highlight_cursor_line \
                else theme.gutter_style
            number = str(line_index + self.line_number_start) if section == 0 else ""
            gutter = Segment(f"{number:>{self.gutter_width - 2}}  ", gutter_style)
            strip = Strip.join([Strip([gutter], cell_length=self.gutter_width), strip])
        return strip.apply_style(base_style)
