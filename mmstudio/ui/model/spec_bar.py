"""The top bar of the Model page: the preset (a combo, with the presets that cannot serve the task
disabled and the chosen one's help beside it), the spec's file, its unsaved changes, and Open and Save
with their file dialogs (Open asks first before unsaved changes are discarded)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from mmstudio.ui.model.sections import hint_label
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings

CUSTOM = "Custom"


class SpecBarWidget(QWidget):
    """Presets, file and dirty flag; it says what the user asked for, the page does it."""

    preset_chosen = Signal(str)  # a preset's name
    open_chosen = Signal(str)  # the spec file to open
    save_chosen = Signal(str)  # where to save the spec (.json)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self._path: Path | None = None
        self._dirty = False
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
        self._file_label = QLabel()
        self._file_label.setObjectName("specFileLabel")
        bar.addWidget(self._file_label)
        self._dirty_label = QLabel("● Unsaved changes")
        self._dirty_label.setObjectName("dirtyLabel")
        self._dirty_label.setToolTip("The spec has changed since it was last saved or opened")
        self._dirty_label.hide()
        bar.addWidget(self._dirty_label)
        open_button = QPushButton(icon("open"), "Open…")
        open_button.setToolTip("Open a model spec (JSON)")
        open_button.clicked.connect(self._on_open_button_clicked)
        bar.addWidget(open_button)
        self._save_button = QPushButton(icon("save"), "Save…")
        self._save_button.setToolTip("Save this model spec as JSON")
        self._save_button.clicked.connect(self._on_save_button_clicked)
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

    def set_file(self, path: Path | None) -> None:
        self._path = path
        if path is None:
            self._file_label.clear()
            return
        self._file_label.setText(path.name)
        self._file_label.setToolTip(str(path))

    def set_dirty(self, dirty: bool) -> None:
        self._dirty = dirty
        self._dirty_label.setVisible(dirty)

    def _on_preset_combo_activated(self, index: int) -> None:
        name = self.preset_combo.itemData(index)
        if name is not None:
            self.preset_chosen.emit(name)

    def _spec_dir(self) -> str:
        return self._settings.last_spec_dir or str(Path.home())

    def _on_open_button_clicked(self) -> None:
        if self._dirty:
            answer = QMessageBox.question(
                self,
                "Unsaved changes",
                "The model spec has unsaved changes. Open another one and discard them?",
                QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Discard:
                return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model spec", self._spec_dir(), "Model spec (*.json);;All files (*)"
        )
        if path:
            self.open_chosen.emit(path)

    def _on_save_button_clicked(self) -> None:
        start = str(self._path) if self._path else str(Path(self._spec_dir()) / "model.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save the model spec", start, "Model spec (*.json)")
        if path:
            self.save_chosen.emit(path if path.lower().endswith(".json") else path + ".json")
