"""The experiment store in the window's status bar: where runs are saved and how many there are, kept
current (counted again when runs change in this window, and every :data:`COUNT_INTERVAL_MS` for runs
made by other processes, while the window is shown), and File ▸ Experiment store… to choose another."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from mmstudio.formatting import plural, shorten_path
from mmstudio.ui import tasks
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState

COUNT_DELAY_MS = 400  # runs are counted again this long after they changed here
COUNT_INTERVAL_MS = 15_000  # ... and this often, for runs made by other processes


def _count_runs_job(_state, url: str | None, first: bool) -> int:
    from mmstudio.store import Store

    # The window's first look marks orphaned runs; the later counts (every 15 s) only read.
    with Store.open(url, mark_orphans=first, read_only=not first) as store:
        return store.count_runs()


class StoreStatusController(QObject):
    """The store's label (``label``, for the status bar) and its run count."""

    counted = Signal(int, bool)  # the runs in the store; whether it was the window's first look

    def __init__(self, window: QWidget, state: StudioState, settings: Settings) -> None:
        super().__init__(window)
        self._window, self._state, self._settings = window, state, settings
        self.label = QLabel()
        self.label.setObjectName("storeLabel")
        self.runs: int | None = None
        self._text = ""
        self._task: tasks.Task | None = None
        self._soon = QTimer(self, singleShot=True, interval=COUNT_DELAY_MS)
        self._soon.timeout.connect(self.count)
        self._poll = QTimer(self, interval=COUNT_INTERVAL_MS)
        self._poll.timeout.connect(self._on_poll_timeout)
        state.runs_changed.connect(self._soon.start)
        self.show_store()

    def show_store(self) -> None:
        from mmstudio.paths import default_db_url

        url = self._state.db_url or default_db_url()
        if url.startswith("sqlite:///"):
            shown = url.removeprefix("sqlite:///")
        else:  # SQLAlchemy (~0.3 s to import) only for a store that is not a SQLite file
            from mmstudio.store.engine import hide_password

            shown = hide_password(url)
        self._text = f"Store: {shorten_path(shown, 48)}"
        self.label.setText(self._text)
        self.label.setToolTip(f"Runs are saved in {shown}\n(File ▸ Experiment store… to change)")

    def start(self) -> None:
        """The first count (it decides the first-start offer), then the polling."""
        self.count(first=True)
        self._poll.start()

    def count(self, first: bool = False) -> None:
        if self._task is not None and not self._task.done:
            return
        task = tasks.run_task(_count_runs_job, self._state.db_url, first)
        task.succeeded.connect(lambda runs: self._on_counted(runs, first))
        task.failed.connect(
            lambda message, _tb: self._state.post_status(f"The store could not be opened: {message}", 0)
        )
        self._task = task

    def choose(self) -> None:
        """Ask for another SQLite store (an existing one is opened, not replaced) and switch to it."""
        from mmstudio.paths import default_db_url

        current = (self._state.db_url or default_db_url()).removeprefix("sqlite:///")
        path, _ = QFileDialog.getSaveFileName(
            self._window,
            "Experiment store (a SQLite file; an existing one is opened, not replaced)",
            current,
            "SQLite stores (*.db *.sqlite);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.switch_to(f"sqlite:///{path}")

    def switch_to(self, url: str) -> None:
        """Save runs in ``url`` ('' : the default store) from now on, remember it in the settings, and
        reopen: the pages that show the store's runs read the new one (``store_changed``)."""
        self._settings.db_url = url
        self._state.set_db_url(url or None)
        self.show_store()
        self.count()
        shown = self._text.removeprefix("Store: ")
        self._state.post_status(f"Runs are now saved in {shown}")

    def _on_counted(self, runs: int, first: bool) -> None:
        self.runs = runs
        self.label.setText(f"{self._text} · {plural(runs, 'run')}")
        self.counted.emit(runs, first)

    def _on_poll_timeout(self) -> None:
        if self._window.isVisible() and not self._window.isMinimized():
            self.count()
