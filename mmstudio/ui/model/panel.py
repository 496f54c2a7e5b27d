"""The Model page: build an architecture (task, encoders, fusion, head), see it, check it, save it.

The page edits a ``ModelSpec`` dict (the spec is the currency, STYLE.md pattern 1); every form comes
from the registries' ``Param`` declarations, so a newly registered module appears with no UI code.

Startup stays light: importing this module imports neither torch nor :mod:`mmstudio.models`. The
library loads in the thread pool when the page is first shown (or :meth:`ModelPanel.prepare` is
called) while the page says so; then the forms are built. Everything that may take time runs off the
GUI thread with :func:`~mmstudio.ui.tasks.run_task`:

- the dataset's facts (vocabulary size from the tokenizer fit on its training split, the labels),
  mirroring what training does (:class:`mmstudio.training.data.PreparedData`);
- validation and the summary (shapes and parameters on the meta device; a torchvision backbone
  imports torchvision), debounced after the last edit, one at a time, stale results ignored;
- "Check on a batch": a forward pass, the loss and a backward pass on one real batch.

Run it alone with ``python -m mmstudio.ui.model.panel [DATASET] [--screenshot out.png]``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mmstudio.progress import user_message
from mmstudio.training.spec import TrainSpec
from mmstudio.ui.model.diagram import ArchitectureDiagramWidget, architecture_diagram, format_shape
from mmstudio.ui.param_form import HintLabel, ParamFormWidget
from mmstudio.ui.resources import icon
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import Task, run_task
from mmstudio.ui.widgets import EmptyState, MessageBar, section_label
from mmstudio.vocabulary import SLOT_TITLES, TASK_HELP, TASK_TITLES

if TYPE_CHECKING:
    from types import ModuleType

    from mmstudio.data.dataset import Dataset

SUMMARY_DELAY_MS = 150  # debounce: summarise this long after the last edit
DEFAULT_VOCAB = 10_000  # the context without a dataset
DEFAULT_CLASSES = 10
LABELS_SHOWN = 4  # labels named under the diagram's head
PRESET_TITLES = {"cross_attention": "Cross-attention"}
CUSTOM = "Custom"


def preset_title(name: str) -> str:
    return PRESET_TITLES.get(name, name.replace("_", " ").capitalize())


# --- work done off the GUI thread (plain functions of plain data) ------------------------------------


@dataclass(frozen=True)
class DatasetFacts:
    """What the model needs to know about the loaded dataset, found the way training finds it."""

    name: str
    items: int
    task: str  # the task training picks by default: contrastive for captions, else classification
    has_text: bool
    has_image: bool
    vocab_size: int  # the tokenizer fit on the training split (0 without text)
    labels: tuple[str, ...]  # classification labels, sorted
    multilabels: tuple[str, ...]  # the distinct labels of 'a|b' cells
    tokenizer: Any = None  # the fitted tokenizer, reused by "Check on a batch"


def load_library(_state: Any) -> float:
    """Import the model library (torch and the registries); returns the seconds it took."""
    start = time.perf_counter()
    import mmstudio.models  # noqa: F401 (the import is the work)

    return time.perf_counter() - start


def dataset_facts(state: Any, dataset: Dataset, train: TrainSpec) -> DatasetFacts:
    """Fit the tokenizer on the training split (as :class:`PreparedData` does) and list the labels."""
    from mmstudio.data.text import build_tokenizer
    from mmstudio.training.data import split_multilabel

    has_text = dataset.columns.text is not None
    has_image = dataset.columns.image is not None
    tokenizer = None
    if has_text:
        texts = [item.text for item in dataset.items if item.split == "train"]
        if train.tokenizer == "bpe":
            params = {"vocab_size": train.vocab_max_size, "min_freq": train.vocab_min_freq}
        else:
            params = {"max_size": train.vocab_max_size, "min_freq": train.vocab_min_freq}
        tokenizer = build_tokenizer(train.tokenizer, texts, **params)
    state.check()
    multilabels = sorted({x for item in dataset.items if item.label for x in split_multilabel(item.label)})
    return DatasetFacts(
        name=dataset.root.name or str(dataset.root),
        items=len(dataset.items),
        task="contrastive" if dataset.task == "retrieval" else "classification",
        has_text=has_text,
        has_image=has_image,
        vocab_size=0 if tokenizer is None else int(tokenizer.vocab_size),
        labels=tuple(dataset.labels),
        multilabels=tuple(multilabels),
        tokenizer=tokenizer,
    )


def summarize_spec(_state: Any, request: int, spec: dict, context: dict, batch_size: int) -> dict:
    """Validate ``spec`` and, when it has no error, summarise it on the meta device."""
    from mmstudio.models import ModelContext, ModelSpec, SpecError, summarize

    start = time.perf_counter()
    ctx = ModelContext(**context)
    try:
        model_spec = ModelSpec.from_dict(spec)
    except SpecError as exc:
        return {"request": request, "issues": [i.to_dict() for i in exc.issues], "summary": None}
    issues = model_spec.validate(ctx)
    summary, error = None, None
    if not any(i.level == "error" for i in issues):
        try:
            summary = summarize(model_spec, ctx, batch_size=batch_size).to_dict()
        except Exception as exc:  # a builder that fails on valid params: say so on the page
            error = user_message(exc)
    return {
        "request": request,
        "issues": [i.to_dict() for i in issues],
        "summary": summary,
        "error": error,
        "seconds": time.perf_counter() - start,
    }


def check_on_batch(
    state: Any, spec: dict, dataset: Dataset, facts: DatasetFacts, context: dict, train: TrainSpec
) -> dict:
    """Build the model and run one real training batch of ``dataset`` through it: forward, loss and
    backward (no optimiser step). The batch is prepared as training prepares it, from the first
    training items, with the vocabulary and labels of the whole dataset; the images are decoded into a
    temporary cache, so a quick check never writes the dataset's real cache."""
    import tempfile

    import torch

    from mmstudio.models import ModelContext, ModelSpec, build_model
    from mmstudio.training.data import PreparedData

    model_spec = ModelSpec.from_dict(spec)
    task = model_spec.task
    items = [item for item in dataset.items if item.split == "train"][: train.batch_size]
    if not items:
        raise ValueError("the dataset has no training items to make a batch of")
    state.set_message(f"Preparing {len(items)} training items…")
    start = time.perf_counter()
    subset = dataclasses.replace(
        dataset, items=items, fingerprint=f"{dataset.fingerprint}-check-{len(items)}"
    )
    labels = None
    if task == "classification":
        labels = list(facts.labels)
    elif task == "multilabel":
        labels = list(facts.multilabels)
    with tempfile.TemporaryDirectory(prefix="mmstudio-check-") as cache:
        data = PreparedData(
            subset,
            train,
            task,
            need_text=model_spec.has_text,
            need_image=model_spec.has_image,
            labels=labels,
            tokenizer=facts.tokenizer,
            cancel=state,
            cache_root=cache,
        )
        batch = data.batch(data.splits["train"])
    prepare_s = time.perf_counter() - start
    state.check()
    state.set_message("Building the model…")
    ctx = ModelContext(**{**context, "class_weights": None})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train.seed)
        model = build_model(model_spec, ctx)
    model.train()
    state.check()
    state.set_message("Forward pass…")
    start = time.perf_counter()
    outputs = model(batch)
    loss = model.loss(outputs, batch)
    forward_s = time.perf_counter() - start
    state.check()
    start = time.perf_counter()
    backward = loss.requires_grad
    if backward:
        loss.backward()
    backward_s = time.perf_counter() - start
    value = float(loss.detach())
    return {
        "batch_size": len(items),
        "outputs": {k: list(v.shape) for k, v in outputs.items()},
        "loss": value,
        "finite": bool(torch.isfinite(loss.detach()).item()),
        "prepare_s": prepare_s,
        "forward_s": forward_s,
        "backward_s": backward_s if backward else None,
        "messages": list(data.messages),
    }


