"""What the Experiments page does to runs, as ``mmstudio runs`` does: rename, tag, annotate, delete,
re-open in the builder, evaluate, export, compare, follow a running run live on the Train page, stop
running runs that other processes or machines train (through the store, as ``mmstudio runs stop``);
and a CLIP / SigLIP zero-shot baseline recorded as a new run (as ``mmstudio zeroshot``).
:class:`RunActionsController` owns the actions (the toolbar's and the context menu's), enables them for
the selection, and runs each one off the GUI thread
(:func:`mmstudio.ui.tasks.run_task`), telling the page how it ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox, QWidget

from mmstudio.formatting import plural
from mmstudio.store.handle import StoreHandle
from mmstudio.store.summaries import RunRecord
from mmstudio.store.types import RunStatus
from mmstudio.ui import tasks
from mmstudio.ui.experiments.dialogs import EvaluationDialog, NotesDialog
from mmstudio.ui.experiments.progress import TaskProgressRow
from mmstudio.ui.experiments.table import RunsTableModel
from mmstudio.ui.remote_stop import ask_to_stop_task, confirm_stop
from mmstudio.ui.resources import icon
from mmstudio.ui.state import StudioState
from mmstudio.ui.widgets import MessageBar

log = logging.getLogger(__name__)

MAX_COMPARE = 20
_STOP_TIP = (
    "Ask the selected running runs to stop, wherever they train (another process, another machine): "
    "each stops at its next step, saves a checkpoint and ends stopped; resume it later"
)
DATASET_FILES = "Datasets (*.csv *.tsv *.jsonl *.json *.parquet *.tar);;All files (*)"


class RunActionsController(QObject):
    """The actions on the selected runs of ``page`` (their shortcuts work inside it). ``selection()``
    gives the selected run ids; ``model`` the records. :attr:`edited` names the runs an action changed
    (the page reads them again), :attr:`task_finished` says how an action ended."""

    task_finished = Signal(str, bool)  # an action ("rename", "delete", "evaluate"...) ended; ok?
    edited = Signal(object)  # the ids of runs an action changed in the store

    def __init__(
        self,
        page: QWidget,
        state: StudioState,
        handle: StoreHandle,
        model: RunsTableModel,
        message: MessageBar,
        selection: Callable[[], list[int]],
    ) -> None:
        super().__init__(page)
        self.page = page
        self.state = state
        self._handle = handle
        self.model = model
        self.message = message
        self.selection = selection
        self._busy: set[tasks.Task] = set()
        self.last_evaluation: dict[str, Any] | None = None
        self.last_zeroshot: dict[str, Any] | None = None
        self.evaluation_dialog: EvaluationDialog | None = None
        self.evaluation: tasks.Task | None = None  # the evaluation running, if one is
        self.progress_row = TaskProgressRow()  # the page lays it out
        self.progress_row.cancel_requested.connect(self.cancel_evaluation)

        self.rename_action = self._action("Rename…", self.rename_selected, None, "Rename the run", "F2")
        self.tags_action = self._action("Tags…", self.tag_selected, None, "Set the run's tags")
        self.notes_action = self._action("Notes…", self.annotate_selected, None, "Write notes on the run")
        self.delete_action = self._action(
            "Delete…", self.delete_selected, None, "Delete the runs and their checkpoints", "Del"
        )
        self.builder_action = self._action(
            "Open in builder",
            self.open_selected_in_builder,
            "model",
            "Load the run's job: its model on the Model page, its training settings on the Train page, "
            "and its dataset when none is open",
        )
        self.evaluate_action = self._action(
            "Evaluate on a folder…",
            self.evaluate_selected,
            "evaluate",
            "Evaluate the run on another dataset folder",
        )
        self.evaluate_file_action = self._action(
            "Evaluate on a file…",
            lambda: self.evaluate_selected(pick="file"),
            None,
            "Evaluate the run on a manifest file or .tar shard",
        )
        self.evaluate_own_action = self._action(
            "Evaluate on its own dataset",
            self.evaluate_selected_on_own_dataset,
            None,
            "Evaluate the run on the test split of the dataset it trained on, as recorded with it (the "
            "items it was trained without)",
        )
        self.export_action = self._action(
            "Export…", self.export_selected, "export", "Export the checkpoint as TorchScript or ONNX"
        )
        self.zeroshot_action = self._action(
            "Zero-shot baseline…",
            self.zeroshot_prompted,
            None,
            "Score the open dataset (or a folder) with a CLIP or SigLIP checkpoint, no training, and record "
            "it as a run to compare fine-tuned runs with",
        )
        self.follow_action = self._action(
            "Follow live on the Train page",
            self.follow_selected,
            "live",
            "Follow the running run on the Train page: its curves and progress as it trains, read from "
            "the store (it may train in another process or on another machine)",
        )
        self.follow_action.setIconText("Follow live")  # the toolbar's short name
        self.stop_action = self._action("Stop…", self.stop_selected, "stop", _STOP_TIP)
        self.stop_action.setIconText("Stop")
        self.compare_action = self._action(
            "Compare",
            self.compare_selected,
            "compare",
            f"Compare 2 to {MAX_COMPARE} selected runs (Ctrl+Shift+C)",
            "Ctrl+Shift+C",
        )

    def _action(self, text: str, slot, icon_name: str | None = None, tip: str = "", shortcut=None) -> QAction:
        action = QAction(text, self.page)
        if icon_name:
            action.setIcon(icon(icon_name))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        if shortcut:
            action.setShortcut(shortcut)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.page.addAction(action)
        return action

    def menu_actions(self) -> list[QAction | None]:
        """The context menu's actions, None for a separator."""
        return [
            self.rename_action,
            self.tags_action,
            self.notes_action,
            None,
            self.builder_action,
            self.evaluate_action,
            self.evaluate_file_action,
            self.evaluate_own_action,
            self.export_action,
            self.zeroshot_action,
            None,
            self.follow_action,
            self.stop_action,
            self.compare_action,
            None,
            self.delete_action,
        ]

    def update(self, current: RunRecord | None) -> None:
        """Enable the actions that apply to the selection (``current``: the run the details show)."""
        ids = self.selection()
        one = len(ids) == 1
        for action in (self.rename_action, self.tags_action, self.notes_action):
            action.setEnabled(one)
        self.builder_action.setEnabled(one and current is not None and bool(current.spec))
        usable = one and current is not None and current.status is not RunStatus.QUEUED
        self.export_action.setEnabled(usable)
        free = usable and self.evaluation is None  # one evaluation at a time: they share the CPU
        for action in (self.evaluate_action, self.evaluate_file_action):
            action.setEnabled(free)
        recorded = free and current is not None and bool(current.dataset_spec or current.dataset)
        self.evaluate_own_action.setEnabled(recorded)
        self.zeroshot_action.setEnabled(self.evaluation is None)
        self.delete_action.setEnabled(bool(ids))
        self.compare_action.setEnabled(2 <= len(ids) <= MAX_COMPARE)
        running = one and current is not None and current.status is RunStatus.RUNNING
        own = running and current is not None and current.id == self.state.training_run_id
        self.follow_action.setEnabled(running and not own)
        if own:
            self.follow_action.setToolTip("This window trains the run: its Train page shows it live")
        elif running:
            self.follow_action.setToolTip(
                "Follow the running run on the Train page: its curves and progress as it trains, read "
                "from the store (it may train in another process or on another machine)"
            )
        else:
            self.follow_action.setToolTip("Select one running run to follow it live on the Train page")
        self._update_stop(ids)

    def _update_stop(self, ids: list[int]) -> None:
        """Stop: for the selected running runs that this window does not train (its own run stops
        through its worker, with the Train page's Stop)."""
        running = self._running(ids)
        stoppable = [r for r in running if r.id != self.state.training_run_id]
        self.stop_action.setEnabled(bool(stoppable))
        if stoppable:
            self.stop_action.setToolTip(_STOP_TIP)
        elif running:
            self.stop_action.setToolTip("This window trains the run: stop it with the Train page's Stop")
        else:
            self.stop_action.setToolTip("Select running runs to stop them, wherever they train")
        self.stop_action.setStatusTip(self.stop_action.toolTip())

    def _running(self, ids: Iterable[int]) -> list[RunRecord]:
        records = (self.model.record_by_id(i) for i in ids)
        return [r for r in records if r is not None and r.status is RunStatus.RUNNING]

    def is_busy(self) -> bool:
        return bool(self._busy)

    # --- the actions on one run ---------------------------------------------------------------------

    def rename_run(self, run_id: int, name: str | None = None) -> None:
        rec = self.model.record_by_id(run_id)
        if name is None:
            name, ok = QInputDialog.getText(self.page, "Rename run", "Name:", text=rec.name if rec else "")
            if not ok:
                return
        name = name.strip()
        if not name:
            self.message.show_message("A run needs a name; it was not renamed.", "warning")
            return
        self._store_task("rename the run", lambda store: store.rename_run(run_id, name), run_ids=[run_id])

    def set_tags(self, run_id: int, tags: Iterable[str] | None = None) -> None:
        rec = self.model.record_by_id(run_id)
        if tags is None:
            text, ok = QInputDialog.getText(
                self.page, "Tags", "Tags, separated by commas:", text=", ".join(rec.tags) if rec else ""
            )
            if not ok:
                return
            tags = [t.strip() for t in text.split(",")]
        tags = [t for t in tags if t.strip()]
        self._store_task("set the tags", lambda store: store.set_tags(run_id, tags), run_ids=[run_id])

    def edit_notes(self, run_id: int, notes: str | None = None) -> None:
        rec = self.model.record_by_id(run_id)
        if notes is None:
            dialog = NotesDialog(rec.name if rec else str(run_id), rec.notes if rec else "", self.page)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            notes = dialog.notes()
        self._store_task("save the notes", lambda store: store.set_notes(run_id, notes), run_ids=[run_id])

    def delete_runs(self, run_ids: Iterable[int], *, confirm: bool = True) -> None:
        """Delete the runs and their checkpoint folders (as ``mmstudio runs delete``), after asking."""
        ids = list(run_ids)
        records = [r for r in (self.model.record_by_id(i) for i in ids) if r is not None]
        running = [r for r in records if r.status is RunStatus.RUNNING]
        if running:
            self.message.show_message(
                f"Run {running[0].id} ({running[0].name}) is running; stop it before deleting it.", "warning"
            )
            return
        if not ids:
            return
        if confirm:
            names = ", ".join(f"{r.id} ({r.name})" for r in records[:8]) + (" …" if len(records) > 8 else "")
            one = len(ids) == 1
            what = (
                "Its record, curves, evaluations and the checkpoint files mmstudio wrote for it are"
                if one
                else "Their records, curves, evaluations and the checkpoint files mmstudio wrote for them are"
            )
            answer = QMessageBox.question(
                self.page,
                "Delete run" if one else "Delete runs",
                f"Delete {plural(len(ids), 'run')}: {names}?\n\n{what} removed. Files you exported "
                "elsewhere are kept.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return

        def delete(store) -> list[int]:
            from mmstudio.store import NotFoundError

            done = []
            for run_id in ids:
                try:
                    store.delete_run(run_id)
                except NotFoundError:
                    pass  # deleted meanwhile (by another window or 'mmstudio runs delete')
                done.append(run_id)
            return done

        self._store_task(
            "delete the runs",
            delete,
            run_ids=ids,
            on_success=lambda done: self.state.post_status(
                f"Deleted run{'s' * (len(done) != 1)} {', '.join(map(str, done))}"
            ),
        )

    def open_in_builder(self, run_id: int) -> bool:
        """Restore the job the run stored: its model spec on the Model page (shown), its training
        settings on the Train page, and, when no dataset is open, its dataset (read from the store in
        the background: an old record names its dataset's folder)."""
        from mmstudio.training.spec import TrainSpec

        rec = self.model.record_by_id(run_id)
        if rec is None or not rec.spec:
            self.message.show_message(f"Run {run_id} has no model spec to open.", "warning")
            return False
        from mmstudio.training.zeroshot import is_zeroshot, pair_spec

        # the Model page asks about its unsaved changes first, and shows it untitled; a zero-shot
        # run's model is its CLIP / SigLIP pair, ready to fine-tune (zero-shot scoring is no model)
        zeroshot = is_zeroshot(rec.spec)
        self.state.model_spec_requested.emit(pair_spec(dict(rec.spec)), f"run {rec.id} ({rec.name})")
        restored = ["its CLIP / SigLIP pair, to fine-tune" if zeroshot else "its model"]
        if rec.train_spec:
            try:
                train = TrainSpec.from_dict(rec.train_spec)
            except (ValueError, TypeError) as exc:
                self.message.show_message(
                    f"Run {rec.id}'s training settings could not be read: {exc}", "warning"
                )
            else:
                self.state.train_spec_requested.emit(train)
                restored.append("its training settings")
        if self.state.dataset is None and (rec.dataset_spec or rec.dataset):
            self._open_recorded_dataset(rec)
        self.state.page_requested.emit("model")
        self.state.post_status(f"Run {rec.id} ({rec.name}) is in the builder: {' and '.join(restored)}")
        return True

    def _open_recorded_dataset(self, rec: RunRecord) -> tasks.Task:
        """Find the run's dataset (its recorded spec) off the GUI thread, then ask for it to be opened."""
        handle, url, run_id = self._handle, self.state.db_url, rec.id

        def find(_state):
            from mmstudio.training.resume import recorded_dataset

            return recorded_dataset(handle.get(url), run_id)

        def found(spec) -> None:
            if self.state.dataset is None:  # none was opened meanwhile
                self.state.dataset_requested.emit(spec)
                self.state.post_status(f"Opening run {run_id}'s dataset {spec.path}…")

        def failed(message: str, _traceback: str) -> None:
            self.message.show_message(
                f"Run {run_id}'s dataset was not opened: {message}. Open it (or a copy) on the Datasets "
                "page to train the run again.",
                "warning",
            )

        task = tasks.run_task(find)
        self._busy.add(task)
        task.succeeded.connect(found)
        task.failed.connect(failed)
        task.finished.connect(lambda: self._busy.discard(task))
        return task

    def follow(self, run_id: int) -> bool:
        """Show run ``run_id`` on the Train page as it trains (read from the store: any process or
        machine may train it); this window's own run is there already."""
        rec = self.model.record_by_id(run_id)
        if rec is None or rec.status is not RunStatus.RUNNING:
            self.message.show_message(
                f"Run {run_id} is not running: its curves are all in the store.", "info"
            )
            return False
        if run_id != self.state.training_run_id:
            self.state.follow_requested.emit(run_id)
        self.state.page_requested.emit("train")
        return True

    def stop_runs(self, run_ids: Iterable[int], *, confirm: bool = True) -> tasks.Task | None:
        """Ask the running runs among ``run_ids`` that this window does not train to stop, through the
        store (as ``mmstudio runs stop``), after a question that names them and their machines: each
        one's process, wherever it runs, stops at its next step, saves a checkpoint and ends stopped.
        The message bar says how it went (a run that ended meanwhile included); the table shows them
        stopped when their processes have. None when there was nothing to ask, or the user said no."""
        running = self._running(run_ids)
        own = [r for r in running if r.id == self.state.training_run_id]
        stoppable = [r for r in running if r.id != self.state.training_run_id]
        mine = f"Run {own[0].id} is trained by this window: the Train page's Stop stops it." if own else ""
        if not stoppable:
            self.message.show_message(
                mine or "None of the selected runs is running: nothing to stop.", "info"
            )
            return None
        if confirm and not confirm_stop(self.page, stoppable):
            return None
        ids = [r.id for r in stoppable]
        task = ask_to_stop_task(self._handle, self.state.db_url, ids)
        self._busy.add(task)

        def succeeded(answers) -> None:
            said = " ".join([*(answer.message for answer in answers), mine]).strip()
            self.message.show_message(said, "info" if all(a.stopping for a in answers) else "warning")
            self.edited.emit(ids)
            self.state.runs_changed.emit()
            self.task_finished.emit("stop", True)

        def failed(message: str, traceback_text: str) -> None:
            log.warning("stop failed: %s\n%s", message, traceback_text)
            which = f"run {ids[0]}" if len(ids) == 1 else "the runs"
            self.message.show_message(
                f"Could not ask {which} to stop: {message}. The runs go on; Stop asks again.", "error"
            )
            self.task_finished.emit("stop", False)

        task.succeeded.connect(succeeded)
        task.failed.connect(failed)
        task.finished.connect(lambda: self._busy.discard(task))
        return task

    def compare(self, run_ids: Iterable[int]) -> bool:
        ids = list(run_ids)
        if not 2 <= len(ids) <= MAX_COMPARE:
            self.message.show_message(f"Select 2 to {MAX_COMPARE} runs to compare.", "info")
            return False
        self.state.compare_requested.emit(ids)
        self.state.page_requested.emit("compare")
        return True

    def evaluate(self, run_id: int, path: str, *, split: str = "all", checkpoint: str = "best") -> tasks.Task:
        """Evaluate run ``run_id`` on the dataset at ``path`` in the background (as ``mmstudio eval``:
        the evaluation is recorded with the run), then show its metrics. ``split="all"`` scores every
        usable row of the dataset (the run's vocabulary and labels come with its checkpoint)."""

        def load(task_state):
            from mmstudio.data import LoadOptions, load_dataset

            task_state.set_message(f"Reading {path}")
            options = LoadOptions(check_images="header")
            return load_dataset(path, options=options, progress=task_state, cancel=task_state)

        return self._evaluate(run_id, path, load, split, checkpoint)

    def evaluate_on_own_dataset(self, run_id: int, *, checkpoint: str = "best") -> tasks.Task:
        """Evaluate run ``run_id`` on the test split of the dataset it trained on, read by its recorded
        spec (as ``mmstudio eval RUN --split test``): the same items it was trained without."""
        handle, url = self._handle, self.state.db_url

        def load(task_state):
            from mmstudio.training.resume import recorded_dataset

            spec = recorded_dataset(handle.get(url), run_id)
            task_state.set_message(f"Reading {spec.path}")
            return spec.load(progress=task_state, cancel=task_state)

        return self._evaluate(run_id, "its own dataset", load, "test", checkpoint)

    def _evaluate(
        self, run_id: int, where: str, load: Callable[[Any], Any], split: str, checkpoint: str
    ) -> tasks.Task:
        url = self.state.db_url
        rec = self.model.record_by_id(run_id)
        name = rec.name if rec else f"run {run_id}"

        def work(task_state):
            from mmstudio.training.inference import evaluate_run

            dataset = load(task_state)
            if not dataset.report.usable:
                raise ValueError(f"{where} has no usable pairs; the Datasets page shows why")
            return evaluate_run(
                run_id,
                dataset,
                split=split,
                checkpoint=checkpoint,
                db_url=url,
                progress=task_state,
                cancel=task_state,
                stage=task_state.set_message,
            )

        self.state.post_status(f"Evaluating {name} on {where}…", 0)

        def succeeded(result: dict[str, Any]) -> None:
            self.last_evaluation = result
            self.state.post_status(f"Evaluated {name}: saved with the run")
            self.state.runs_changed.emit()
            self.evaluation_dialog = EvaluationDialog(name, result, self.page)
            self.evaluation_dialog.open()

        task = self._run_action(
            "evaluate",
            run_id,
            work,
            succeeded,
            f"Could not evaluate {name} on {where}",
            cancelled=f"The evaluation of {name} was cancelled; nothing was recorded.",
            ended=self._on_evaluation_ended,
        )
        self.evaluation = task
        self.progress_row.start(f"Evaluating {name} on {where}")
        task.progressed.connect(self.progress_row.show_progress)
        self.update(self._one_selected())
        return task

    def zeroshot(self, model: str, dataset: Any, *, split: str = "test") -> tasks.Task:
        """Score ``dataset`` (a loaded dataset, or a path to read) with the CLIP / SigLIP checkpoint
        ``model`` in the background and record the result as a new run (as ``mmstudio zeroshot``);
        it shares the progress row and its Cancel with the evaluations."""
        url = self.state.db_url
        where = str(dataset) if isinstance(dataset, str) else dataset.root.name

        def work(task_state):
            from mmstudio.training.zeroshot import zeroshot

            loaded = dataset
            if isinstance(dataset, str):
                from mmstudio.data import LoadOptions, load_dataset

                task_state.set_message(f"Reading {dataset}")
                loaded = load_dataset(
                    dataset,
                    options=LoadOptions(check_images="header"),
                    progress=task_state,
                    cancel=task_state,
                )
            if not loaded.report.usable:
                raise ValueError(f"{where} has no usable pairs; the Datasets page shows why")
            return zeroshot(
                model,
                loaded,
                split=split,
                db_url=url,
                progress=task_state,
                cancel=task_state,
                stage=task_state.set_message,
            )

        task = tasks.run_task(work)
        self._busy.add(task)
        self.evaluation = task
        task.progressed.connect(lambda _f, message: message and self.state.post_status(message, 0))
        task.progressed.connect(self.progress_row.show_progress)
        self.progress_row.start(f"Zero-shot {model} on {where}")
        self.update(self._one_selected())

        def ended() -> None:
            self._on_evaluation_ended()
            self.state.post_status("")

        def succeeded(result: dict[str, Any]) -> None:
            ended()
            self.last_zeroshot = result
            metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(result["metrics"].items()))
            self.state.post_status(f"Zero-shot run {result['run_id']} recorded: {metrics}")
            self.edited.emit([result["run_id"]])
            self.state.runs_changed.emit()
            self.task_finished.emit("zeroshot", True)

        def failed(message: str, traceback_text: str) -> None:
            log.warning("zero-shot failed: %s\n%s", message, traceback_text)
            ended()
            self.message.show_message(f"Could not score {where} zero-shot with {model}: {message}", "error")
            self.task_finished.emit("zeroshot", False)

        def cancelled() -> None:
            ended()
            self.message.show_message("The zero-shot baseline was cancelled.", "info")
            self.state.runs_changed.emit()
            self.task_finished.emit("zeroshot", False)

        task.succeeded.connect(succeeded)
        task.failed.connect(failed)
        task.cancelled.connect(cancelled)
        task.finished.connect(lambda: self._busy.discard(task))
        return task

    def cancel_evaluation(self) -> None:
        """Stop the evaluation that runs (it stops between batches and records nothing)."""
        if self.evaluation is not None:
            self.evaluation.cancel()
            self.state.post_status("Cancelling the evaluation…", 0)

    def _on_evaluation_ended(self) -> None:
        self.evaluation = None
        self.progress_row.finish()
        self.update(self._one_selected())

    def export(self, run_id: int, path: str, format: str, *, checkpoint: str = "best") -> tasks.Task:
        """Export run ``run_id``'s checkpoint to ``path`` as ``torchscript`` or ``onnx`` (as
        ``mmstudio export``), in the background."""
        url = self.state.db_url

        def work(_state):
            from mmstudio.training.inference import export_run

            return str(export_run(run_id, format, path, checkpoint=checkpoint, db_url=url))

        self.state.post_status(f"Exporting run {run_id} as {format}…", 0)

        def succeeded(out: str) -> None:
            self.state.post_status(f"Exported run {run_id} to {out}")
            self.message.show_message(
                f"Exported run {run_id} as {format} to {out} (with {out}.json).", "info"
            )

        return self._run_action("export", run_id, work, succeeded, f"Could not export run {run_id}")

    # --- the actions on the selection (what the toolbar and the context menu call) -----------------

    def _one_selected(self) -> RunRecord | None:
        ids = self.selection()
        return self.model.record_by_id(ids[0]) if len(ids) == 1 else None

    def rename_selected(self) -> None:
        if rec := self._one_selected():
            self.rename_run(rec.id)

    def tag_selected(self) -> None:
        if rec := self._one_selected():
            self.set_tags(rec.id)

    def annotate_selected(self) -> None:
        if rec := self._one_selected():
            self.edit_notes(rec.id)

    def delete_selected(self) -> None:
        self.delete_runs(self.selection())

    def open_selected_in_builder(self) -> None:
        if rec := self._one_selected():
            self.open_in_builder(rec.id)

    def compare_selected(self) -> None:
        self.compare(self.selection())

    def follow_selected(self) -> None:
        if rec := self._one_selected():
            self.follow(rec.id)

    def stop_selected(self) -> None:
        self.stop_runs(self.selection())

    def evaluate_selected(self, pick: str = "folder") -> None:
        rec = self._one_selected()
        if rec is None:
            return
        title = f"Evaluate {rec.name} on a dataset"
        if pick == "file":
            path, _ = QFileDialog.getOpenFileName(self.page, title, "", DATASET_FILES)
        else:
            path = QFileDialog.getExistingDirectory(self.page, title)
        if path:
            self.evaluate(rec.id, path)

    def evaluate_selected_on_own_dataset(self) -> None:
        if rec := self._one_selected():
            self.evaluate_on_own_dataset(rec.id)

    def zeroshot_prompted(self) -> None:
        """Ask for the model (a hub id pulled first, or a folder) and, when no dataset is open, a
        dataset folder; then :meth:`zeroshot` on its test split."""
        model, ok = QInputDialog.getText(
            self.page,
            "Zero-shot baseline",
            "CLIP or SigLIP model (a hub id pulled with 'mmstudio models pull', or a model folder):",
        )
        if not ok or not model.strip():
            return
        dataset: Any = self.state.dataset
        if dataset is None:
            dataset = QFileDialog.getExistingDirectory(self.page, "Score which dataset zero-shot?")
            if not dataset:
                return
        self.zeroshot(model.strip(), dataset)

    def export_selected(self) -> None:
        from mmstudio.training.exports import onnx_available

        rec = self._one_selected()
        if rec is None:
            return
        filters = ["TorchScript (*.pt)"] + (["ONNX (*.onnx)"] if onnx_available() else [])
        path, chosen = QFileDialog.getSaveFileName(
            self.page, f"Export {rec.name}", f"{rec.name}.pt", ";;".join(filters)
        )
        if not path:
            return
        format = "onnx" if chosen.startswith("ONNX") or path.endswith(".onnx") else "torchscript"
        self.export(rec.id, path, format)

    # --- running them ------------------------------------------------------------------------------

    def _store_task(self, what: str, fn, *args, on_success=None, run_ids: Iterable[int] = ()) -> tasks.Task:
        """Run ``fn(store, *args)`` in the pool; afterwards re-read ``run_ids`` and tell the window."""
        handle, url = self._handle, self.state.db_url
        ids = list(run_ids)

        def work(_state):
            return fn(handle.get(url), *args)

        task = tasks.run_task(work)
        self._busy.add(task)

        def succeeded(result) -> None:
            self.edited.emit(ids)
            if on_success is not None:
                on_success(result)
            self.state.runs_changed.emit()  # the page's refresh listens to it too
            self.task_finished.emit(what, True)

        def failed(message: str, traceback_text: str) -> None:
            log.warning("%s failed: %s\n%s", what, message, traceback_text)
            self.message.show_message(f"Could not {what}: {message}", "error")
            self.task_finished.emit(what, False)

        task.succeeded.connect(succeeded)
        task.failed.connect(failed)
        task.finished.connect(lambda: self._busy.discard(task))
        return task

    def _run_action(
        self,
        action: str,
        run_id: int,
        work: Callable[[Any], Any],
        succeeded: Callable[[Any], None],
        failure: str,
        *,
        cancelled: str = "",
        ended: Callable[[], None] | None = None,
    ) -> tasks.Task:
        """Run ``work`` for ``action`` on run ``run_id`` in the pool: its progress in the status bar,
        ``succeeded(result)`` then the run fetched again, or ``failure: why`` shown (``cancelled``
        when it was cancelled); either way ``ended()`` is called first, then :attr:`task_finished`
        says how it ended."""
        task = tasks.run_task(work)
        self._busy.add(task)
        task.progressed.connect(lambda _f, message: message and self.state.post_status(message, 0))

        def on_succeeded(result: Any) -> None:
            if ended is not None:
                ended()
            succeeded(result)
            self.edited.emit([run_id])
            self.task_finished.emit(action, True)

        def on_failed(message: str, traceback_text: str) -> None:
            log.warning("%s failed: %s\n%s", action, message, traceback_text)
            if ended is not None:
                ended()
            self.state.post_status("")
            self.message.show_message(f"{failure}: {message}", "error")
            self.task_finished.emit(action, False)

        def on_cancelled() -> None:
            if ended is not None:
                ended()
            self.state.post_status("")
            if cancelled:
                self.message.show_message(cancelled, "info")
            self.task_finished.emit(action, False)

        task.succeeded.connect(on_succeeded)
        task.failed.connect(on_failed)
        task.cancelled.connect(on_cancelled)
        task.finished.connect(lambda: self._busy.discard(task))
        return task
