"""A form for the parameters of one registry entry, built from its ``Param`` declarations.

Nothing here knows a particular encoder or fusion: a newly registered module gets its form with no UI
code. Each type has its editor: ``int`` a spin box with the declared range, ``float`` a spin box (or a
line edit for log-scale values such as ``1e-4``), ``bool`` a check box, ``choice`` a combo box and ``str``
a line edit. The help becomes the tooltip and a short gray hint under the field.

A value the editor cannot show exactly (out of range, or of the wrong type, as in a hand-edited spec
file) is kept as given until that field is edited, so :meth:`ParamFormWidget.values` never "fixes" a
loaded spec behind the user's back: validation reports it instead.

Qt only: what a parameter is called, whether it is edited on a log scale and its whole-number range
are :class:`~mmstudio.models.registry.Param`'s (``label``, ``log_scale``, ``int_range``), read from the
declarations it is given, so importing this module does not import torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QLocale, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QDoubleValidator, QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio.formatting import format_float
from mmstudio.ui.widgets import WheelGuard

if TYPE_CHECKING:
    from mmstudio.models.registry import Param

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int
FLOAT_LIMIT = 1e12
LABEL_WIDTH = 112  # every form's labels line up, whatever their length


class ParamFormWidget(QWidget):
    """Editors for a list of parameters; :meth:`values` is ``{name: value}`` in declared order."""

    values_changed = Signal(object)  # the values dict, after any edit by the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._params: list[Any] = []
        self._editors: dict[str, QWidget] = {}
        self._hints: dict[str, QLabel] = {}
        self._fields: dict[str, QVBoxLayout] = {}
        self._kept: dict[str, Any] = {}  # values the editor cannot show, kept until edited
        self._wheel_guard = WheelGuard(self)
        self._layout = QFormLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setHorizontalSpacing(10)
        self._layout.setVerticalSpacing(6)
        self._layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self._layout.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)

    # --- building ---------------------------------------------------------------------------------

    def set_params(self, params: Sequence[Param], values: Mapping[str, Any] | None = None) -> None:
        """Replace the form with editors for ``params``, showing ``values`` (defaults for the rest)."""
        while self._layout.rowCount():
            self._layout.removeRow(0)
        self._params = list(params)
        self._editors.clear()
        self._hints.clear()
        self._fields.clear()
        self._kept.clear()
        if not self._params:
            empty = HintLabel("No parameters to set", small=True)
            empty.setObjectName("paramHint")
            self._hints[""] = empty
            self._layout.addRow(empty)
            return
        for param in self._params:
            editor = self._make_editor(param)
            editor.setObjectName(f"param_{param.name}")
            editor.setToolTip(param.help)
            self._wheel_guard.guard(editor)
            self._editors[param.name] = editor
            field = QWidget()
            column = QVBoxLayout(field)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(1)
            column.addWidget(self._with_browse(param, editor) if param.path else editor)
            hint = HintLabel(param.help, small=True)
            hint.setObjectName("paramHint")
            hint.setVisible(bool(param.help))
            column.addWidget(hint)
            self._hints[param.name] = hint
            self._fields[param.name] = column
            label = QLabel(param.label)
            label.setToolTip(param.help)
            label.setBuddy(editor)
            label.setContentsMargins(0, 3, 0, 0)
            label.setMinimumWidth(LABEL_WIDTH)
            self._layout.addRow(label, field)
        self.set_values(values or {})

    def _with_browse(self, param: Param, edit: QWidget) -> QWidget:
        """A path's line edit with a Browse button that picks the file or folder."""
        holder = QWidget()
        line = QHBoxLayout(holder)
        line.setContentsMargins(0, 0, 0, 0)
        line.setSpacing(4)
        line.addWidget(edit, 1)
        button = QToolButton()
        button.setText("Browse…")
        button.setObjectName(f"browse_{param.name}")
        button.setToolTip(f"Choose the {param.path}")
        button.clicked.connect(lambda _checked=False, p=param, e=edit: self._browse(p, e))
        line.addWidget(button)
        return holder

    def _browse(self, param: Param, edit: QLineEdit) -> None:
        start = edit.text() or str(Path.home())
        title = f"Choose the {param.label.lower()}"
        if param.path == "folder":
            chosen = QFileDialog.getExistingDirectory(self, title, start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, title, start)
        if chosen:
            edit.setText(chosen)
            self._on_editor_edited(param.name)

    def _make_editor(self, param: Param) -> QWidget:
        kind = param.type
        if kind == "int":
            box = QSpinBox()
            box.setRange(*param.int_range(INT_LIMIT))
            box.setAccelerated(True)
            box.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
            box.valueChanged.connect(lambda _v, n=param.name: self._on_editor_edited(n))
            return box
        if kind == "float" and param.log_scale:
            edit = QLineEdit()
            validator = QDoubleValidator(edit)
            validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
            validator.setBottom(param.low if param.low is not None else -FLOAT_LIMIT)
            validator.setTop(param.high if param.high is not None else FLOAT_LIMIT)
            validator.setLocale(QLocale.c())  # a dot, as Python and JSON write numbers
            edit.setValidator(validator)
            edit.setPlaceholderText(format_float(param.default))
            edit.setProperty("last_value", float(param.default))
            edit.textEdited.connect(lambda _t, n=param.name: self._on_number_edited(n))
            return edit
        if kind == "float":
            box = QDoubleSpinBox()
            low = param.low if param.low is not None else -FLOAT_LIMIT
            high = param.high if param.high is not None else FLOAT_LIMIT
            span = high - low
            box.setDecimals(3 if span <= 10 else 2)
            box.setSingleStep(0.05 if span <= 1 else 0.1 if span <= 10 else 1.0)
            box.setRange(low, high)
            box.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
            box.valueChanged.connect(lambda _v, n=param.name: self._on_editor_edited(n))
            return box
        if kind == "bool":
            check = QCheckBox()
            check.toggled.connect(lambda _v, n=param.name: self._on_editor_edited(n))
            return check
        if kind == "choice":
            combo = QComboBox()
            combo.addItems([str(c) for c in param.choices])
            combo.currentIndexChanged.connect(lambda _i, n=param.name: self._on_editor_edited(n))
            return combo
        edit = QLineEdit()
        edit.textEdited.connect(lambda _t, n=param.name: self._on_editor_edited(n))
        return edit

    # --- values -----------------------------------------------------------------------------------

    def params(self) -> list[Param]:
        return list(self._params)

    def editor(self, name: str) -> QWidget:
        """The editor of parameter ``name`` (for tests and focus)."""
        return self._editors[name]

    def hint(self, name: str) -> QLabel:
        return self._hints[name]

    def field_layout(self, name: str) -> QVBoxLayout | None:
        """The column of parameter ``name``'s field (editor, hint), where a caller may add a widget
        that belongs to it (it goes when the form is rebuilt: take it out first); None if no such
        parameter."""
        return self._fields.get(name)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for param in self._params:
            if param.name in self._kept:
                out[param.name] = self._kept[param.name]
            else:
                out[param.name] = self._read(param)
        return out

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show ``values`` (defaults for names left out) without emitting :attr:`values_changed`."""
        self._kept.clear()
        for param in self._params:
            value = values.get(param.name, param.default)
            editor = self._editors[param.name]
            with QSignalBlocker(editor):
                shown = self._write(param, editor, value)
            if not shown:
                self._kept[param.name] = value
            self._mark(param, editor)

    def set_value(self, name: str, value: Any) -> None:
        """Set one editor as the user would, emitting :attr:`values_changed` (for tests and scripts)."""
        param = next(p for p in self._params if p.name == name)
        editor = self._editors[name]
        self._write(param, editor, value)
        if isinstance(editor, QLineEdit):  # textEdited fires only for typing
            if param.type == "float":
                self._on_number_edited(name)
            else:
                self._on_editor_edited(name)

    def _read(self, param: Param) -> Any:
        editor = self._editors[param.name]
        if isinstance(editor, QSpinBox):
            return int(editor.value())
        if isinstance(editor, QDoubleSpinBox):
            return round(float(editor.value()), editor.decimals())
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, QComboBox):
            return param.choices[editor.currentIndex()] if editor.currentIndex() >= 0 else param.default
        if param.type == "float":  # the last acceptable number typed
            return float(editor.property("last_value"))
        return editor.text()

    def _write(self, param: Param, editor: QWidget, value: Any) -> bool:
        """Show ``value``; False when the editor cannot show it exactly."""
        if isinstance(editor, QSpinBox):
            ok = isinstance(value, int) and not isinstance(value, bool)
            ok = ok and editor.minimum() <= value <= editor.maximum()
            editor.setValue(value if ok else _clamp_number(value, editor, param.default))
            return ok
        if isinstance(editor, QDoubleSpinBox):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and editor.minimum() <= value <= editor.maximum()
            ok = ok and round(float(value), editor.decimals()) == float(value)
            editor.setValue(float(value) if ok else _clamp_number(value, editor, param.default))
            return ok
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
            return isinstance(value, bool)
        if isinstance(editor, QComboBox):
            if value in param.choices:
                editor.setCurrentIndex(list(param.choices).index(value))
                return True
            editor.setCurrentIndex(-1)
            return False
        assert isinstance(editor, QLineEdit)
        if param.type == "float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            editor.setText(format_float(float(value)) if ok else str(value))
            ok = ok and editor.hasAcceptableInput() and float(format_float(float(value))) == float(value)
            if ok:
                editor.setProperty("last_value", float(value))
            return ok
        editor.setText(value if isinstance(value, str) else str(value))
        return isinstance(value, str)

    def _on_number_edited(self, name: str) -> None:
        """A number typed in a line edit counts once it is acceptable (``3e-`` is not yet); until
        then the field is flagged and the last acceptable value stands."""
        editor = self._editors[name]
        assert isinstance(editor, QLineEdit)
        if not editor.hasAcceptableInput():
            editor.setProperty("invalid", True)
            editor.style().unpolish(editor)
            editor.style().polish(editor)
            return
        editor.setProperty("last_value", float(editor.text()))
        self._on_editor_edited(name)

    def _on_editor_edited(self, name: str) -> None:
        self._kept.pop(name, None)
        param = next(p for p in self._params if p.name == name)
        self._mark(param, self._editors[name])
        self.values_changed.emit(self.values())

    def _mark(self, param: Param, editor: QWidget) -> None:
        """A kept value the editor cannot show is named in the tooltip and flagged for the stylesheet."""
        kept = param.name in self._kept
        editor.setProperty("invalid", kept)
        tip = param.help
        if kept:
            tip = f"{tip}\n\nThe spec has {self._kept[param.name]!r} here, which this field cannot show."
        editor.setToolTip(tip.strip())
        editor.style().unpolish(editor)
        editor.style().polish(editor)


def _clamp_number(value: Any, editor: QAbstractSpinBox, default: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        value = default
    value = min(max(value, editor.minimum()), editor.maximum())
    return int(value) if isinstance(editor, QSpinBox) else float(value)


class HintLabel(QLabel):
    """Gray explanatory text (word-wrapped) in the palette's placeholder colour, kept in step when
    the palette changes, so a dark theme keeps it readable; ``small`` makes it a little smaller."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, small: bool = False) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self._recolouring = False
        if small:
            font = QFont(self.font())
            size = font.pointSizeF()
            if size > 0:
                font.setPointSizeF(max(7.5, size * 0.9))
            self.setFont(font)
        self._recolour()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and not self._recolouring:
            self._recolour()

    def _recolour(self) -> None:
        palette = self.palette()
        colour = palette.color(QPalette.ColorRole.PlaceholderText)
        if palette.color(QPalette.ColorRole.WindowText) == colour:
            return
        palette.setColor(QPalette.ColorRole.WindowText, colour)
        self._recolouring = True
        try:
            self.setPalette(palette)
        finally:
            self._recolouring = False
