"""Which dataset of a folder to open, when the folder holds several (manifests whose names do not say
their split): the files the core found (:class:`~mmstudio.data.overview.ChoiceNeeded`), one to choose.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mmstudio.data.overview import ChoiceNeeded, choice_prompt, choice_text


class DatasetChoiceDialog(QDialog):
    """The files of a folder that are each a dataset; Open takes the one chosen (:meth:`chosen`)."""

    PathRole = Qt.ItemDataRole.UserRole

    def __init__(self, needed: ChoiceNeeded, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.needed = needed
        self.setWindowTitle("Choose the dataset to open")
        prompt, hint = choice_prompt(needed)
        self.prompt = QLabel(prompt)
        self.prompt.setWordWrap(True)
        self.hint = QLabel(hint)
        self.hint.setWordWrap(True)
        self.hint.setObjectName("hint")
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        for path in needed.choices:
            item = QListWidgetItem(choice_text(path))
            item.setData(self.PathRole, str(path))
            item.setToolTip(str(path))
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(self._on_list_item_double_clicked)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.open_button = self.buttons.addButton("Open", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.currentRowChanged.connect(self._on_list_current_row_changed)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.hint)
        layout.addWidget(self.buttons)
        self.resize(520, 360)

    def chosen(self) -> Path | None:
        """The file chosen (None when none is)."""
        item = self.list.currentItem()
        return Path(item.data(self.PathRole)) if item is not None else None

    def choose(self, name: str) -> None:
        """Make the file called ``name`` the chosen one."""
        for row in range(self.list.count()):
            if Path(self.list.item(row).data(self.PathRole)).name == name:
                self.list.setCurrentRow(row)
                return
        raise ValueError(f"{name!r} is not one of the files to choose from")

    def _on_list_item_double_clicked(self, _item: QListWidgetItem) -> None:
        self.accept()

    def _on_list_current_row_changed(self, row: int) -> None:
        self.open_button.setEnabled(row >= 0)
