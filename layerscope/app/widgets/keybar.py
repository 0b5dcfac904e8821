"""The key bar at the bottom of each screen: what Textual's Footer shows (the
focused widget's and the screen's shown bindings, the command palette key on
the right; a click runs the key), drawn as one line of text.

Textual's Footer rebuilds itself from a dozen FooterKey widgets whenever the
focus moves (mount, style, lay out and render each), which made every Tab or
Enter into the tree slow.  This widget recomputes one Text instead, and only
when what it shows changed.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget

_ENABLED = Style()
_DISABLED = Style(dim=True)


class KeyBar(Widget, can_focus=False):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description", "keybar--palette"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .keybar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyBar > .keybar--palette {
        color: $foreground 20%;
    }
    """

    def __init__(self, show_command_palette: bool = True, **kw) -> None:
        super().__init__(**kw)
        self.show_command_palette = show_command_palette
        self._items: list[tuple[str, str, str, bool]] = []  # (key, display, description, enabled)
        self._palette: tuple[str, str, str, bool] | None = None
        self._spans: list[tuple[int, int, str, bool]] = []  # clickable x ranges -> key

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self._update)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen) -> None:
        if self.is_attached and screen is self.screen:
            self._update()

    def _update(self) -> None:
        if not self.is_attached:
            return
        app = self.app
        active = self.screen.active_bindings
        items: list[tuple[str, str, str, bool]] = []
        seen: set[str] = set()
        for _node, binding, enabled, _tooltip in active.values():
            if not binding.show or binding.action in seen:
                continue  # one key per action, as the Footer shows them
            seen.add(binding.action)
            items.append((binding.key, app.get_key_display(binding), binding.description, enabled))
        palette = None
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            got = active.get(app.COMMAND_PALETTE_BINDING)
            if got is not None:
                _node, binding, enabled, _tooltip = got
                palette = (binding.key, app.get_key_display(binding), binding.description, enabled)
        if items != self._items or palette != self._palette:
            self._items, self._palette = items, palette
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        desc_style = self.get_component_rich_style("keybar--description")
        t = Text(no_wrap=True, overflow="crop")
        spans = []
        for key, display, desc, enabled in self._items:
            start = t.cell_len
            extra = _ENABLED if enabled else _DISABLED
            t.append(f" {display} ", key_style + extra)
            if desc:
                t.append(f"{desc} ", desc_style + extra)
            spans.append((start, t.cell_len, key, enabled))
        if self._palette is not None:
            key, display, desc, enabled = self._palette
            tail = Text.assemble(("▏", self.get_component_rich_style("keybar--palette")),
                                 (f" {display} ", key_style), (f"{desc} ", desc_style))
            width = self.size.width or 80
            gap = width - t.cell_len - tail.cell_len
            if gap >= 0:
                t.append(" " * gap)
                start = t.cell_len
                t.append_text(tail)
                spans.append((start, t.cell_len, key, enabled))
        self._spans = spans
        return t

    def on_resize(self) -> None:
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        for start, end, key, enabled in self._spans:
            if start <= event.x < end:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return
