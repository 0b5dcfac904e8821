"""A bordered pane of a view; the focused one is lit in the accent colour."""

from __future__ import annotations

from textual.color import Color
from textual.containers import Vertical
from textual.content import Content


class Pane(Vertical):
    """A bordered pane that `z` can zoom to the whole screen; its border and
    title take the accent colour while the focus is inside it.

    Inline styles on the pane alone, not a `:focus-within` CSS rule: a
    pseudo-class change makes Textual restyle the pane's whole subtree and
    repaint the screen on every move of the focus."""

    ALLOW_MAXIMIZE = True
    _LIT_RULES = ("border_top", "border_right", "border_bottom", "border_left",
                  "border_title_color", "auto_border_title_color", "border_title_style")

    _lit_on = False

    def render_str(self, text_content: str | Content) -> Content:
        # Titles name files, tags and typed filters: a str is plain text here, never markup.
        return text_content if isinstance(text_content, Content) else Content(text_content)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def on_unmount(self) -> None:
        self.app.theme_changed_signal.unsubscribe(self)

    def _theme_changed(self, _theme) -> None:
        if self._lit_on:
            self._lit(True, force=True)

    def on_descendant_focus(self, event) -> None:
        self._lit(True)

    def on_descendant_blur(self, event) -> None:
        # the focus may move to another widget of this pane: look once it has
        self.call_after_refresh(lambda: self._lit(self.has_focus_within))

    def _lit(self, on: bool, force: bool = False) -> None:
        if on == self._lit_on and not force:
            return
        self._lit_on = on
        st = self.styles.inline
        if on:
            accent = Color.parse(self.app.theme_variables["accent"])
            st.border = ("round", accent)
            st.border_title_color = accent
            st.auto_border_title_color = False  # ($text-muted in the stylesheet is "auto")
            st.border_title_style = "bold"
        else:  # back to the stylesheet's look
            for rule in self._LIT_RULES:
                st.clear_rule(rule)
        self.refresh()
