"""The Train page's hyperparameter form: a :class:`~mmstudio.training.spec.TrainSpec` shown and edited
field by field, the device to train on, early stopping, augmentation, and the run's name.

The form edits a spec, never a half-built one: :meth:`TrainSpecFormWidget.train_spec` returns the spec
last given to :meth:`TrainSpecFormWidget.set_train_spec` with the form's fields put in (the spec's
fields that have no control here are kept as they were), and the spec validates itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from mmstudio.training.device import DeviceInfo
from mmstudio.training.spec import OPTIMIZERS, PRECISIONS, SCHEDULES, TrainSpec
from mmstudio.ui.widgets import WheelGuard
from mmstudio.vocabulary import MONITOR_CHOICES


class LearningRateSpinBox(QDoubleSpinBox):
    """A learning rate: shown as ``0.003`` or ``3e-05``, typed in either form, and stepped on a log scale
    (each arrow press or wheel notch multiplies or divides by about 1.26, ten steps a decade)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(1e-8, 10.0)
        self.setKeyboardTracking(False)

    def textFromValue(self, value: float) -> str:
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> object:
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:
            ok = all(c in "0123456789.eE+-" for c in stripped)
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def stepBy(self, steps: int) -> None:
        value = self.value() * 10.0 ** (steps / 10.0)
        self.setValue(float(f"{value:.3g}"))