def start_task(fn: Callable[..., Any], *args: Any, **slots: Callable[..., Any]) -> Task:
    """``run_task(fn, *args)`` with ``slots`` (``succeeded=...``, ``failed=...``) connected."""
    task = run_task(fn, *args)
    for name, slot in slots.items():
        getattr(task, name).connect(slot)
    return task


# --- small widgets of the page -----------------------------------------------------------------------


def _hint_label(text: str = "") -> HintLabel:
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
        self.help = _hint_label()
        layout.addWidget(self.help)
        self.form = ParamFormWidget()
        self.form.setObjectName(f"{slot}_form")
        self.form.values_changed.connect(self._on_form_values_changed)
        form_box = QWidget()
        form_layout = QVBoxLayout(form_box)
        form_layout.setContentsMargins(14, 2, 0, 0)
        form_layout.addWidget(self.form)
        layout.addWidget(form_box)
        self.issues = IssueListWidget()
        layout.addWidget(self.issues)
        self._entry: str | None = None

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
        else:
            self.form.set_values(values)
        self.help.setText(entry.help if entry is not None else f"{name!r} is not in the registry")

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


# --- the page ----------------------------------------------------------------------------------------


class ModelPanel(QWidget):
    """The architecture builder; see the module docstring.

    Public API: :meth:`prepare`, :meth:`is_ready`, :meth:`is_busy`, :meth:`spec`, :meth:`set_spec`,
    :meth:`apply_preset`, :meth:`load_spec_file`, :meth:`save_spec_file`, :meth:`is_dirty`,
    :meth:`check_on_batch`, :meth:`set_train_spec`; signals :attr:`spec_changed` (every change, valid
    or not), :attr:`dirty_changed`, :attr:`batch_checked`. Valid specs also go to
    ``state.set_model_spec``.
    """

    spec_changed = Signal(object)  # the spec dict, after every change
    dirty_changed = Signal(bool)
    batch_checked = Signal(object)  # the check's result dict, or {"error": message}

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self._state = state
        self._settings = settings
        self._train = TrainSpec()
        self._lib: ModuleType | None = None
        self._load_task: Task | None = None
        self.library_seconds: float | None = None
        self._spec: dict[str, Any] = {}
        self._pending: dict[str, Any] | None = None  # a spec given before the library is ready
        self._pending_preset: str | None = None
        self._pending_clean = False
        self._clean: dict[str, Any] | None = None  # the spec as last saved or loaded (or the default)
        self._from_default = True  # the spec is the page's default, not the user's: follows the dataset
        self._dirty = False
        self._path: Path | None = None
        self._facts: DatasetFacts | None = None
        self._facts_task: Task | None = None
        self._facts_error = ""
        self._summary_task: Task | None = None
        self._summary_request = 0
        self._summary_again = False
        self._summary: dict | None = None
        self.summary_seconds: float | None = None
        self._issues: list[dict] = []
        self._shown_request = -1
        self._check_task: Task | None = None
        self._check_result: dict | None = None
        self._sections: dict[str, ComponentSection] = {}
        self._preset_fits: dict[str, dict[str, tuple[bool, str]]] = {}

        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(SUMMARY_DELAY_MS)
        self._summary_timer.timeout.connect(self._on_summary_timer_timeout)

        self._build()
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.model_spec_changed.connect(self._on_state_model_spec_changed)

    # --- layout -------------------------------------------------------------------------------------

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 10)
        root.setSpacing(8)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(QLabel("Preset:"))
        self._preset_combo = QComboBox()
        self._preset_combo.setObjectName("presetCombo")
        self._preset_combo.setMinimumContentsLength(14)
        self._preset_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._preset_combo.activated.connect(self._on_preset_combo_activated)
        self._preset_combo.setEnabled(False)
        bar.addWidget(self._preset_combo)
        self._preset_help = _hint_label()
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
        self._open_button = QPushButton(icon("open"), "Open…")
        self._open_button.setToolTip("Open a model spec (JSON)")
        self._open_button.clicked.connect(self._on_open_button_clicked)
        bar.addWidget(self._open_button)
        self._save_button = QPushButton(icon("save"), "Save…")
        self._save_button.setToolTip("Save this model spec as JSON")
        self._save_button.clicked.connect(self._on_save_button_clicked)
        self._save_button.setEnabled(False)
        bar.addWidget(self._save_button)
        root.addLayout(bar)

        self._message = MessageBar()
        root.addWidget(self._message)

        self._stack = QStackedWidget()
        root.addWidget(self._stack, 1)

        loading = QWidget()
        column = QVBoxLayout(loading)
        column.addStretch(1)
        self._loading_label = QLabel("Loading the model library…")
        self._loading_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(self._loading_label)
        busy = QProgressBar()
        busy.setRange(0, 0)
        busy.setMaximumWidth(240)
        busy.setTextVisible(False)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(busy)
        row.addStretch(1)
        column.addLayout(row)
        column.addStretch(2)
        self._stack.addWidget(loading)

        self._failed = EmptyState("error", "The model library could not be loaded", "")
        self._stack.addWidget(self._failed)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        self._splitter = splitter
        self._stack.addWidget(splitter)

        form = QWidget()
        form.setObjectName("modelForm")
        form_layout = QVBoxLayout(form)
        form_layout.setContentsMargins(4, 4, 14, 8)
        form_layout.setSpacing(16)
        self._general_issues = IssueListWidget()
        form_layout.addWidget(self._general_issues)

        task_box = QWidget()
        task_layout = QVBoxLayout(task_box)
        task_layout.setContentsMargins(0, 0, 0, 0)
        task_layout.setSpacing(6)
        task_layout.addWidget(section_label("Task"))
        self._task_combo = QComboBox()
        self._task_combo.setObjectName("taskCombo")
        self._task_combo.activated.connect(self._on_task_combo_activated)
        task_layout.addWidget(self._task_combo)
        self._task_help = _hint_label()
        task_layout.addWidget(self._task_help)
        self._task_issues = IssueListWidget()
        task_layout.addWidget(self._task_issues)
        form_layout.addWidget(task_box)

        for slot, title in SLOT_TITLES.items():
            section = ComponentSection(slot, title)
            section.entry_chosen.connect(self._on_section_entry_chosen)
            section.params_edited.connect(self._on_section_params_edited)
            self._sections[slot] = section
            form_layout.addWidget(section)
        form_layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setObjectName("modelFormScroll")
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(form)
        scroll.setMinimumWidth(340)
        self._scroll = scroll
        splitter.addWidget(scroll)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(8, 4, 0, 0)
        right_layout.setSpacing(8)
        self._context_label = _hint_label()
        self._context_label.setObjectName("contextLabel")
        right_layout.addWidget(self._context_label)
        self.diagram = ArchitectureDiagramWidget()
        self.diagram.block_clicked.connect(self._on_diagram_block_clicked)
        right_layout.addWidget(self.diagram, 1)
        self._summary_error = MessageBar()
        right_layout.addWidget(self._summary_error)
        check_row = QHBoxLayout()
        self._check_button = QPushButton(icon("check"), "Check on a batch")
        self._check_button.setObjectName("checkButton")
        self._check_button.clicked.connect(self._on_check_button_clicked)
        check_row.addWidget(self._check_button)
        self._check_status = _hint_label()
        check_row.addWidget(self._check_status, 1)
        right_layout.addLayout(check_row)
        self._check_message = MessageBar()
        self._check_message.setObjectName("checkMessage")
        right_layout.addWidget(self._check_message)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 820])
        self._update_check_button()
        self._update_context_label()

    # --- public API ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Start loading the model library in the background (once); the forms follow."""
        if self._lib is not None or self._load_task is not None:
            return
        self._stack.setCurrentIndex(0)
        self._load_task = start_task(
            load_library, succeeded=self._on_load_task_succeeded, failed=self._on_load_task_failed
        )

    def is_ready(self) -> bool:
        return self._lib is not None

    def is_busy(self) -> bool:
        """Loading the library or the dataset's facts, a summary due or running, or a check running."""
        return any(
            (
                self._load_task is not None and not self._load_task.done,
                self._facts_task is not None and not self._facts_task.done,
                self._summary_timer.isActive(),
                self._summary_task is not None and not self._summary_task.done,
                self._check_task is not None and not self._check_task.done,
            )
        )

    def spec(self) -> dict[str, Any]:
        """The spec being edited (complete), or, before the library is ready, the one waiting for it
        (an empty dict when there is none yet)."""
        if self._lib is None:
            return copy.deepcopy(self._pending or {})
        return copy.deepcopy(self._spec)

    def set_spec(self, spec: Mapping[str, Any], *, mark_clean: bool = False) -> None:
        """Show ``spec`` (completed with defaults). Raises ``SpecError`` for a spec without structure
        (no task, a component that is not an object); unknown names and bad values are kept and
        explained on the page. ``mark_clean``: the spec is saved somewhere (no unsaved changes)."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"a model spec is a dict, not {type(spec).__name__}")
        if self._lib is None:
            self._pending = copy.deepcopy(dict(spec))
            self._pending_preset = None
            self._pending_clean = mark_clean
            self.prepare()
            return
        complete = self._lib.ModelSpec.from_dict(spec).to_dict()
        self._from_default = False
        self._apply(complete, clean=mark_clean)

    def apply_preset(self, name: str) -> None:
        """Replace the spec by preset ``name`` (``PRESETS``) for the current task."""
        if self._lib is None:
            self._pending_preset = name
            self.prepare()
            return
        task = self._spec.get("task") or "classification"
        spec = self._lib.preset_spec(name, task).to_dict()
        self._from_default = False
        self._apply(spec)
        self._state.post_status(f"Preset: {preset_title(name)}")

    def load_spec_file(self, path: str | os.PathLike[str]) -> None:
        """Open a spec saved as JSON. Raises ``OSError`` for an unreadable file and ``ValueError``
        (``SpecError``) for one that is not a model spec; the page shows the message either way."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            message = f"Could not read the model spec {path}: {user_message(exc)}"
            self._message.show_message(message, "error")
            raise OSError(message) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"{path.name} is not a model spec: it is not valid JSON ({exc})"
            self._message.show_message(message, "error")
            raise ValueError(message) from None
        if not isinstance(data, dict):
            message = f"{path.name} is not a model spec: it holds a JSON {type(data).__name__}, not an object"
            self._message.show_message(message, "error")
            raise ValueError(message)
        if self._lib is not None:
            try:
                self._lib.ModelSpec.from_dict(data)
            except ValueError as exc:
                message = f"{path.name} is not a usable model spec: {exc}"
                self._message.show_message(message, "error")
                raise
        self._message.clear()
        self._path = path
        self._settings.last_spec_dir = str(path.parent)
        self.set_spec(data, mark_clean=True)
        self._update_file_label()
        self._state.post_status(f"Opened the model spec {path}")

    def save_spec_file(self, path: str | os.PathLike[str]) -> None:
        """Write the spec as JSON (atomically: a temporary file renamed into place)."""
        path = Path(path)
        spec = self.spec()
        if not spec:
            raise ValueError("there is no model spec to save yet: the model library is still loading")
        text = json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            message = f"Could not save the model spec to {path}: {user_message(exc)}"
            self._message.show_message(message, "error")
            raise OSError(message) from exc
        self._message.clear()
        self._path = path
        self._settings.last_spec_dir = str(path.parent)
        self._clean = spec
        self._update_dirty()
        self._update_file_label()
        self._state.post_status(f"Saved the model spec to {path}")

    def is_dirty(self) -> bool:
        return self._dirty

    def set_train_spec(self, train: TrainSpec | None) -> None:
        """The training settings the shapes depend on (image size, text length, batch size, tokenizer);
        None: the defaults. The Train page calls this when they change."""
        train = train or TrainSpec()
        old, self._train = self._train, train
        tokenizer = ("tokenizer", "vocab_min_freq", "vocab_max_size")
        if any(getattr(old, k) != getattr(train, k) for k in tokenizer) and self._state.dataset is not None:
            self._start_facts(self._state.dataset)
        self._update_context_label()
        self._request_summary()

    def check_on_batch(self) -> None:
        """Start "Check on a batch" (the button does the same); :attr:`batch_checked` reports it."""
        dataset = self._state.dataset
        if self._lib is None or dataset is None or self._facts is None:
            return
        if self._check_task is not None and not self._check_task.done:
            return
        self._check_message.clear()
        self._check_result = None
        self._check_task = start_task(
            check_on_batch,
            self.spec(),
            dataset,
            self._facts,
            self._context(),
            self._train,
            progressed=self._on_check_task_progressed,
            succeeded=self._on_check_task_succeeded,
            failed=self._on_check_task_failed,
            cancelled=self._on_check_task_cancelled,
            finished=self._update_check_button,
        )
        self._check_status.setText("Checking…")
        self._update_check_button()

    def check_result(self) -> dict | None:
        return copy.deepcopy(self._check_result)

    def issues(self) -> list[dict]:
        """The issues shown for the current spec (``SpecIssue.to_dict()``s, errors first)."""
        return copy.deepcopy(self._issues)

    def summary(self) -> dict | None:
        """The summary drawn (``ModelSummary.to_dict()``), None while the spec has errors."""
        return copy.deepcopy(self._summary)

    def section(self, slot: str) -> ComponentSection:
        return self._sections[slot]

    # --- the library ----------------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.prepare()

    def _on_load_task_succeeded(self, seconds: float) -> None:
        import mmstudio.models as lib  # already imported by the task: a dictionary look-up

        self.library_seconds = seconds
        self._lib = lib
        self._fill_choices()
        self._stack.setCurrentIndex(2)
        self._preset_combo.setEnabled(True)
        self._save_button.setEnabled(True)
        pending, preset = self._pending, self._pending_preset
        pending_clean = self._pending_clean
        self._pending = self._pending_preset = None
        self._apply(self._default_spec(), clean=True)
        self._draw(pending=True)  # the blocks at once; shapes and counts follow from the summary
        if pending is not None:
            try:
                self.set_spec(pending, mark_clean=pending_clean)
            except ValueError as exc:
                self._message.show_message(f"The model spec could not be used: {exc}", "error")
        if preset is not None:
            try:
                self.apply_preset(preset)
            except KeyError as exc:
                self._message.show_message(str(exc.args[0]), "error")
        if self._state.dataset is not None:
            self._start_facts(self._state.dataset)
        self._update_check_button()

    def _on_load_task_failed(self, message: str, details: str) -> None:
        self._failed.text.setText(
            f"{message}\n\nCheck that PyTorch is installed in this environment; the details are in the log."
        )
        self._stack.setCurrentIndex(1)
        sys.stderr.write(details)

    def _fill_choices(self) -> None:
        lib = self._lib
        assert lib is not None
        with QSignalBlocker(self._task_combo):
            self._task_combo.clear()
            for task in lib.TASKS:
                self._task_combo.addItem(TASK_TITLES.get(task, task.capitalize()), task)
                self._task_combo.setItemData(
                    self._task_combo.count() - 1, TASK_HELP.get(task, ""), Qt.ItemDataRole.ToolTipRole
                )
        for slot, section in self._sections.items():
            entries = []
            for name in self._registry(slot):
                entry = self._registry(slot).get(name)
                ok, reason = entry.available()
                tip = entry.help if ok else f"Not available: {reason}"
                entries.append((name, entry.help, ok, tip))
            section.set_entries(entries)
        with QSignalBlocker(self._preset_combo):
            self._preset_combo.clear()
            self._preset_combo.addItem(CUSTOM, None)
            for name in lib.PRESETS:
                self._preset_combo.addItem(preset_title(name), name)

    def _registry(self, slot: str) -> Any:
        assert self._lib is not None
        return {
            "text_encoder": self._lib.TEXT_ENCODERS,
            "image_encoder": self._lib.IMAGE_ENCODERS,
            "fusion": self._lib.FUSIONS,
            "head": self._lib.HEADS,
        }[slot]

    def _default_spec(self) -> dict[str, Any]:
        """The spec training would pick for the loaded dataset (``resolve_model_spec``)."""
        assert self._lib is not None
        dataset = self._state.dataset
        if dataset is None:
            return self._lib.default_spec("classification").to_dict()
        return self._lib.resolve_spec(
            {},
            task="contrastive" if dataset.task == "retrieval" else "classification",
            has_text=dataset.columns.text is not None,
            has_image=dataset.columns.image is not None,
        ).to_dict()

    # --- applying a spec ------------------------------------------------------------------------------

    def _apply(self, spec: dict[str, Any], *, clean: bool = False, edited: str | None = None) -> None:
        """Make ``spec`` (complete) the page's spec: controls, dirty flag, signals, a summary."""
        changed = spec != self._spec
        self._spec = spec
        if clean:
            self._clean = copy.deepcopy(spec)
        self._refresh_controls(edited=edited)
        self._update_dirty()
        if changed or clean:
            self._cancel_check()
            self.spec_changed.emit(self.spec())
            self._request_summary()

    def _refresh_controls(self, *, edited: str | None = None) -> None:
        lib = self._lib
        assert lib is not None
        spec = self._spec
        task = spec.get("task", "")
        with QSignalBlocker(self._task_combo):
            index = self._task_combo.findData(task)
            if index < 0:
                self._task_combo.addItem(f"{task} (unknown)", task)
                index = self._task_combo.count() - 1
            self._task_combo.setCurrentIndex(index)
        self._task_help.setText(TASK_HELP.get(task, f"{task!r} is not a task"))
        for slot, section in self._sections.items():
            if slot == edited:
                continue
            component = spec.get(slot) or {"name": "none"}
            registry = self._registry(slot)
            entry = registry.get(component["name"]) if component.get("name") in registry else None
            section.show_component(component, entry, rebuild=False)
        heads = self._sections["head"]
        enabled = {}
        for name in self._lib.HEADS:
            tasks = self._lib.HEADS.get(name).info.get("tasks", ())
            enabled[name] = (
                task in tasks,
                self._lib.HEADS.get(name).help if task in tasks else f"Serves {', '.join(tasks)}, not {task}",
            )
        heads.set_enabled_entries(enabled)
        self._enable_presets(task)
        preset = self._matching_preset()
        with QSignalBlocker(self._preset_combo):
            self._preset_combo.setCurrentIndex(max(0, self._preset_combo.findData(preset)) if preset else 0)
        self._preset_help.setText(lib.PRESET_HELP.get(preset, "") if preset else "")

    def _enable_presets(self, task: str) -> None:
        """Disable the presets that cannot serve ``task`` (every one, for contrastive retrieval), with
        the reason as tooltip; the data's sizes play no part in it."""
        lib = self._lib
        assert lib is not None
        if task not in self._preset_fits:
            ctx = lib.ModelContext(vocab_size=1000, num_outputs=10, image_size=224, max_len=32)
            fits = {}
            for name in lib.PRESETS:
                errors = lib.preset_spec(name, task).errors(ctx) if task in lib.TASKS else []
                fits[name] = (not errors, f"Not for {task}: {errors[0].message}" if errors else "")
            self._preset_fits[task] = fits
        model = self._preset_combo.model()
        for row in range(1, self._preset_combo.count()):
            name = self._preset_combo.itemData(row)
            ok, reason = self._preset_fits[task].get(name, (True, ""))
            item = model.item(row)
            item.setEnabled(ok)
            item.setToolTip(lib.PRESET_HELP.get(name, "") if ok else reason)

    def _matching_preset(self) -> str | None:
        assert self._lib is not None
        task = self._spec.get("task")
        if task not in self._lib.TASKS:
            return None
        for name in self._lib.PRESETS:
            if self._lib.preset_spec(name, task).to_dict() == self._spec:
                return name
        return None

    def _update_dirty(self) -> None:
        dirty = self._lib is not None and self._clean is not None and self._spec != self._clean
        self._dirty_label.setVisible(dirty)
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)

    def _update_file_label(self) -> None:
        if self._path is None:
            self._file_label.clear()
            return
        self._file_label.setText(self._path.name)
        self._file_label.setToolTip(str(self._path))

    # --- edits ----------------------------------------------------------------------------------------

    def _on_task_combo_activated(self, index: int) -> None:
        task = self._task_combo.itemData(index)
        if task is None or task == self._spec.get("task"):
            return
        spec = copy.deepcopy(self._spec)
        spec["task"] = task
        self._edit(self._harmonize(spec, "task"))

    def _on_section_entry_chosen(self, slot: str, name: str) -> None:
        registry = self._registry(slot)
        old = self._spec.get(slot) or {}
        component: dict[str, Any] = {"name": name}
        if name in registry:  # keep the values of same-named parameters that fit the new entry
            for param in registry.get(name).params:
                if param.name in old and param.check(old[param.name]) is None:
                    component[param.name] = old[param.name]
        spec = copy.deepcopy(self._spec)
        spec[slot] = component
        self._edit(self._harmonize(spec, slot))

    def _on_section_params_edited(self, slot: str, values: dict) -> None:
        spec = copy.deepcopy(self._spec)
        spec[slot] = {"name": spec[slot]["name"], **values}
        self._edit(spec, edited=slot)

    def _edit(self, spec: dict[str, Any], *, edited: str | None = None) -> None:
        assert self._lib is not None
        self._message.clear()
        self._from_default = False
        self._apply(self._lib.ModelSpec.from_dict(spec).to_dict(), edited=edited)

    def _harmonize(self, spec: dict[str, Any], changed: str) -> dict[str, Any]:
        """Follow an edit with the changes it implies, as ``resolve_spec`` does: the task's default
        head when the head does not serve the new task; no fusion for contrastive or a single
        modality; concat when a second modality arrives. Each change is posted to the status bar."""
        lib = self._lib
        assert lib is not None
        from mmstudio.models.heads import DEFAULT_HEADS

        task = spec["task"]
        notes = []
        head = spec["head"]["name"]
        if task in lib.TASKS and head in lib.HEADS and task not in lib.HEADS.get(head).info.get("tasks", ()):
            spec["head"] = {"name": DEFAULT_HEADS[task]}
            notes.append(f"head set to {DEFAULT_HEADS[task]} for {task}")
        text = spec["text_encoder"]["name"] != "none"
        image = spec["image_encoder"]["name"] != "none"
        fusion = spec["fusion"]["name"]
        needs_both = fusion in lib.FUSIONS and lib.FUSIONS.get(fusion).info.get("needs_both", False)
        if task == "contrastive" and fusion != "none":
            spec["fusion"] = {"name": "none"}
            notes.append("fusion set to none: contrastive retrieval compares the two embeddings")
        elif task != "contrastive" and needs_both and not (text and image) and changed != "fusion":
            spec["fusion"] = {"name": "none"}
            notes.append("fusion set to none: a single modality has nothing to fuse")
        elif task != "contrastive" and fusion == "none" and text and image and changed != "fusion":
            spec["fusion"] = {"name": "concat"}
            notes.append("fusion set to concat to combine text and image")
        if notes:
            self._state.post_status("Model: " + "; ".join(notes))
        return spec

    def _on_diagram_block_clicked(self, key: str) -> None:
        slot = {"text_input": "text_encoder", "image_input": "image_encoder"}.get(key, key)
        section = self._sections.get(slot)
        if section is not None:
            self._scroll.ensureWidgetVisible(section, 0, 0)
            section.combo.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_preset_combo_activated(self, index: int) -> None:
        name = self._preset_combo.itemData(index)
        if name is not None:
            self.apply_preset(name)

    # --- the dataset ----------------------------------------------------------------------------------

    def _on_state_dataset_changed(self, dataset: Dataset | None) -> None:
        self._facts = None
        if self._facts_task is not None:
            self._facts_task.cancel()
            self._facts_task = None
        self._cancel_check()
        if self._lib is not None:
            if self._from_default:
                self._apply(self._default_spec(), clean=True)
            if dataset is not None:
                self._start_facts(dataset)
            self._request_summary()
        self._update_context_label()
        self._update_check_button()

    def _start_facts(self, dataset: Dataset) -> None:
        if self._facts_task is not None:
            self._facts_task.cancel()
        self._facts = None
        self._facts_error = ""
        self._facts_task = start_task(
            dataset_facts,
            dataset,
            self._train,
            succeeded=self._on_facts_task_succeeded,
            failed=self._on_facts_task_failed,
        )
        self._update_context_label()

    def _on_facts_task_succeeded(self, facts: DatasetFacts) -> None:
        if self.sender() is not self._facts_task:
            return  # a dataset replaced since
        self._facts = facts
        self._update_context_label()
        self._update_check_button()
        self._request_summary()

    def _on_facts_task_failed(self, message: str, _details: str) -> None:
        if self.sender() is not self._facts_task:
            return
        self._facts_error = message
        self._context_label.setText(f"Could not read the dataset's vocabulary and labels: {message}")
        self._update_check_button()

    def _on_state_model_spec_changed(self, spec: dict | None) -> None:
        if spec is not None and self._lib is not None and spec != self._spec:
            try:
                self.set_spec(spec)
            except ValueError as exc:
                self._message.show_message(f"The model spec could not be shown: {exc}", "error")

    def _context(self) -> dict[str, Any]:
        """The ``ModelContext`` fields for the current spec: the dataset's facts (or defaults) and the
        training settings, as the runner computes them."""
        task = self._spec.get("task", "classification")
        facts = self._facts
        if facts is None:
            vocab, classes, labels = DEFAULT_VOCAB, DEFAULT_CLASSES, ()
            has_text = has_image = None
            dataset = self._state.dataset
            if dataset is not None:  # known at once from the columns; the vocabulary comes later
                has_text, has_image = dataset.columns.text is not None, dataset.columns.image is not None
        else:
            vocab = facts.vocab_size if facts.has_text else 2
            labels = facts.multilabels if task == "multilabel" else facts.labels
            classes = len(labels)
            has_text, has_image = facts.has_text, facts.has_image
        outputs = {"regression": 1, "contrastive": 0}.get(task, classes)
        return {
            "vocab_size": vocab,
            "num_outputs": outputs,
            "image_size": self._train.image_size,
            "max_len": self._train.max_len,
            "has_text": has_text,
            "has_image": has_image,
        }

    def _labels_note(self) -> str:
        if self._facts is None:
            return ""
        labels = self._facts.multilabels if self._spec.get("task") == "multilabel" else self._facts.labels
        shown = ", ".join(labels[:LABELS_SHOWN])
        return shown + (", …" if len(labels) > LABELS_SHOWN else "")

    def _update_context_label(self) -> None:
        train = self._train
        sizes = (
            f"{train.image_size} px images, texts of {train.max_len} tokens, batch size {train.batch_size}"
        )
        dataset = self._state.dataset
        if dataset is None:
            text = (
                f"No dataset loaded: shapes assume a {DEFAULT_VOCAB:,}-word vocabulary, {DEFAULT_CLASSES} "
                f"classes, {sizes}. Open a dataset to see its real sizes."
            )
        elif self._facts is None:
            text = f"Reading the vocabulary and labels of {dataset.root.name}…"
        else:
            facts = self._facts
            parts = [f"{facts.items:,} pairs"]
            if facts.has_text:
                parts.append(f"a vocabulary of {facts.vocab_size:,} tokens")
            if not facts.has_image:
                parts.append("no images")
            if not facts.has_text:
                parts.append("no text")
            parts.append(f"{len(facts.labels):,} labels")
            text = (
                f"For {facts.name} ({', '.join(parts)}) at {sizes}; "
                "image size and text length are training settings."
            )
        self._context_label.setText(text)

    # --- summaries ------------------------------------------------------------------------------------

    def _request_summary(self) -> None:
        if self._lib is None:
            return
        self._summary_request += 1
        self._summary_timer.start()

    def _on_summary_timer_timeout(self) -> None:
        if self._summary_task is not None and not self._summary_task.done:
            self._summary_again = True  # one at a time: the latest request follows this one
            return
        self._summary_task = start_task(
            summarize_spec,
            self._summary_request,
            self.spec(),
            self._context(),
            self._train.batch_size,
            succeeded=self._on_summary_task_succeeded,
            failed=self._on_summary_task_failed,
            finished=self._on_summary_task_finished,
        )

    def _on_summary_task_finished(self) -> None:
        if self._summary_again:
            self._summary_again = False
            if not self._summary_timer.isActive():
                self._on_summary_timer_timeout()

    def _on_summary_task_succeeded(self, result: dict) -> None:
        if result["request"] != self._summary_request:
            return  # a newer edit is on its way
        self._shown_request = result["request"]
        self.summary_seconds = result.get("seconds")
        self._issues = result["issues"]
        self._summary = result["summary"]
        self._show_issues()
        if result.get("error"):
            self._summary_error.show_message(f"The model could not be built: {result['error']}", "error")
        else:
            self._summary_error.clear()
        self._draw()
        if not any(i["level"] == "error" for i in self._issues) and not result.get("error"):
            self._state.set_model_spec(self.spec())
        self._update_check_button()

    def _on_summary_task_failed(self, message: str, details: str) -> None:
        self._summary_error.show_message(f"The model could not be summarised: {message}", "error")
        sys.stderr.write(details)

    def _show_issues(self) -> None:
        by_slot: dict[str, list[dict]] = {}
        for issue in self._issues:
            by_slot.setdefault(issue["component"], []).append(issue)
        for slot, section in self._sections.items():
            section.issues.set_issues(by_slot.pop(slot, []))
        self._task_issues.set_issues(by_slot.pop("task", []))
        rest = [i for issues in by_slot.values() for i in issues]
        self._general_issues.set_issues(rest)

    def _draw(self, *, pending: bool = False) -> None:
        assert self._lib is not None
        fusion = self._spec.get("fusion", {}).get("name")
        needs_tokens = fusion in self._lib.FUSIONS and self._lib.FUSIONS.get(fusion).info.get(
            "needs_tokens", False
        )
        context = {**self._context(), "labels": self._labels_note()}
        data = architecture_diagram(
            self._spec,
            self._summary,
            context=context,
            issues=self._issues,
            needs_tokens=needs_tokens,
            pending=pending,
        )
        self.diagram.set_diagram(data)

    # --- check on a batch -----------------------------------------------------------------------------

    def _update_check_button(self) -> None:
        running = self._check_task is not None and not self._check_task.done
        button = self._check_button
        if running:
            button.setText("Cancel check")
            button.setEnabled(True)
            button.setToolTip("Stop the check")
            return
        button.setText("Check on a batch")
        reason = ""
        if self._lib is None:
            reason = "The model library is loading"
        elif self._state.dataset is None:
            reason = "Open a dataset to check the model on one of its batches"
        elif self._facts is None:
            reason = self._facts_error or "Reading the dataset's vocabulary and labels…"
        elif any(i["level"] == "error" for i in self._issues):
            reason = "Fix the errors first"
        button.setEnabled(not reason)
        button.setToolTip(
            reason or "Build the model and run one real training batch through it: forward, loss and backward"
        )

    def _on_check_button_clicked(self) -> None:
        if self._check_task is not None and not self._check_task.done:
            self._check_task.cancel()
            return
        self.check_on_batch()

    def _cancel_check(self) -> None:
        if self._check_task is not None and not self._check_task.done:
            self._check_task.cancel()
        self._check_result = None
        self._check_message.clear()
        self._check_status.clear()

    def _on_check_task_progressed(self, _fraction: float, message: str) -> None:
        if self.sender() is self._check_task and message:
            self._check_status.setText(message)

    def _on_check_task_succeeded(self, result: dict) -> None:
        if self.sender() is not self._check_task:
            return
        self._check_result = result
        main = next(iter(result["outputs"].items()), None)
        shape = f"{main[0]} {format_shape(main[1])}" if main else "no output"
        times = f"forward {result['forward_s'] * 1000:.0f} ms"
        if result["backward_s"] is not None:
            times += f", backward {result['backward_s'] * 1000:.0f} ms"
        text = (
            f"A batch of {result['batch_size']} training items went through: {shape}, "
            f"loss {result['loss']:.4g} ({times}; the batch took {result['prepare_s']:.1f} s to prepare)."
        )
        if result["messages"]:
            text += " " + " ".join(result["messages"])
        level = "info"
        if not result["finite"]:
            level = "warning"
            text += " The loss is not finite: training would diverge from the first step."
        self._check_message.show_message(text, level)
        self._check_status.clear()
        self._update_check_button()
        self.batch_checked.emit(copy.deepcopy(result))

    def _on_check_task_failed(self, message: str, details: str) -> None:
        if self.sender() is not self._check_task:
            return
        self._check_result = {"error": message}
        self._check_message.show_message(f"The check failed: {message}", "error")
        self._check_status.clear()
        sys.stderr.write(details)
        self._update_check_button()
        self.batch_checked.emit({"error": message})

    def _on_check_task_cancelled(self) -> None:
        if self.sender() is self._check_task:
            self._check_status.setText("Check cancelled")
            self._update_check_button()

    # --- files ----------------------------------------------------------------------------------------

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
            try:
                self.load_spec_file(path)
            except (OSError, ValueError):
                pass  # the page shows the message

    def _on_save_button_clicked(self) -> None:
        start = str(self._path) if self._path else str(Path(self._spec_dir()) / "model.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save the model spec", start, "Model spec (*.json)")
        if path:
            if not path.lower().endswith(".json"):
                path += ".json"
            try:
                self.save_spec_file(path)
            except (OSError, ValueError):
                pass  # the page shows the message
