"""The Train page's hyperparameter form: a spec shown and read back (fields without a control kept),
early stopping offering the vocabulary's monitors, the detected devices, and the learning rate typed
either way and stepped on a log scale."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtGui import QValidator

from mmstudio.training.device import DeviceInfo
from mmstudio.training.spec import TrainSpec
from mmstudio.ui.train.spec_form import LearningRateSpinBox, TrainSpecFormWidget
from mmstudio.vocabulary import MONITOR_CHOICES


@pytest.fixture
def form(qtbot) -> TrainSpecFormWidget:
    widget = TrainSpecFormWidget()
    qtbot.addWidget(widget)
    return widget


def test_a_spec_reads_back_as_given_with_the_fields_the_form_has_no_control_for(form):
    spec = TrainSpec(
        epochs=7,
        batch_size=48,
        lr=3e-5,
        optimizer="sgd",
        schedule="step",
        warmup_steps=100,
        weight_decay=0.05,
        precision="fp32",
        seed=11,
        device="cpu",
        early_stopping_metric="val/accuracy",
        patience=4,
        image_size=32,  # no control: kept
        max_len=16,
    )
    form.set_train_spec(spec)
    assert form.train_spec() == spec
    form.epochs_spin.setValue(9)
    form.warmup_spin.setValue(-1)  # the "auto" end of the range
    assert form.train_spec() == dataclasses.replace(spec, epochs=9, warmup_steps=None)
    assert form.run_name() is None
    form.name_edit.setText("  baseline ")
    assert form.run_name() == "baseline"


def test_early_stopping_offers_the_monitors_and_keeps_any_other_metric(form):
    offered = [form.early_combo.itemData(i) for i in range(form.early_combo.count())]
    assert offered == ["key", None, *MONITOR_CHOICES]
    assert form.early_combo.currentData() == "key"  # on by default, by the task's key metric
    assert form.train_spec().early_stopping and form.train_spec().best_metric is None
    assert form.patience_spin.text() == "auto (by dataset size)" and form.train_spec().patience is None
    form.early_combo.setCurrentIndex(1)
    assert not form.train_spec().stops_early
    form.set_train_spec(TrainSpec(early_stopping_metric="val/top1_err"))
    assert form.train_spec().early_stopping_metric == "val/top1_err"
    assert form.early_combo.currentText() == "val/top1_err"


def test_the_device_choice_lists_the_detected_devices_and_keeps_the_choice(form):
    assert form.train_spec().device == "auto"
    gpu = DeviceInfo("cuda:0", "cuda", "NVIDIA H100, 79.1 GiB", 79 << 30)
    cpu = DeviceInfo("cpu", "cpu", "CPU, 2 logical cores")
    form.set_devices([gpu, cpu])
    texts = [form.device_combo.itemText(i) for i in range(form.device_combo.count())]
    assert texts == ["auto (cuda:0)", "cuda:0: NVIDIA H100, 79.1 GiB", "cpu: CPU, 2 logical cores"]
    form.device_combo.setCurrentIndex(2)
    form.set_devices([gpu, cpu])
    assert form.train_spec().device == "cpu"
    form.set_train_spec(TrainSpec(device="cuda:1"))  # not found here: offered anyway, as asked
    assert form.train_spec().device == "cuda:1"


def test_the_learning_rate_is_typed_either_way_and_stepped_on_a_log_scale(qtbot):
    spin = LearningRateSpinBox()
    qtbot.addWidget(spin)
    spin.setValue(3e-5)
    assert spin.text() == "3e-05"
    assert spin.valueFromText("1e-3") == pytest.approx(1e-3)
    assert spin.valueFromText("fast") == pytest.approx(3e-5)  # not a number: the value stays
    assert spin.validate("0.001", 0)[0] == QValidator.State.Acceptable
    assert spin.validate("1e-", 0)[0] == QValidator.State.Intermediate
    assert spin.validate("abc", 0)[0] == QValidator.State.Invalid
    assert spin.validate("100", 0)[0] == QValidator.State.Intermediate  # above the range
    spin.setValue(1e-3)
    spin.stepBy(10)  # ten steps a decade
    assert spin.value() == pytest.approx(1e-2)
    spin.stepBy(-1)
    assert spin.value() == pytest.approx(0.00794)


def test_augmentation_settings_read_back_with_tooltips_and_say_when_edited(form, qtbot):
    assert form.train_spec().augment_image == "none" and form.train_spec().augment_text == "none"
    assert not form.augment_flip_check.isEnabled()  # flips belong to image augmentation
    levels = [form.augment_image_combo.itemData(i) for i in range(form.augment_image_combo.count())]
    assert levels == ["none", "light", "strong"]
    for widget in (form.augment_image_combo, form.augment_flip_check, form.augment_text_combo):
        assert widget.toolTip()
    assert {form.augment_image_combo, form.augment_text_combo} <= set(form.fields())
    spec = TrainSpec(augment_image="strong", augment_flip=False, augment_text="light", image_size=32)
    form.set_train_spec(spec)
    assert form.train_spec() == spec and form.augment_flip_check.isEnabled()
    with qtbot.waitSignal(form.augmentation_changed):
        form.augment_text_combo.setCurrentIndex(2)
    with qtbot.waitSignal(form.augmentation_changed):
        form.augment_flip_check.setChecked(True)
    assert form.train_spec() == dataclasses.replace(spec, augment_text="strong", augment_flip=True)


def test_the_fusion_guard_is_a_box_that_reads_back(form):
    """On by default, as in TrainSpec; off in a spec shows off, and unticking turns it off."""
    assert form.fusion_guard_check.isChecked() and form.train_spec().fusion_guard
    assert "never worse on val" in form.fusion_guard_check.toolTip()
    form.set_train_spec(TrainSpec(fusion_guard=False))
    assert not form.fusion_guard_check.isChecked() and not form.train_spec().fusion_guard
    form.fusion_guard_check.setChecked(True)
    assert form.train_spec() == TrainSpec(fusion_guard=True)
