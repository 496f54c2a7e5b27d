"""The top bar of the Model page: the preset (a combo, with the presets that cannot serve the task
disabled and the chosen one's help beside it), the spec's name and its unsaved changes, and New, Open,
Save, Undo and Redo. It says what the user asked for; the page (and its document) does it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QWidget

from mmstudio.ui.model.sections import hint_label
from mmstudio.ui.resources import icon

CUSTOM = "Custom"


class SpecBarWidget(QWidget):
    """Presets, the spec's name and dirty flag, and the document's buttons."""

    preset_chosen = Signal(str)  # a preset's name
    new_requested = Signal()
    open_requested = Signal()
    save_requested = Signal()

    def __init__(self, undo: QAction, redo: QAction, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(8)
        bar.addWidget(QLabel("Preset:"))
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("presetCombo")
        self.preset_combo.setMinimumContentsLength(14)
        self.preset_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.preset_combo.activated.connect(self._on_preset_combo_activated)
        self.preset_combo.setEnabled(False)
        bar.addWidget(self.preset_combo)
        self._preset_help = hint_label()
        self._preset_help.setWordWrap(False)
        self._preset_help.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self._preset_help, 1)
        for action in (undo, redo):
            button = QToolButton()
            button.setDefaultAction(action)
            button.setAutoRaise(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            bar.addWidget(button)
        self.file_label = QLabel()
        self.file_label.setObjectName("specFileLabel")
        bar.addWidget(self.file_label)
        self._dirty_label = QLabel("● Unsaved changes")
        self._dirty_label.setObjectName("dirtyLabel")
        self._dirty_label.setToolTip("The spec has changed since it was last saved or opened")
        self._dirty_label.hide()
        bar.addWidget(self._dirty_label)
        new_button = QPushButton(icon("new"), "New")
        new_button.setToolTip("Start again from the default model for the dataset")
        new_button.clicked.connect(self.new_requested)
        bar.addWidget(new_button)
        open_button = QPushButton(icon("open"), "Open…")
        open_button.setToolTip("Open a model spec (JSON)")
        open_button.clicked.connect(self.open_requested)
        bar.addWidget(open_button)
        self._save_button = QPushButton(icon("save"), "Save…")
        self._save_button.setToolTip("Save this model spec as JSON")
        self._save_button.clicked.connect(self.save_requested)
        self._save_button.setEnabled(False)
        bar.addWidget(self._save_button)

    def set_presets(self, presets: Sequence[tuple[str, str]]) -> None:
        """``(name, title)`` per preset, after "Custom"; presets and Save become usable."""
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.clear()
            self.preset_combo.addItem(CUSTOM, None)
            for name, title in presets:
                self.preset_combo.addItem(title, name)
        self.preset_combo.setEnabled(True)
        self._save_button.setEnabled(True)

    def set_preset_fits(self, fits: Mapping[str, tuple[bool, str]], helps: Mapping[str, str]) -> None:
        """Enable the presets that fit (their help as tooltip); the others say why not."""
        model = self.preset_combo.model()
        for row in range(1, self.preset_combo.count()):
            name = self.preset_combo.itemData(row)
            ok, reason = fits.get(name, (True, ""))
            item = model.item(row)
            item.setEnabled(ok)
            item.setToolTip(helps.get(name, "") if ok else reason)

    def show_preset(self, name: str | None, help_text: str) -> None:
        """Show the preset the spec is (None: "Custom") and its help."""
        with QSignalBlocker(self.preset_combo):
            self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(name)) if name else 0)
        self._preset_help.setText(help_text)

    def show_document(self, name: str, tip: str, dirty: bool) -> None:
        """The spec's name (its file, or Untitled model), where it is, and whether it has unsaved changes."""
        self.file_label.setText(name)
        self.file_label.setToolTip(tip)
        self._dirty_label.setVisible(dirty)

    def _on_preset_combo_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name is not None:
            self.preset_chosen.emit(name)
