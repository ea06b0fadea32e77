"""Small modal dialogs: ask for a line of text (an instruction, a premise, a path), or make a choice."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class TextPrompt(ModalScreen[str | None]):
    """One line of text; enter submits, escape cancels (None)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str = "", value: str = "", help_text: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.help_text = help_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.help_text:
                yield Static(self.help_text, classes="dialog-help")
            yield Input(value=self.value, placeholder=self.placeholder, id="dialog-input")
            yield Static("enter: OK · esc: cancel", classes="dialog-keys")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Choice(ModalScreen[str | None]):
    """A question with buttons; returns the chosen button's id (None on escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, message: str, choices: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.message = message
        self.choices = choices  # (id, label); the first is the default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, classes="dialog-help")
            with Horizontal(classes="dialog-buttons"):
                for i, (choice_id, label) in enumerate(self.choices):
                    yield Button(label, id=choice_id, variant="primary" if i == 0 else "default")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
