"""The model spec as a document: its file (or, while untitled, where it came from), whether it has
unsaved changes, its undo history, and the questions asked before it is replaced.

Every change of the builder's spec goes through :meth:`SpecDocument.change`, which records it on a
``QUndoStack`` (Ctrl+Z / Ctrl+Shift+Z); consecutive edits of one component's parameters merge into one
step, as typing in a field does. Whatever replaces the whole spec (a preset, a file, a run's model, a
new spec) first asks, when there are unsaved changes, whether to save them, discard them or cancel.
A model opened from a run is untitled until it is saved: Save then asks where, and never writes over
the file that was open before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from mmstudio.training.spec import MODEL_SPEC_SUFFIXES, model_spec_save_path, model_spec_suffix
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings

# A model spec is JSON; Save suggests the name this platform's desktop opens in mmstudio
# (training.spec.model_spec_suffix), and any of them, or .json, opens.
SPEC_FILTER = f"Model specs ({' '.join(f'*{s}' for s in MODEL_SPEC_SUFFIXES)} *.json);;All files (*)"
_PARAMS_MERGE_ID = 1000  # undo ids of parameter edits: this plus the slot's index


class _SpecChange(QUndoCommand):
    """One step of the builder's history: the spec before and after, applied through the page."""

    def __init__(
        self, document: SpecDocument, before: dict, after: dict, text: str, merge: int, hint: str | None
    ):
        super().__init__(text)
        self.document, self.before, self.after, self.merge, self.hint = document, before, after, merge, hint
        self._first = True

    def id(self) -> int:  # Qt override: -1 never merges
        return self.merge

    def mergeWith(self, other: QUndoCommand) -> bool:  # Qt override
        if not isinstance(other, _SpecChange) or other.merge != self.merge:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:  # Qt override: the first redo is the change itself, made with its hint
        self.document.show(self.after, self.hint if self._first else None)
        self._first = False

    def undo(self) -> None:  # Qt override
        self.document.show(self.before, None)


class SpecDocument(QObject):
    """The spec's file, origin, clean state and history; ``show(spec, hint)`` puts a spec on the page
    (``hint``: the component whose form made the edit, left as it is)."""

    changed = Signal()  # the file, the origin or the unsaved state changed

    def __init__(
        self,
        page: QWidget,
        settings: Settings,
        show: Callable[[dict, str | None], None],
        current: Callable[[], dict],
    ) -> None:
        super().__init__(page)
        self._page, self._settings, self._show, self._current = page, settings, show, current
        self.path: Path | None = None
        self.origin = ""  # where an untitled spec came from ("run 3 (baseline)")
        self._clean: dict | None = None
        self._dirty = False
        self.history = QUndoStack(self)
        self.undo_action = self._page_action(self.history.createUndoAction(self, "Undo"), "undo")
        self.undo_action.setShortcuts([QKeySequence(QKeySequence.StandardKey.Undo)])
        self.redo_action = self._page_action(self.history.createRedoAction(self, "Redo"), "redo")
        self.redo_action.setShortcuts(
            [QKeySequence("Ctrl+Shift+Z"), QKeySequence(QKeySequence.StandardKey.Redo)]
        )

    def _page_action(self, action: QAction, icon_name: str) -> QAction:
        action.setIcon(icon(icon_name))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._page.addAction(action)
        return action

    # --- history ----------------------------------------------------------------------------------

    def show(self, spec: dict, hint: str | None) -> None:
        self._show(copy.deepcopy(spec), hint)
        self.update_dirty()

    def change(self, after: dict, text: str, *, params_of: str | None = None, slot: int = 0) -> None:
        """Make ``after`` the spec, as one step of the history (``params_of``: a component whose
        parameters were edited; such steps merge while the same component is edited)."""
        before = self._current()
        if after == before:
            return
        merge = _PARAMS_MERGE_ID + slot if params_of else -1
        self.history.push(
            _SpecChange(self, copy.deepcopy(before), copy.deepcopy(after), text, merge, params_of)
        )

    def reset(self, spec: dict, *, path: Path | None = None, origin: str = "") -> None:
        """A spec that is not an edit (the default for the data, a file just read): shown, clean, with
        a history of its own."""
        self.history.clear()
        self._clean = copy.deepcopy(spec)
        self.path, self.origin = path, origin
        self.show(spec, None)
        self.changed.emit()

    def replace(self, spec: dict, text: str, *, path: Path | None = None, origin: str = "") -> None:
        """A spec that replaces the page's (a preset keeps the file; a file or a run's model is clean):
        an undoable step; ``path`` / ``origin`` set the document's file."""
        self.change(spec, text)
        if path is not None or origin:
            self._clean = copy.deepcopy(spec)
            self.path, self.origin = path, origin
        self.update_dirty()
        self.changed.emit()

    def saved(self, spec: dict, path: Path) -> None:
        self._clean = copy.deepcopy(spec)
        self.path, self.origin = path, ""
        self.update_dirty()
        self.changed.emit()

    def update_dirty(self) -> None:
        dirty = self._clean is not None and self._current() != self._clean
        if dirty != self._dirty:
            self._dirty = dirty
            self.changed.emit()

    def is_dirty(self) -> bool:
        return self._dirty

    # --- what the document is called ------------------------------------------------------------

    def name(self) -> str:
        """The file's name, or ``Untitled model`` (``Untitled model (from run 3 (baseline))``)."""
        if self.path is not None:
            return self.path.name
        return f"Untitled model (from {self.origin})" if self.origin else "Untitled model"

    # --- questions ----------------------------------------------------------------------------------

    def confirm_discard(self, doing: str, save: Callable[[], bool]) -> bool:
        """True when there are no unsaved changes, or the user saved (``save()``) or discarded them
        before ``doing`` ("open the model of run 3")."""
        if not self._dirty:
            return True
        answer = QMessageBox.question(
            self._page,
            "Unsaved model spec",
            f"The model spec {self.name()} has changes that are not saved. Save them before you {doing}?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
        if answer == QMessageBox.StandardButton.Save:
            return save()
        return answer == QMessageBox.StandardButton.Discard

    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self._page, "Open a model spec", self._folder(), SPEC_FILTER)
        return path or None

    def ask_save_path(self) -> str | None:
        start = str(self.path) if self.path else str(Path(self._folder()) / f"model{model_spec_suffix()}")
        path, _ = QFileDialog.getSaveFileName(self._page, "Save the model spec", start, SPEC_FILTER)
        return model_spec_save_path(path) if path else None

    def _folder(self) -> str:
        return self._settings.last_spec_dir or str(Path.home())