class TrainSpecFormWidget(QWidget):
    """Epochs, batch size, learning rate, optimizer, schedule, warm-up, weight decay, precision, seed,
    device, early stopping, augmentation and the run's name, as a form. The Device choice lists what
    :meth:`set_devices` gives (``auto`` until then). ``augmentation_changed`` when an augmentation
    setting is edited (the page's summary says what the run augments)."""

    augmentation_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base_spec = TrainSpec()
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setSpacing(8)  # as the page's column (a nested layout would inherit it)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 100_000)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1 << 16)
        self.lr_spin = LearningRateSpinBox()
        self.lr_spin.setToolTip("Type 0.001 or 1e-3; the arrows step on a log scale (10 steps a decade)")
        self.optimizer_combo = QComboBox()
        self.optimizer_combo.addItems(OPTIMIZERS)
        self.schedule_combo = QComboBox()
        self.schedule_combo.addItems(SCHEDULES)
        self.warmup_spin = QSpinBox()
        self.warmup_spin.setRange(-1, 10_000_000)
        self.warmup_spin.setSpecialValueText("auto (5 % of the steps)")
        self.warmup_spin.setSuffix(" steps")
        self.decay_spin = QDoubleSpinBox()
        self.decay_spin.setRange(0.0, 10.0)
        self.decay_spin.setDecimals(4)
        self.decay_spin.setSingleStep(0.01)
        self.precision_combo = QComboBox()
        self.precision_combo.addItems(PRECISIONS)
        self.precision_combo.setToolTip("auto: bf16 (or fp16) on a CUDA GPU, fp32 elsewhere")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.device_combo = QComboBox()
        self.device_combo.addItem("auto (looking for devices…)", "auto")
        self.early_combo = QComboBox()
        self.early_combo.addItem("on: the task's key metric", _KEY_METRIC)
        self.early_combo.addItem("off", None)
        self.early_combo.setToolTip(
            "The metric that picks the best checkpoint (the weights evaluated at the end) and stops the "
            "run when it stalls; with early stopping off it still picks the checkpoint"
        )
        for key in MONITOR_CHOICES:
            self.early_combo.addItem(key, key)
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(0, 10_000)
        self.patience_spin.setSpecialValueText("auto (by dataset size)")
        self.patience_spin.setSuffix(" epochs")
        self.augment_image_combo = QComboBox()
        for level, text in _IMAGE_LEVELS.items():
            self.augment_image_combo.addItem(text, level)
        self.augment_image_combo.setToolTip(
            "Random changes to each training image, never to validation or test images:\n"
            "light: a random crop of 60-100 % of the image, resized back, and a horizontal flip;\n"
            "strong: a crop of 35-100 %, the flip, brightness, contrast and saturation ± 30 %, and one\n"
            "TrivialAugment operation (rotate, shear, posterize, ...). Helps a small dataset generalise;\n"
            "leave strong off when colour tells the classes apart. The Datasets page's item view shows\n"
            "what a level does to an image."
        )
        self.augment_flip_check = QCheckBox("horizontal flips")
        self.augment_flip_check.setToolTip(
            "Flip training images left to right at random. Turn off when the images hold text or the "
            "label depends on left and right."
        )
        self.augment_text_combo = QComboBox()
        for level, text in _TEXT_LEVELS.items():
            self.augment_text_combo.addItem(text, level)
        self.augment_text_combo.setToolTip(
            "Random changes to each training text, never to validation or test texts:\n"
            "light: each word is dropped with probability 0.1;\n"
            "strong: the dropout, and a run of 15 % of the words is masked.\n"
            "A pretrained model's special tokens ([CLS], [SEP], ...) are never touched."
        )
        self.fusion_guard_check = QCheckBox("answer from one modality when it alone scores better")
        self.fusion_guard_check.setToolTip(
            "The fusion guard: a model that fuses text and image also trains a head on each modality.\n"
            "When training ends, if the text's or the image's own head scores better on val than the\n"
            "fusion, the model answers from it from then on (the run's log says so), so a fused model\n"
            "is never worse on val than its better modality."
        )
        self.augment_image_combo.currentIndexChanged.connect(self._on_augment_image_changed)
        self.augment_flip_check.toggled.connect(self.augmentation_changed)
        self.augment_text_combo.currentIndexChanged.connect(self.augmentation_changed)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("automatic (run-<id>)")
        early = QHBoxLayout()
        early.addWidget(self.early_combo, 1)
        early.addWidget(QLabel("patience"))
        early.addWidget(self.patience_spin)
        for label, widget in (
            ("Epochs", self.epochs_spin),
            ("Batch size", self.batch_spin),
            ("Learning rate", self.lr_spin),
            ("Optimizer", self.optimizer_combo),
            ("Schedule", self.schedule_combo),
            ("Warm-up", self.warmup_spin),
            ("Weight decay", self.decay_spin),
            ("Precision", self.precision_combo),
            ("Seed", self.seed_spin),
            ("Device", self.device_combo),
        ):
            form.addRow(label, widget)
        form.addRow("Early stopping", early)
        images = QHBoxLayout()
        images.addWidget(self.augment_image_combo, 1)
        images.addWidget(self.augment_flip_check)
        form.addRow("Augment images", images)
        form.addRow("Augment text", self.augment_text_combo)
        form.addRow("Fusion guard", self.fusion_guard_check)
        form.addRow("Run name", self.name_edit)
        # The page scrolls this form: the wheel changes a field only when it has the focus.
        self._wheel_guard = WheelGuard(self)
        self._wheel_guard.guard(*self.fields())
        self.set_train_spec(TrainSpec())

    def fields(self) -> list[QWidget]:
        """The editors of the form that take the mouse wheel, top to bottom (all but the flip box)."""
        return [
            self.epochs_spin,
            self.batch_spin,
            self.lr_spin,
            self.optimizer_combo,
            self.schedule_combo,
            self.warmup_spin,
            self.decay_spin,
            self.precision_combo,
            self.seed_spin,
            self.device_combo,
            self.early_combo,
            self.patience_spin,
            self.augment_image_combo,
            self.augment_text_combo,
            self.name_edit,
        ]

    def set_train_spec(self, spec: TrainSpec) -> None:
        """Show ``spec`` in the form; its fields that have no control here are kept as they are."""
        self._base_spec = spec
        self.epochs_spin.setValue(spec.epochs)
        self.batch_spin.setValue(spec.batch_size)
        self.lr_spin.setValue(spec.lr)
        self.optimizer_combo.setCurrentText(spec.optimizer)
        self.schedule_combo.setCurrentText(spec.schedule)
        self.warmup_spin.setValue(-1 if spec.warmup_steps is None else spec.warmup_steps)
        self.decay_spin.setValue(spec.weight_decay)
        self.precision_combo.setCurrentText(spec.precision)
        self.seed_spin.setValue(min(spec.seed, self.seed_spin.maximum()))
        _choose(self.device_combo, spec.device)
        metric = spec.best_metric or spec.early_stopping_metric
        _choose(self.early_combo, metric if metric else (_KEY_METRIC if spec.stops_early else None))
        self.patience_spin.setValue(spec.patience or 0)
        _choose(self.augment_image_combo, spec.augment_image)
        self.augment_flip_check.setChecked(spec.augment_flip)
        _choose(self.augment_text_combo, spec.augment_text)
        self.fusion_guard_check.setChecked(spec.fusion_guard)
        self._on_augment_image_changed()

    def train_spec(self) -> TrainSpec:
        """The form as a :class:`TrainSpec` (raises ``ValueError`` / ``TypeError`` naming a bad field)."""
        warmup = self.warmup_spin.value()
        return dataclasses.replace(
            self._base_spec,
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            lr=float(self.lr_spin.value()),
            optimizer=self.optimizer_combo.currentText(),
            schedule=self.schedule_combo.currentText(),
            warmup_steps=None if warmup < 0 else warmup,
            weight_decay=float(self.decay_spin.value()),
            precision=self.precision_combo.currentText(),
            seed=self.seed_spin.value(),
            device=self.device_combo.currentData() or "auto",
            patience=self.patience_spin.value() or None,
            augment_image=self.augment_image_combo.currentData(),
            augment_flip=self.augment_flip_check.isChecked(),
            augment_text=self.augment_text_combo.currentData(),
            fusion_guard=self.fusion_guard_check.isChecked(),
            **self._monitor_fields(),
        )

    def _on_augment_image_changed(self) -> None:
        # Flips are part of image augmentation: the choice means nothing without it (and is kept).
        self.augment_flip_check.setEnabled(self.augment_image_combo.currentData() != "none")
        self.augmentation_changed.emit()

    def _monitor_fields(self) -> dict[str, object]:
        """The early-stopping choice as TrainSpec fields: the key metric, off, or a metric named (as
        ``best_metric`` when the spec shown had one, else as the early-stopping metric)."""
        choice = self.early_combo.currentData()
        if choice == _KEY_METRIC:
            return {"early_stopping": True, "early_stopping_metric": None, "best_metric": None}
        if choice is None:
            return {"early_stopping": False, "early_stopping_metric": None}
        if self._base_spec.best_metric:
            return {"early_stopping": True, "best_metric": choice}
        return {"early_stopping": True, "early_stopping_metric": choice}

    def run_name(self) -> str | None:
        """The name typed for the run; None leaves it to the store (``run-<id>``)."""
        return self.name_edit.text().strip() or None

    #: The device chosen in the settings: the Device choice starts there once it is offered.
    preferred_device = "auto"

    def set_preferred_device(self, name: str) -> None:
        """Start from ``name`` (the settings' device), now if it is offered, else once it is."""
        self.preferred_device = name
        index = self.device_combo.findData(name)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)

    def set_devices(self, devices: Sequence[DeviceInfo]) -> None:
        """Offer ``devices`` (best first) and ``auto``, which means the first of them; the choice made
        stays when it is still offered; until one is made, :attr:`preferred_device` (the settings')."""
        current = self.device_combo.currentData()
        if current == "auto" and self.device_combo.findData(self.preferred_device) < 0:
            current = self.preferred_device  # the settings' device, once it is offered
        self.device_combo.clear()
        self.device_combo.addItem(f"auto ({devices[0].name})" if devices else "auto", "auto")
        for device in devices:
            self.device_combo.addItem(f"{device.name}: {device.description}", device.name)
        index = self.device_combo.findData(current)
        self.device_combo.setCurrentIndex(max(0, index))


#: The augmentation levels as the form offers them (TrainSpec's AUGMENT_LEVELS, in that order).
_IMAGE_LEVELS = {
    "none": "none",
    "light": "light: crop, flip",
    "strong": "strong: crop, flip, colour, TrivialAugment",
}
_TEXT_LEVELS = {"none": "none", "light": "light: word dropout", "strong": "strong: word dropout, masking"}

#: The early-stopping choice "the task's key metric" (``best_metric`` None: the run names it).
_KEY_METRIC = "key"


def _choose(combo: QComboBox, value: object) -> None:
    """Select the item whose data is ``value``, adding one for a value the combo does not offer."""
    index = combo.findData(value)
    if index < 0:
        combo.addItem(str(value), value)
        index = combo.count() - 1
    combo.setCurrentIndex(index)
