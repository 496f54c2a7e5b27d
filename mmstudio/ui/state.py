"""What the pages share: the loaded dataset and the model spec being built (a Qt object with signals).

The Datasets page sets the dataset; the Model page reads it (vocabulary, labels, image size) and sets
the model spec; the Train page (and anything else) reads both. Specs are the currency (STYLE.md):
``DatasetSpec``, a ``ModelSpec`` dict and ``TrainSpec``, so nothing here imports torch. A page asks for
what another page shows through a ``*_requested`` signal, which the main window routes: the pages never
import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from mmstudio.data.dataset import Dataset
    from mmstudio.data.spec import DatasetSpec


class StudioState(QObject):
    """The current dataset and model spec of the window."""

    dataset_changed = Signal(object)  # the Dataset, or None when it was closed
    model_spec_changed = Signal(object)  # the ModelSpec as a dict (ModelSpec.to_dict()), or None
    status_posted = Signal(str, int)  # a message for the status bar, and for how long (ms; 0: until replaced)
    store_changed = Signal(object)  # the store's URL (None: the default one)
    runs_changed = Signal()  # a run was created, finished, renamed or deleted from this window
    page_requested = Signal(str)  # a page asks the window to show another one ("model", "compare"...)
    compare_requested = Signal(object)  # a list of run ids to compare
    follow_requested = Signal(int)  # a run another process trains, to follow on the Train page
    model_spec_requested = Signal(object, str)  # a model spec for the builder, and where from ("run 3 (x)")
    train_spec_requested = Signal(object)  # a TrainSpec to show on the Train page (a run's, re-opened)
    dataset_requested = Signal(object)  # a DatasetSpec to open on the Datasets page (a run's, re-opened)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset: Dataset | None = None
        self.dataset_spec: DatasetSpec | None = None
        self.model_spec: dict[str, Any] | None = None
        self.db_url: str | None = None  # the experiment store (None: MMSTUDIO_DB or the user data folder)
        self.training_run_id: int | None = None  # the run this window's Train page trains now, if any

    def set_dataset(self, dataset: Dataset | None, spec: DatasetSpec | None = None) -> None:
        self.dataset, self.dataset_spec = dataset, spec
        self.dataset_changed.emit(dataset)

    def set_model_spec(self, spec: dict[str, Any] | None) -> None:
        if spec == self.model_spec:
            return
        self.model_spec = None if spec is None else dict(spec)
        self.model_spec_changed.emit(self.model_spec)

    def set_db_url(self, url: str | None) -> None:
        if url != self.db_url:
            self.db_url = url
            self.store_changed.emit(url)

    def post_status(self, message: str, timeout_ms: int = 5000) -> None:
        self.status_posted.emit(message, timeout_ms)
