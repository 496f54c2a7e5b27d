"""The Model page: build an architecture (task, encoders, fusion, head), see it, check it, save it.

The page edits a ``ModelSpec`` dict (the spec is the currency, STYLE.md pattern 1); every form comes
from the registries' ``Param`` declarations, so a newly registered module appears with no UI code. The
rules are the core's: how a spec follows an edit, the presets and heads that serve a task
(:mod:`mmstudio.models.catalog`), the default spec for a dataset, the data's facts, the summary and the
check on a batch (:mod:`mmstudio.training.preflight`, which ``mmstudio train --check`` uses too).

The page composes its parts: the preset and file bar (:mod:`~mmstudio.ui.model.spec_bar`), the spec
form with a section per slot (:mod:`~mmstudio.ui.model.form`, :mod:`~mmstudio.ui.model.sections`), the
diagram (:mod:`~mmstudio.ui.model.diagram`), the check row (:mod:`~mmstudio.ui.model.check`), and the
background work (:mod:`~mmstudio.ui.model.controller`).

Startup stays light: importing this module imports neither torch nor :mod:`mmstudio.models`. The
library loads in the thread pool when the page is first shown (or :meth:`ModelPanel.prepare` is
called) while the page says so; then the forms are built.

Run it alone with ``python -m mmstudio.ui.model [DATASET] [--screenshot out.png]``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mmstudio.training import preflight
from mmstudio.training.spec import TrainSpec, read_spec_file, write_spec_file
from mmstudio.ui.model.check import BatchCheckWidget
from mmstudio.ui.model.controller import PreflightController
from mmstudio.ui.model.diagram import ArchitectureDiagramWidget
from mmstudio.ui.model.document import SpecDocument
from mmstudio.ui.model.form import SpecFormWidget
from mmstudio.ui.model.pretrained import PretrainedController
from mmstudio.ui.model.sections import ComponentSection, hint_label
from mmstudio.ui.model.spec_bar import SpecBarWidget
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.widgets import BusyState, EmptyState, MessageBar
from mmstudio.vocabulary import SLOT_TITLES

if TYPE_CHECKING:
    from types import ModuleType

    from mmstudio.data.dataset import Dataset

LOADING, FAILED, READY = range(3)  # the pages of the stack


class ModelPanel(QWidget):
    """The architecture builder; see the module docstring.

    Public API: :meth:`prepare`, :meth:`is_ready`, :meth:`is_busy`, :meth:`spec`, :meth:`set_spec`,
    :meth:`apply_preset`, :meth:`new_spec`, :meth:`open_file`, :meth:`load_spec_file`, :meth:`save`,
    :meth:`save_as`, :meth:`save_spec_file`, :meth:`is_dirty`, :meth:`document_name`,
    :meth:`confirm_discard`, :meth:`check_on_batch`, :meth:`set_train_spec`; signals
    :attr:`spec_changed` (every change, valid or not), :attr:`dirty_changed`, :attr:`document_changed`
    (its name or unsaved state), :attr:`batch_checked`. Valid specs also go to ``state.set_model_spec``;
    a spec asked for elsewhere (``state.model_spec_requested``: a run's) replaces the page's after the
    unsaved-changes question, untitled. The spec's file, history and questions are its
    :class:`~mmstudio.ui.model.document.SpecDocument`.
    """

    spec_changed = Signal(object)  # the spec dict, after every change
    dirty_changed = Signal(bool)
    document_changed = Signal()
    batch_checked = Signal(object)  # the check's result dict, or {"error": message}

    def __init__(self, state: StudioState, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self._state = state
        self._settings = settings
        self._train = TrainSpec()
        self._lib: ModuleType | None = None
        self.library_seconds: float | None = None
        self._spec: dict[str, Any] = {}
        self._pending: dict[str, Any] | None = None  # a spec given before the library is ready
        self._pending_preset: str | None = None
        self._pending_clean = False
        self._pending_path: Path | None = None
        self._pending_origin = ""
        self._from_default = True  # the spec is the page's default, not the user's: follows the dataset
        self._dirty = False
        self._document = SpecDocument(self, settings, self._show, lambda: self._spec)
        self._document.changed.connect(self._on_document_changed)
        self._summary: dict | None = None
        self.summary_seconds: float | None = None
        self._issues: list[dict] = []
        self._check_result: dict | None = None
        self._preset_fits: dict[str, dict[str, tuple[bool, str]]] = {}

        self._preflight = PreflightController(self)
        self._preflight.library_loaded.connect(self._on_preflight_library_loaded)
        self._preflight.library_failed.connect(self._on_preflight_library_failed)
        self._preflight.facts_read.connect(self._on_preflight_facts_read)
        self._preflight.facts_failed.connect(self._on_preflight_facts_failed)
        self._preflight.summary_ready.connect(self._on_preflight_summary_ready)
        self._preflight.summary_failed.connect(self._on_preflight_summary_failed)
        self._preflight.check_progressed.connect(self._on_preflight_check_progressed)
        self._preflight.check_succeeded.connect(self._on_preflight_check_succeeded)
        self._preflight.check_failed.connect(self._on_preflight_check_failed)
        self._preflight.check_cancelled.connect(self._on_preflight_check_cancelled)
        self._preflight.check_finished.connect(self._update_check_button)

        self._pretrained = PretrainedController(self)
        self._pretrained.status_ready.connect(self._on_pretrained_status_ready)
        self._pretrained.cached_listed.connect(self._on_pretrained_cached_listed)
        self._pretrained.download_progressed.connect(self._on_pretrained_download_progressed)
        self._pretrained.download_finished.connect(self._on_pretrained_download_finished)

        self._build()
        state.dataset_changed.connect(self._on_state_dataset_changed)
        state.model_spec_changed.connect(self._on_state_model_spec_changed)
        state.model_spec_requested.connect(self._on_state_model_spec_requested)

    # --- layout -------------------------------------------------------------------------------------

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(12, 10, 12, 10)
        root.setSpacing(8)
        self._bar = SpecBarWidget(self._document.undo_action, self._document.redo_action)
        self._bar.preset_chosen.connect(self._on_bar_preset_chosen)
        self._bar.new_requested.connect(self.new_spec)
        self._bar.open_requested.connect(self.open_file)
        self._bar.save_requested.connect(self.save)
        root.addWidget(self._bar)
        self._message = MessageBar()
        root.addWidget(self._message)
        self._stack = QStackedWidget()
        root.addWidget(self._stack, 1)
        self._stack.addWidget(BusyState("Loading the model library…"))
        self._failed = EmptyState("error", "The model library could not be loaded", "")
        self._stack.addWidget(self._failed)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        self._stack.addWidget(splitter)
        self._form = SpecFormWidget()
        self._form.task_chosen.connect(self._on_form_task_chosen)
        self._form.entry_chosen.connect(self._on_form_entry_chosen)
        self._form.params_edited.connect(self._on_form_params_edited)
        self._form.download_clicked.connect(self._on_form_download_clicked)
        self._form.cancel_clicked.connect(self._on_form_cancel_clicked)
        splitter.addWidget(self._form)
        splitter.addWidget(self._build_view())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 820])
        self._update_check_button()
        self._update_context_label()

    def _build_view(self) -> QWidget:
        """The data's sizes, the diagram, and the check on a batch."""
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(8, 4, 0, 0)
        right_layout.setSpacing(8)
        self._context_label = hint_label()
        self._context_label.setObjectName("contextLabel")
        right_layout.addWidget(self._context_label)
        self.diagram = ArchitectureDiagramWidget()
        self.diagram.block_clicked.connect(self._on_diagram_block_clicked)
        right_layout.addWidget(self.diagram, 1)
        self._summary_error = MessageBar()
        right_layout.addWidget(self._summary_error)
        self._check = BatchCheckWidget()
        self._check.clicked.connect(self._on_check_clicked)
        right_layout.addWidget(self._check)
        return right

    # --- public API ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Start loading the model library in the background (once); the forms follow."""
        if self._lib is None:
            self._preflight.load_library()

    def is_ready(self) -> bool:
        return self._lib is not None

    def is_busy(self) -> bool:
        """Loading the library or the dataset's facts, a summary due or running, a check running, or a
        pretrained model's status being looked up (a download is not: it can take minutes)."""
        return self._preflight.is_busy() or self._pretrained.is_busy()

    def spec(self) -> dict[str, Any]:
        """The spec being edited (complete), or, before the library is ready, the one waiting for it
        (an empty dict when there is none yet)."""
        if self._lib is None:
            return copy.deepcopy(self._pending or {})
        return copy.deepcopy(self._spec)

    def set_spec(
        self, spec: Mapping[str, Any], *, mark_clean: bool = False, path: Path | None = None, origin: str = ""
    ) -> None:
        """Show ``spec`` (completed with defaults). Raises ``SpecError`` for a spec without structure
        (no task, a component that is not an object); unknown names and bad values are kept and
        explained on the page. ``mark_clean``: the spec is saved somewhere (no unsaved changes; a new
        document, its file ``path`` or, untitled, where it came from: ``origin``); else an undoable
        change. Asks nothing: :meth:`confirm_discard` is the caller's."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"a model spec is a dict, not {type(spec).__name__}")
        if self._lib is None:
            self._pending = copy.deepcopy(dict(spec))
            self._pending_preset = None
            self._pending_clean, self._pending_path, self._pending_origin = mark_clean, path, origin
            self.prepare()
            return
        complete = self._lib.ModelSpec.from_dict(spec).to_dict()
        self._from_default = False
        if mark_clean:
            self._document.reset(complete, path=path, origin=origin)
        else:
            self._document.change(complete, "Change the model")

    def apply_preset(self, name: str) -> None:
        """Replace the spec by preset ``name`` (``PRESETS``) for the current task (an undoable step;
        the file stays)."""
        if self._lib is None:
            self._pending_preset = name
            self.prepare()
            return
        task = self._spec.get("task") or "classification"
        spec = self._lib.preset_spec(name, task).to_dict()
        self._from_default = False
        title = self._lib.preset_title(name)
        self._document.change(spec, f"Preset {title}")
        self._state.post_status(f"Preset: {title}")

    def new_spec(self) -> bool:
        """Start again from the default model for the dataset, untitled (after the unsaved-changes
        question); False when the user cancelled."""
        if self._lib is None or not self.confirm_discard("start a new model spec"):
            return False
        self._from_default = True
        self._document.reset(self._default_spec())
        self._state.post_status("A new model spec: the default for the dataset")
        return True

    def open_file(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Open a spec file (``None``: ask which) after the unsaved-changes question; False when it was
        not opened (cancelled, or the page says what is wrong with the file)."""
        if not self.confirm_discard("open another model spec"):
            return False
        path = path or self._document.ask_open_path()
        if not path:
            return False
        try:
            self.load_spec_file(path)
        except (OSError, ValueError):
            return False  # the page shows the message
        return True

    def save(self) -> bool:
        """Save to the spec's file, or ask where when it has none (untitled); False when not saved."""
        if self._document.path is None:
            return self.save_as()
        return self._save_to(self._document.path)

    def save_as(self) -> bool:
        path = self._document.ask_save_path()
        return bool(path) and self._save_to(Path(path))

    def _save_to(self, path: Path) -> bool:
        try:
            self.save_spec_file(path)
        except (OSError, ValueError):
            return False  # the page shows the message
        return True

    def confirm_discard(self, doing: str) -> bool:
        """True when there are no unsaved changes, or the user saved or discarded them before
        ``doing`` ("open another model spec")."""
        return self._document.confirm_discard(doing, self.save)

    def document_name(self) -> str:
        """The spec's file name, or ``Untitled model`` (``Untitled model (from run 3 (baseline))``)."""
        return self._document.name()

    def path(self) -> Path | None:
        return self._document.path

    def load_spec_file(self, path: str | os.PathLike[str]) -> None:
        """Open a spec saved as JSON. Raises ``OSError`` for an unreadable file and ``ValueError``
        (``SpecError``) for one that is not a model spec; the page shows the message either way."""
        path = Path(path)
        try:
            data = read_spec_file(path)
        except (OSError, ValueError) as exc:
            self._message.show_message(str(exc), "error")
            raise
        if self._lib is not None:
            try:
                self._lib.ModelSpec.from_dict(data)
            except ValueError as exc:
                message = f"{path.name} is not a usable model spec: {exc}"
                self._message.show_message(message, "error")
                raise
        self._message.clear()
        self._settings.last_spec_dir = str(path.parent)
        self.set_spec(data, mark_clean=True, path=path)
        self._state.post_status(f"Opened the model spec {path}")

    def save_spec_file(self, path: str | os.PathLike[str]) -> None:
        """Write the spec as JSON (atomically: a temporary file renamed into place)."""
        path = Path(path)
        spec = self.spec()
        if not spec:
            raise ValueError("there is no model spec to save yet: the model library is still loading")
        try:
            write_spec_file(path, spec)
        except OSError as exc:
            self._message.show_message(str(exc), "error")
            raise
        self._message.clear()
        self._settings.last_spec_dir = str(path.parent)
        self._document.saved(spec, path)
        self._state.post_status(f"Saved the model spec to {path}")

    def is_dirty(self) -> bool:
        return self._document.is_dirty()

    def set_train_spec(self, train: TrainSpec | None) -> None:
        """The training settings the shapes depend on (image size, text length, batch size, tokenizer);
        None: the defaults. The Train page calls this when they change."""
        train = train or TrainSpec()
        old, self._train = self._train, train
        tokenizer = ("tokenizer", "vocab_min_freq", "vocab_max_size")
        if any(getattr(old, k) != getattr(train, k) for k in tokenizer) and self._state.dataset is not None:
            self._read_facts()
        self._update_context_label()
        self._request_summary()

    def check_on_batch(self) -> None:
        """Start "Check on a batch" (the button does the same); :attr:`batch_checked` reports it."""
        dataset = self._state.dataset
        if self._lib is None or dataset is None or self._preflight.facts is None:
            return
        if self._preflight.is_checking():
            return
        self._check.clear()
        self._check_result = None
        self._preflight.start_check(self.spec(), dataset, self._train)
        self._check.set_status("Checking…")
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
        return self._form.sections[slot]

    # --- the library ----------------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.prepare()
        if self._lib is not None and not event.spontaneous():  # back on the page: models may have come
            self._pretrained.list_cached()  # or gone meanwhile (`mmstudio models pull` in a terminal)
            self._pretrained.refresh()

    def _on_preflight_library_loaded(self, seconds: float) -> None:
        import mmstudio.models as lib  # already imported by the task: a dictionary look-up

        self.library_seconds = seconds
        self._lib = lib
        self._form.fill_choices(lib)
        self._pretrained.list_cached()
        self._bar.set_presets([(name, lib.preset_title(name)) for name in lib.PRESETS])
        self._stack.setCurrentIndex(READY)
        pending, preset = self._pending, self._pending_preset
        clean, path, origin = self._pending_clean, self._pending_path, self._pending_origin
        self._pending = self._pending_preset = None
        self._document.reset(self._default_spec())
        self._draw(pending=True)  # the blocks at once; shapes and counts follow from the summary
        if pending is not None:
            try:
                self.set_spec(pending, mark_clean=clean, path=path, origin=origin)
            except ValueError as exc:
                self._message.show_message(f"The model spec could not be used: {exc}", "error")
        if preset is not None:
            try:
                self.apply_preset(preset)
            except KeyError as exc:
                self._message.show_message(str(exc.args[0]), "error")
        if self._state.dataset is not None:
            self._read_facts()
        self._update_check_button()

    def _on_preflight_library_failed(self, message: str) -> None:
        self._failed.text.setText(
            f"{message}\n\nCheck that PyTorch is installed in this environment; the details are in the log."
        )
        self._stack.setCurrentIndex(FAILED)

    def _default_spec(self) -> dict[str, Any]:
        """The spec training would pick for the loaded dataset."""
        return preflight.resolve_model_spec({}, self._state.dataset).to_dict()

    # --- applying a spec ------------------------------------------------------------------------------

    def _show(self, spec: dict[str, Any], edited: str | None) -> None:
        """Make ``spec`` (complete) the page's spec: controls, signals, a summary (the document calls
        it for every change, undo and redo included; ``edited``: the component whose form made it)."""
        self._spec = spec
        self._refresh_controls(edited=edited)
        self._cancel_check()
        self.spec_changed.emit(self.spec())
        self._request_summary()

    def _refresh_controls(self, *, edited: str | None = None) -> None:
        lib = self._lib
        assert lib is not None
        task = self._spec.get("task", "")
        self._form.show_spec(self._spec, lib, edited=edited)
        if task not in self._preset_fits:
            self._preset_fits[task] = lib.preset_fits(task)
        self._bar.set_preset_fits(self._preset_fits[task], lib.PRESET_HELP)
        preset = lib.matching_preset(self._spec)
        self._bar.show_preset(preset, lib.PRESET_HELP.get(preset, "") if preset else "")
        self._update_pretrained()

    def _on_document_changed(self) -> None:
        document = self._document
        where = str(document.path) if document.path else "Not saved in a file yet"
        self._bar.show_document(document.name(), where, document.is_dirty())
        if document.is_dirty() != self._dirty:
            self._dirty = document.is_dirty()
            self.dirty_changed.emit(self._dirty)
        self.document_changed.emit()

    # --- edits ----------------------------------------------------------------------------------------

    def _on_form_task_chosen(self, task: str) -> None:
        if task != self._spec.get("task"):
            self._edit_and_follow({**self._spec, "task": task}, "task")

    def _on_form_entry_chosen(self, slot: str, name: str) -> None:
        assert self._lib is not None
        self._edit_and_follow(self._lib.switch_entry(self._spec, slot, name), slot)

    def _on_form_params_edited(self, slot: str, values: dict) -> None:
        spec = copy.deepcopy(self._spec)
        spec[slot] = {"name": spec[slot]["name"], **values}
        self._edit(spec, edited=slot, text=f"Edit the {SLOT_TITLES.get(slot, slot).lower()}")

    def _edit_and_follow(self, spec: dict[str, Any], changed: str) -> None:
        """Make the edit, and what it implies (``harmonize``), each change posted to the status bar."""
        assert self._lib is not None
        spec, notes = self._lib.harmonize(spec, changed)
        if notes:
            self._state.post_status("Model: " + "; ".join(notes))
        self._edit(spec, text=f"Change the {SLOT_TITLES.get(changed, changed).lower()}")

    def _edit(self, spec: dict[str, Any], *, text: str, edited: str | None = None) -> None:
        """An edit made on the page: one step of the history (a component's parameter edits merge)."""
        assert self._lib is not None
        self._message.clear()
        self._from_default = False
        slot = list(SLOT_TITLES).index(edited) if edited in SLOT_TITLES else 0
        spec = self._lib.ModelSpec.from_dict(spec).to_dict()
        self._document.change(spec, text, params_of=edited, slot=slot)

    def _on_diagram_block_clicked(self, key: str) -> None:
        self._form.reveal({"text_input": "text_encoder", "image_input": "image_encoder"}.get(key, key))

    # --- the dataset ----------------------------------------------------------------------------------

    def _on_state_dataset_changed(self, dataset: Dataset | None) -> None:
        self._preflight.read_facts(None, self._train)
        self._cancel_check()
        if self._lib is not None:
            if self._from_default:
                self._document.reset(self._default_spec())
            if dataset is not None:
                self._read_facts()
            self._request_summary()
        self._update_context_label()
        self._update_check_button()

    def _read_facts(self) -> None:
        self._preflight.read_facts(self._state.dataset, self._train)
        self._update_context_label()

    def _on_preflight_facts_read(self, _facts: preflight.DatasetFacts) -> None:
        self._update_context_label()
        self._update_check_button()
        self._request_summary()

    def _on_preflight_facts_failed(self, message: str) -> None:
        self._context_label.setText(f"Could not read the dataset's vocabulary and labels: {message}")
        self._update_check_button()

    def _on_state_model_spec_changed(self, spec: dict | None) -> None:
        if spec is not None and self._lib is not None and spec != self._spec:
            try:
                self.set_spec(spec)
            except ValueError as exc:
                self._message.show_message(f"The model spec could not be shown: {exc}", "error")

    def _on_state_model_spec_requested(self, spec: dict, origin: str) -> None:
        """A model to open in the builder (a run's): asked about unsaved changes first, then shown
        untitled, "from" where it came."""
        if not self.confirm_discard(f"open the model of {origin}"):
            self._state.post_status(f"The model of {origin} was not opened: the builder keeps its changes")
            return
        try:
            self.set_spec(spec, mark_clean=True, origin=origin)
        except ValueError as exc:
            self._message.show_message(f"The model of {origin} could not be shown: {exc}", "error")
            return
        self._state.post_status(f"The model of {origin} is in the builder (untitled until saved)")

    def _context(self) -> dict[str, Any]:
        """The ``ModelContext`` fields for the current spec, as the runner computes them (the dataset's
        columns tell its modalities at once, before its facts are read)."""
        columns = None if self._state.dataset is None else self._state.dataset.columns
        return preflight.model_context(
            self._spec.get("task", "classification"),
            self._train,
            self._preflight.facts,
            has_text=None if columns is None else columns.text is not None,
            has_image=None if columns is None else columns.image is not None,
        )

    def _update_context_label(self) -> None:
        dataset = self._state.dataset
        name = None if dataset is None else dataset.root.name
        self._context_label.setText(preflight.describe_context(self._train, self._preflight.facts, name))

    # --- summaries ------------------------------------------------------------------------------------

    def _request_summary(self) -> None:
        if self._lib is not None:
            self._preflight.request_summary(self.spec(), self._context(), self._train.batch_size)

    def _on_preflight_summary_ready(self, result: dict) -> None:
        self.summary_seconds = result.get("seconds")
        from mmstudio.models.suggested import page_message  # loaded with the model library by now

        # a missing pretrained model: the page's Download button, not the command line's pull
        self._issues = [{**i, "message": page_message(i["message"])} for i in result["issues"]]
        self._summary = result["summary"]
        self._form.show_issues(self._issues)
        if result.get("error"):
            self._summary_error.show_message(f"The model could not be built: {result['error']}", "error")
        else:
            self._summary_error.clear()
        self._draw()
        if not any(i["level"] == "error" for i in self._issues) and not result.get("error"):
            self._state.set_model_spec(self.spec())
        self._update_check_button()

    def _on_preflight_summary_failed(self, message: str) -> None:
        self._summary_error.show_message(f"The model could not be summarised: {message}", "error")

    def _draw(self, *, pending: bool = False) -> None:
        task = self._spec.get("task", "")
        data = preflight.architecture_diagram(
            self._spec,
            self._summary,
            context={**self._context(), "labels": preflight.labels_note(self._preflight.facts, task)},
            issues=self._issues,
            needs_tokens=preflight.fusion_reads_tokens(self._spec),
            pending=pending,
        )
        self.diagram.set_diagram(data)

    # --- check on a batch -----------------------------------------------------------------------------

    def _update_check_button(self) -> None:
        reason = ""
        if self._lib is None:
            reason = "The model library is loading"
        elif self._state.dataset is None:
            reason = "Open a dataset to check the model on one of its batches"
        elif self._preflight.facts is None:
            reason = self._preflight.facts_error or "Reading the dataset's vocabulary and labels…"
        elif any(i["level"] == "error" for i in self._issues):
            reason = "Fix the errors first"
        self._check.set_state(running=self._preflight.is_checking(), reason=reason)

    def _on_check_clicked(self) -> None:
        if self._preflight.is_checking():
            self._preflight.cancel_check()
        else:
            self.check_on_batch()

    def _cancel_check(self) -> None:
        self._preflight.cancel_check()
        self._check_result = None
        self._check.clear()

    def _on_preflight_check_progressed(self, message: str) -> None:
        self._check.set_status(message)

    def _on_preflight_check_succeeded(self, result: dict) -> None:
        self._check_result = result
        level, text = preflight.describe_check(result)
        self._check.show_outcome(text, level)
        self._update_check_button()
        self.batch_checked.emit(copy.deepcopy(result))

    def _on_preflight_check_failed(self, message: str) -> None:
        self._check_result = {"error": message}
        self._check.show_outcome(f"The check failed: {message}", "error")
        self._update_check_button()
        self.batch_checked.emit({"error": message})

    def _on_preflight_check_cancelled(self) -> None:
        self._check.set_status("Check cancelled")
        self._update_check_button()

    # --- pretrained models ------------------------------------------------------------------------------

    def pretrained_ref(self, slot: str) -> str | None:
        """What the encoder of ``slot`` fetches (a hub id, a folder, ``torchvision:NAME``), or None."""
        from mmstudio.models.suggested import pretrained_ref

        return pretrained_ref(slot, self._spec.get(slot) or {})

    def download_model(self, slot: str) -> None:
        """Start downloading the pretrained model of ``slot`` (the Download button does the same)."""
        ref = self.pretrained_ref(slot)
        if not ref or self._pretrained.downloading(slot):
            return
        widget = self._form.sections[slot].pretrained
        widget.set_downloading(True)
        widget.show_progress(0.0, f"Starting the download of {ref}…")
        self._message.clear()
        self._pretrained.download(slot, ref)

    def cancel_download(self, slot: str | None = None) -> None:
        self._pretrained.cancel(slot)

    def _update_pretrained(self) -> None:
        for slot in ("text_encoder", "image_encoder"):
            section = self._form.sections[slot]
            ref = self.pretrained_ref(slot)
            widget = section.pretrained
            if ref is None:
                widget.hide()
                self._pretrained.watch(slot, None)
                continue
            self._fill_pretrained_choices(slot)
            widget.combo.setVisible((self._spec.get(slot) or {}).get("name") == "hf")
            widget.show()
            known = self._pretrained.status(ref)
            if known is None and not widget.is_downloading():
                widget.show_status("", f"Looking for {ref} on this machine…" if ref else "", False)
            self._pretrained.watch(slot, ref)

    def _fill_pretrained_choices(self, slot: str) -> None:
        from mmstudio.models.suggested import slot_kind, suggestions

        cached = set(self._pretrained.cached)
        rows, ids = [], []
        for model in suggestions(slot_kind(slot)):
            mark = " · cached" if model.id in cached else ""
            rows.append((model.id, f"{model.id} · {model.facts()}{mark}", model.note))
            ids.append(model.id)
        for ident in sorted(cached - set(ids)):
            rows.append((ident, f"{ident} · cached", "On this machine (the Hugging Face cache or imported)"))
            ids.append(ident)
        widget = self._form.sections[slot].pretrained
        if [(i, widget.choice_label(i)) for i in widget.choices()] != [(r[0], r[1]) for r in rows]:
            widget.set_choices(rows)
            self._form.sections[slot].set_model_completions(ids)

    def _on_pretrained_cached_listed(self, _ids: list) -> None:
        if self._lib is not None and self._spec:
            self._update_pretrained()

    def _on_pretrained_status_ready(self, slot: str, status: Any) -> None:
        if status.ref != self.pretrained_ref(slot):
            return
        widget = self._form.sections[slot].pretrained
        downloading = bool(self._pretrained.downloading(slot))
        widget.show_status(status.state, status.text, status.can_download and not downloading)

    def _on_form_download_clicked(self, slot: str) -> None:
        self.download_model(slot)

    def _on_form_cancel_clicked(self, slot: str) -> None:
        self.cancel_download(slot)

    def _on_pretrained_download_progressed(self, slot: str, fraction: float, message: str) -> None:
        self._form.sections[slot].pretrained.show_progress(fraction, message)

    def _on_pretrained_download_finished(self, slot: str, ok: bool, message: str) -> None:
        widget = self._form.sections[slot].pretrained
        widget.set_downloading(False)
        ref = self.pretrained_ref(slot) or "the model"
        if ok:
            self._state.post_status(f"Downloaded {ref}")
            self._request_summary()  # the model is here now: validate again
        elif message == "cancelled":
            self._state.post_status(f"The download of {ref} was cancelled; the files fetched are kept")
        else:
            self._message.show_message(f"Could not download {ref}: {message}", "error")
        self._update_pretrained()

    def _on_bar_preset_chosen(self, name: str) -> None:
        assert self._lib is not None
        if self.confirm_discard(f"replace the model by the {self._lib.preset_title(name)} preset"):
            self.apply_preset(name)
        else:
            self._refresh_controls()  # the preset combo shows the spec's own again
