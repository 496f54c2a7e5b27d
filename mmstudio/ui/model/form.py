"""The Model page's spec form: the task, then a :class:`~mmstudio.ui.model.sections.ComponentSection` per
slot (text encoder, image encoder, fusion, head), each with its inline issues; scrolled.

It shows a spec and says what the user chose; the page applies the rules (:mod:`mmstudio.models.catalog`)
and shows the result. The registries come from the model library, given once it is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFrame, QScrollArea, QVBoxLayout, QWidget

from mmstudio.ui.model.sections import ComponentSection, IssueListWidget, hint_label
from mmstudio.ui.widgets import section_label
from mmstudio.vocabulary import SLOT_TITLES, TASK_HELP, TASK_TITLES

if TYPE_CHECKING:
    from types import ModuleType


class SpecFormWidget(QScrollArea):
    """Task and components of a spec, with their issues; see the module docstring."""

    task_chosen = Signal(str)
    entry_chosen = Signal(str, str)  # slot, entry name
    params_edited = Signal(str, object)  # slot, {param: value}
    download_clicked = Signal(str)  # slot: download its pretrained model
    cancel_clicked = Signal(str)  # slot: cancel that download

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelFormScroll")
        form = QWidget()
        form.setObjectName("modelForm")
        layout = QVBoxLayout(form)
        layout.setContentsMargins(4, 4, 14, 8)
        layout.setSpacing(16)
        self._general_issues = IssueListWidget()
        layout.addWidget(self._general_issues)
        task_box = QWidget()
        task_layout = QVBoxLayout(task_box)
        task_layout.setContentsMargins(0, 0, 0, 0)
        task_layout.setSpacing(6)
        task_layout.addWidget(section_label("Task"))
        self._task_combo = QComboBox()
        self._task_combo.setObjectName("taskCombo")
        self._task_combo.activated.connect(self._on_task_combo_activated)
        task_layout.addWidget(self._task_combo)
        self._task_help = hint_label()
        task_layout.addWidget(self._task_help)
        self._task_issues = IssueListWidget()
        task_layout.addWidget(self._task_issues)
        layout.addWidget(task_box)
        self.sections: dict[str, ComponentSection] = {}
        for slot, title in SLOT_TITLES.items():
            section = ComponentSection(slot, title)
            section.entry_chosen.connect(self.entry_chosen)
            section.params_edited.connect(self.params_edited)
            section.download_clicked.connect(self.download_clicked)
            section.cancel_clicked.connect(self.cancel_clicked)
            self.sections[slot] = section
            layout.addWidget(section)
        layout.addStretch(1)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidget(form)
        self.setMinimumWidth(340)

    def fill_choices(self, lib: ModuleType) -> None:
        """List the tasks and every registry's entries (the unavailable ones disabled, saying why)."""
        with QSignalBlocker(self._task_combo):
            self._task_combo.clear()
            for task in lib.TASKS:
                self._task_combo.addItem(TASK_TITLES.get(task, task.capitalize()), task)
                self._task_combo.setItemData(
                    self._task_combo.count() - 1, TASK_HELP.get(task, ""), Qt.ItemDataRole.ToolTipRole
                )
        for slot, section in self.sections.items():
            entries = []
            for name in lib.REGISTRIES[slot]:
                entry = lib.REGISTRIES[slot].get(name)
                ok, reason = entry.available()
                entries.append((name, entry.help, ok, entry.help if ok else f"Not available: {reason}"))
            section.set_entries(entries)

    def show_spec(self, spec: Mapping[str, Any], lib: ModuleType, *, edited: str | None = None) -> None:
        """Show ``spec`` (the form of slot ``edited`` is the user's already), with only the heads that
        serve its task enabled."""
        task = spec.get("task", "")
        with QSignalBlocker(self._task_combo):
            index = self._task_combo.findData(task)
            if index < 0:
                self._task_combo.addItem(f"{task} (unknown)", task)
                index = self._task_combo.count() - 1
            self._task_combo.setCurrentIndex(index)
        self._task_help.setText(TASK_HELP.get(task, f"{task!r} is not a task"))
        for slot, section in self.sections.items():
            if slot != edited:
                component = spec.get(slot) or {"name": "none"}
                registry = lib.REGISTRIES[slot]
                entry = registry.get(component["name"]) if component.get("name") in registry else None
                section.show_component(component, entry, rebuild=False)
        self.sections["head"].set_enabled_entries(lib.head_fits(task))

    def show_issues(self, issues: Sequence[Mapping[str, str]]) -> None:
        """Each issue under its slot, the task's under the task, the rest at the top."""
        by_slot: dict[str, list[Mapping[str, str]]] = {}
        for issue in issues:
            by_slot.setdefault(issue["component"], []).append(issue)
        for slot, section in self.sections.items():
            section.issues.set_issues(by_slot.pop(slot, []))
        self._task_issues.set_issues(by_slot.pop("task", []))
        self._general_issues.set_issues([i for rest in by_slot.values() for i in rest])

    def reveal(self, slot: str) -> None:
        """Scroll to the section of ``slot`` and focus its combo."""
        section = self.sections.get(slot)
        if section is not None:
            self.ensureWidgetVisible(section, 0, 0)
            section.combo.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_task_combo_activated(self, index: int) -> None:
        task = self._task_combo.itemData(index)
        if task is not None:
            self.task_chosen.emit(task)
