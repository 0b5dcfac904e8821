"""A whole build step, however long, in a page of its own (b in the layer
view): the details pane shows its beginning."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from ..widgets.keybar import KeyBar
from ..widgets.longtext import LongTextView


class BuildStepScreen(Screen):
    """`text` (the build step as the image records it) wrapped at the
    screen's width.  Escape (or b) goes back."""

    BINDINGS = [
        Binding("escape,b", "back", "Back"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(self.title_text, "bold")
        lines = self.text.count("\n") + 1
        head.append(f"  {len(self.text):,} characters, {lines:,} line{'s' if lines != 1 else ''}", "dim")
        head.append("  ·  ↑↓ pgup pgdn home end scroll · escape back", "dim")
        yield Static(head, id="step-head", markup=False)
        yield LongTextView(id="step-text")
        yield KeyBar()

    def on_mount(self) -> None:
        view = self.query_one("#step-text", LongTextView)
        view.set_text(self.text)
        view.focus()

    def system_commands(self) -> list[tuple]:
        """(title, help, callback) of the palette's commands for this view."""
        return [
            ("Back to the layer view", "Leave the build step (escape)", self.action_back),
            ("Show keys", "Every key binding (?)", self.app.action_help),
        ]

    def action_back(self) -> None:
        self.dismiss()
