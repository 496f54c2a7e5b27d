"""The details pane of the Experiments page: the current run as the store's report
(:func:`mmstudio.store.summaries.details_html`), redrawn only when it changed, at the same scroll."""

from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser, QWidget

from mmstudio.store.summaries import RunRecord, details_html


class RunDetailsView(QTextBrowser):
    """One run's model, training settings and metrics."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setPlaceholderText("Select a run to see its model, training settings and metrics.")
        self._html: str | None = None

    def show_run(self, rec: RunRecord | None, selected: int = 1) -> None:
        """Show ``rec`` (None: nothing); ``selected`` runs are selected, of which it is the current one."""
        if rec is None:
            self.clear()
            return
        html = details_html(rec)
        if selected > 1:
            html = f"<p><i>{selected} runs selected; showing run {rec.id}.</i></p>" + html
        if html != self._html:
            bar = self.verticalScrollBar().value()
            self.setHtml(html)
            self.verticalScrollBar().setValue(bar)
            self._html = html

    def clear(self) -> None:
        super().clear()
        self._html = None
