"""Help ▸ Documentation: the user's guides shown in the app, or the online docs when this copy of
mmstudio has none (an installed wheel carries no ``docs/``), and a message saying where they are when
neither can be shown."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QListWidget,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from mmstudio.paths import ONLINE_DOCS, user_guides


class DocsDialog(QDialog):
    """The guides, one at a time, rendered from their Markdown (images and links between them work)."""

    def __init__(self, guides: list[tuple[str, Path]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("mmstudio documentation")
        self.resize(1000, 720)
        self._guides = guides
        self.index = QListWidget()
        self.index.addItems([title for title, _ in guides])
        self.index.setMaximumWidth(200)
        self.index.currentRowChanged.connect(self._on_index_current_row_changed)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        row = QHBoxLayout()
        row.addWidget(self.index)
        row.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(buttons)
        self.index.setCurrentRow(0)

    def _on_index_current_row_changed(self, row: int) -> None:
        if not 0 <= row < len(self._guides):
            return
        path = self._guides[row][1]
        self.browser.setSearchPaths([str(path.parent)])
        self.browser.setMarkdown(path.read_text(encoding="utf-8"))


def show_docs(parent: QWidget) -> QDialog | None:
    """Show the guides in the app when this copy has them, else open the online docs; when neither
    works, say where the docs are. Returns the dialog shown, if any."""
    guides = user_guides()
    if guides:
        dialog = DocsDialog(guides, parent)
        dialog.open()
        return dialog
    if not QDesktopServices.openUrl(QUrl(ONLINE_DOCS)):
        QMessageBox.information(
            parent,
            "Documentation",
            f"This copy of mmstudio has no documentation files, and no web browser could be opened. The "
            f"documentation is at {ONLINE_DOCS}; 'mmstudio --help' describes every command.",
        )
    return None
