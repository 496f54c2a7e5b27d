"""ParamFormWidget: a form from registry Param declarations, for any entry, with no entry-specific code."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSpinBox

from mmstudio.models import FUSIONS, HEADS, IMAGE_ENCODERS, TEXT_ENCODERS, Param
from mmstudio.ui.param_form import ParamFormWidget

REGISTRIES = {"text": TEXT_ENCODERS, "image": IMAGE_ENCODERS, "fusion": FUSIONS, "head": HEADS}

PARAMS = [
    Param("width", "int", 24, 4, 512, help="features per token"),
    Param("dropout", "float", 0.1, 0.0, 0.9, help="dropout rate"),
    Param("lr_scale", "float", 1e-4, 1e-6, 1.0, help="a value that spans decades"),
    Param("frozen", "bool", False, help="keep it fixed"),
    Param("pooling", "choice", "mean", choices=("mean", "max", "cls"), help="how to pool"),
    Param("kernel_sizes", "str", "3,4,5", help="comma-separated widths"),
]


@pytest.fixture
def form(qtbot):
    widget = ParamFormWidget()
    qtbot.addWidget(widget)
    widget.set_params(PARAMS)
    return widget


def _all_entries():
    for kind, registry in REGISTRIES.items():
        for name in registry:
            yield pytest.param(registry.get(name), id=f"{kind}-{name}")


@pytest.mark.parametrize("entry", list(_all_entries()))
def test_every_registered_entry_gets_a_form_showing_its_defaults(qtbot, entry):
    widget = ParamFormWidget()
    qtbot.addWidget(widget)
    widget.set_params(entry.params)
    assert widget.values() == entry.defaults()
    for param in entry.params:
        assert widget.editor(param.name).toolTip() == param.help


def test_each_type_gets_its_editor_with_the_declared_range(form):
    width = form.editor("width")
    assert isinstance(width, QSpinBox) and (width.minimum(), width.maximum()) == (4, 512)
    dropout = form.editor("dropout")
    assert isinstance(dropout, QDoubleSpinBox) and (dropout.minimum(), dropout.maximum()) == (0.0, 0.9)
    assert isinstance(form.editor("lr_scale"), QLineEdit)  # log scale: typed, not spun
    assert isinstance(form.editor("frozen"), QCheckBox)
    pooling = form.editor("pooling")
    assert isinstance(pooling, QComboBox)
    assert [pooling.itemText(i) for i in range(pooling.count())] == ["mean", "max", "cls"]
    assert isinstance(form.editor("kernel_sizes"), QLineEdit)
    assert form.values() == {p.name: p.default for p in PARAMS}


def test_help_is_a_tooltip_and_a_gray_hint(form):
    assert form.editor("width").toolTip() == "features per token"
    hint = form.hint("width")
    assert hint.text() == "features per token" and not hint.isHidden()
    labels = {label.buddy(): label.text() for label in form.findChildren(QLabel) if label.buddy()}
    assert labels[form.editor("kernel_sizes")] == "Kernel sizes"  # Param.label


def test_edits_emit_the_new_values(qtbot, form):
    with qtbot.waitSignal(form.values_changed) as signal:
        form.editor("width").setValue(64)
    assert signal.args[0]["width"] == 64
    with qtbot.waitSignal(form.values_changed) as signal:
        form.editor("pooling").setCurrentIndex(2)
    assert signal.args[0]["pooling"] == "cls"
    with qtbot.waitSignal(form.values_changed) as signal:
        form.editor("frozen").setChecked(True)
    assert signal.args[0]["frozen"] is True
    edit = form.editor("lr_scale")
    edit.clear()
    emitted = []
    form.values_changed.connect(emitted.append)
    qtbot.keyClicks(edit, "3e-4")
    # "3" is above the maximum and "3e-" is not a number yet: only acceptable numbers count
    assert [v["lr_scale"] for v in emitted] == [pytest.approx(3e-4)]
    assert form.values()["lr_scale"] == pytest.approx(3e-4)
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)  # "3e-": not a number yet
    assert edit.text() == "3e-"
    assert edit.property("invalid") is True and form.values()["lr_scale"] == pytest.approx(3e-4)
    with qtbot.waitSignal(form.values_changed) as signal:
        form.set_value("kernel_sizes", "2,3")
    assert signal.args[0]["kernel_sizes"] == "2,3"


def test_set_values_shows_values_without_emitting(qtbot, form):
    with qtbot.assertNotEmitted(form.values_changed):
        form.set_values({"width": 100, "dropout": 0.25, "frozen": True, "pooling": "max"})
    values = form.values()
    assert (values["width"], values["dropout"], values["frozen"], values["pooling"]) == (
        100,
        0.25,
        True,
        "max",
    )
    assert values["kernel_sizes"] == "3,4,5"  # left out: its default


def test_a_value_the_editor_cannot_show_is_kept_until_edited(qtbot, form):
    """A hand-edited spec with an out-of-range value is not silently clamped: validation explains it."""
    form.set_values({"width": 100_000, "pooling": "median"})
    assert form.values()["width"] == 100_000
    assert form.values()["pooling"] == "median"
    assert form.editor("width").property("invalid") is True
    assert "100000" in form.editor("width").toolTip()
    with qtbot.waitSignal(form.values_changed) as signal:
        form.editor("width").setValue(32)
    assert signal.args[0]["width"] == 32
    assert form.editor("width").property("invalid") is False
    assert signal.args[0]["pooling"] == "median"  # still kept: not edited


def test_a_form_without_parameters_says_so(qtbot):
    widget = ParamFormWidget()
    qtbot.addWidget(widget)
    widget.set_params([])
    assert widget.values() == {}
    assert widget.hint("").text() == "No parameters to set"


def test_a_path_parameter_has_a_browse_button(qtbot, monkeypatch, tmp_path):
    """Issue 12: a Browse button wherever a path is typed (the sentence model's folder)."""
    from PySide6.QtWidgets import QFileDialog, QToolButton

    from mmstudio.models import Param

    form = ParamFormWidget()
    qtbot.addWidget(form)
    form.set_params([Param("path", "str", "", help="a folder", path="folder"), Param("name", "str", "x")])
    button = form.findChild(QToolButton, "browse_path")
    assert button is not None and form.findChild(QToolButton, "browse_name") is None
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    with qtbot.waitSignal(form.values_changed) as changed:
        button.click()
    assert changed.args[0]["path"] == str(tmp_path) == form.values()["path"]
