"""The filter box shared by the layer view and the comparison view: a
debounced glob / `re:` filter over a tree view, opened with `f`, applied as
you type, cleared with escape."""

from __future__ import annotations

from textual.widgets import Input

DEBOUNCE_S = 0.25


class FilterBoxMixin:
    """Needs: FILTER_INPUT and FILTER_TREE (CSS ids), `filter_text`,
    `_filter_timer` and `_request_tree()` on the class it is mixed into."""

    FILTER_INPUT = "#filter"
    FILTER_TREE = "#tree"

    def _filter_live(self) -> bool:
        """False while the view cannot rebuild its tree (nothing loaded yet)."""
        return True

    def action_filter(self) -> None:
        f = self.query_one(self.FILTER_INPUT, Input)
        f.add_class("active")
        f.focus()

    def _filter_typed(self, value: str) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._filter_timer = self.set_timer(DEBOUNCE_S, lambda: self._apply_filter(value))

    def _apply_filter(self, value: str) -> None:
        self._filter_timer = None
        if not self._filter_live() or value.strip() == self.filter_text:
            return
        self.filter_text = value.strip()
        self._request_tree()

    def _filter_entered(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        self._apply_filter(event.value)
        if not event.value.strip():
            event.input.remove_class("active")
        self.query_one(self.FILTER_TREE).focus()

    def clear_filter(self) -> None:
        f = self.query_one(self.FILTER_INPUT, Input)
        if self._filter_timer is not None:
            self._filter_timer.stop()
        f.value = ""
        f.remove_class("active")
        f.remove_class("error")
        if self.filter_text:
            self.filter_text = ""
            self._request_tree()
