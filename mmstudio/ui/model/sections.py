"""The Model page's form parts: a section per spec slot (its entries, help, parameter form and issues)
and the list of a spec's validation issues."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QComboBox, QCompleter, QFrame, QLineEdit, QVBoxLayout, QWidget

from mmstudio.ui.model.pretrained import PretrainedModelWidget
from mmstudio.ui.param_form import HintLabel, ParamFormWidget
from mmstudio.ui.resources import icon
from mmstudio.ui.widgets import MessageBar, section_label


def hint_label(text: str = "") -> HintLabel:
    """A gray explanatory line of the page (the ``hint`` style)."""
    label = HintLabel(text)
    label.setObjectName("hint")
    return label


class IssueListWidget(QWidget):
    """One inline message per validation issue (errors first), hidden when there are none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 4, 0, 0)
        self._layout.setSpacing(4)
        self._bars: list[MessageBar] = []
        self.hide()

    def set_issues(self, issues: Sequence[Mapping[str, str]]) -> None:
        for bar in self._bars:
            bar.deleteLater()
        self._bars = []
        for issue in issues:
            bar = MessageBar(self)
            level = issue.get("level", "error")
            bar.show_message(issue.get("message", ""), level if level in MessageBar.LEVELS else "error")
            self._layout.addWidget(bar)
            self._bars.append(bar)
        self.setVisible(bool(self._bars))

    def messages(self) -> list[str]:
        return [bar.label.text() for bar in self._bars]


class ComponentSection(QFrame):
    """One slot of the spec: a combo of the registry's entries (unavailable ones disabled, their
    reason as tooltip), the chosen entry's help, its parameter form, and its issues."""

    entry_chosen = Signal(str, str)  # slot, entry name
    params_edited = Signal(str, object)  # slot, {param: value}
    download_clicked = Signal(str)  # slot
    cancel_clicked = Signal(str)  # slot

    def __init__(self, slot: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slot = slot
        self.setObjectName(f"section_{slot}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(section_label(title))
        self.combo = QComboBox()
        self.combo.setObjectName(f"{slot}_combo")
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(16)
        self._model = QStandardItemModel(self.combo)
        self.combo.setModel(self._model)
        self.combo.activated.connect(self._on_combo_activated)
        layout.addWidget(self.combo)
        self.help = hint_label()
        layout.addWidget(self.help)
        self.form = ParamFormWidget()
        self.form.setObjectName(f"{slot}_form")
        self.form.values_changed.connect(self._on_form_values_changed)
        form_box = QWidget()
        form_layout = QVBoxLayout(form_box)
        form_layout.setContentsMargins(14, 2, 0, 0)
        form_layout.addWidget(self.form)
        layout.addWidget(form_box)
        self.pretrained = PretrainedModelWidget()
        self.pretrained.setObjectName(f"{slot}_pretrained")
        self.pretrained.model_chosen.connect(self._on_pretrained_model_chosen)
        self.pretrained.download_clicked.connect(self._on_pretrained_download_clicked)
        self.pretrained.cancel_clicked.connect(self._on_pretrained_cancel_clicked)
        self.pretrained.hide()
        layout.insertWidget(layout.indexOf(form_box), self.pretrained)  # above the model's parameters
        self.issues = IssueListWidget()
        layout.addWidget(self.issues)
        self._entry: str | None = None
        self._completions: list[str] = []

    def set_entries(self, entries: Sequence[tuple[str, str, bool, str]]) -> None:
        """``(name, help, enabled, tooltip)`` per entry, in registry order."""
        current = self.current()
        with QSignalBlocker(self.combo):
            self._model.clear()
            for name, help_text, enabled, tooltip in entries:
                item = QStandardItem(name)
                item.setData(name, Qt.ItemDataRole.UserRole)
                item.setToolTip(tooltip or help_text)
                item.setEnabled(enabled)
                self._model.appendRow(item)
            if current is not None:
                self._select(current)

    def set_enabled_entries(self, enabled: Mapping[str, tuple[bool, str]]) -> None:
        for row in range(self._model.rowCount()):
            item = self._model.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            if name in enabled:
                ok, tip = enabled[name]
                item.setEnabled(ok)
                if tip:
                    item.setToolTip(tip)

    def current(self) -> str | None:
        index = self.combo.currentIndex()
        return None if index < 0 else self.combo.itemData(index, Qt.ItemDataRole.UserRole)

    def names(self) -> list[str]:
        return [self.combo.itemData(i, Qt.ItemDataRole.UserRole) for i in range(self.combo.count())]

    def is_entry_enabled(self, name: str) -> bool:
        row = self.names().index(name)
        return self._model.item(row).isEnabled()

    def show_component(self, component: Mapping[str, Any], entry: Any | None, *, rebuild: bool) -> None:
        """Select ``component["name"]`` (adding it, marked unknown, if the registry lacks it) and show
        its params; ``entry`` is its registry entry (None when unknown)."""
        name = str(component.get("name", ""))
        with QSignalBlocker(self.combo):
            self._select(name)
        values = {k: v for k, v in component.items() if k != "name"}
        if rebuild or name != self._entry:
            self.form.set_params(entry.params if entry is not None else (), values)
            self.form.parentWidget().setVisible(entry is None or bool(entry.params))
            self._entry = name
            self._attach_completer()
        else:
            self.form.set_values(values)
        self._attach_completer()
        self.help.setText(entry.help if entry is not None else f"{name!r} is not in the registry")

    def set_model_completions(self, ids: Sequence[str]) -> None:
        """The model ids the ``model`` field completes (suggested and cached models)."""
        self._completions = list(ids)
        self._attach_completer()

    def _attach_completer(self) -> None:
        names = [p.name for p in self.form.params()]
        editor = self.form.editor("model") if "model" in names else None
        if not isinstance(editor, QLineEdit):
            return
        if not editor.hasFocus():
            editor.setCursorPosition(0)  # a long hub id shows its organisation, not its tail
        completer = QCompleter(self._completions, editor)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        editor.setCompleter(completer)
        editor.setPlaceholderText("a Hugging Face id, or a folder (Browse…)")

    def _on_pretrained_model_chosen(self, ident: str) -> None:
        """A suggested model picked: the ``model`` field takes it (and a recorded revision, which was
        another model's, goes)."""
        values = {**self.form.values(), "model": ident}
        if "revision" in values:
            values["revision"] = ""
        self.form.set_values(values)
        self.params_edited.emit(self.slot, self.form.values())

    def _on_pretrained_download_clicked(self) -> None:
        self.download_clicked.emit(self.slot)

    def _on_pretrained_cancel_clicked(self) -> None:
        self.cancel_clicked.emit(self.slot)

    def _select(self, name: str) -> None:
        names = self.names()
        for row in reversed(range(self._model.rowCount())):  # a stale "unknown" item goes
            item = self._model.item(row)
            if item.data(Qt.ItemDataRole.UserRole + 1) and names[row] != name:
                self._model.removeRow(row)
        names = self.names()
        if name not in names:
            item = QStandardItem(icon("error"), f"{name} (unknown)")
            item.setData(name, Qt.ItemDataRole.UserRole)
            item.setData(True, Qt.ItemDataRole.UserRole + 1)
            self._model.appendRow(item)
            names = self.names()
        self.combo.setCurrentIndex(names.index(name))

    def _on_combo_activated(self, index: int) -> None:
        name = self.combo.itemData(index, Qt.ItemDataRole.UserRole)
        if name is not None and name != self._entry:
            self.entry_chosen.emit(self.slot, name)

    def _on_form_values_changed(self, values: dict) -> None:
        self.params_edited.emit(self.slot, values)
