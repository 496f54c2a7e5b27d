"""The main window: a page bar (Datasets, Model, Train, Experiments), menus, the status bar, drag and drop
of datasets anywhere on the window, and the settings that persist between sessions.

Nothing here imports torch: the Model page loads the model library in the background when it is first
needed, so the window is on screen about as fast as a bare Qt window (``bench_gui_startup.py``).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mmstudio import __version__, preferences
from mmstudio.data.overview import display_name
from mmstudio.data.sources import file_filter, is_pattern
from mmstudio.formatting import plural, sentence, shorten_path
from mmstudio.heap import settle_new_objects
from mmstudio.paths import cache_dir
from mmstudio.progress import TaskState
from mmstudio.training.spec import is_model_spec_file, open_path_problem
from mmstudio.ui import tasks
from mmstudio.ui.chrome import NoticeBar, PageBar, TourBar, WelcomeBanner
from mmstudio.ui.datasets.panel import DatasetsPanel
from mmstudio.ui.model.panel import ModelPanel
from mmstudio.ui.pages import PAGE_TABLE
from mmstudio.ui.resources import icon, page_icon
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.store_status import StoreStatusController
from mmstudio.vocabulary import PAGES, run_status_title

if TYPE_CHECKING:
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.spec import TrainSpec
    from mmstudio.ui.compare.panel import ComparePanel
    from mmstudio.ui.experiments.panel import ExperimentsPanel
    from mmstudio.ui.settings_dialog import SettingsDialog
    from mmstudio.ui.train.panel import TrainPanel


def _import_modules_job(state: TaskState, modules: list[str]) -> None:
    for module in modules:
        importlib.import_module(module)


# Made after the window's first paint (or when first asked for): ~0.6 s of pyqtgraph plots and ~0.3 s
# of imports that the window need not wait for.
LATER_PAGES_FALLBACK_MS = 500  # they are started this long after the window is shown, painted or not


class MainWindow(QMainWindow):
    """mmstudio's window. ``page(name)`` gives a page; ``show_page(name)`` switches to it."""

    page_changed = Signal(str)

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        db_url: str | None = None,
        theme: str | None = None,
        export_cache_folder: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        #: What the command line chose (it wins over the settings; the Settings dialog says so).
        self.options = {"store": db_url or "", "theme": theme or ""}
        self._export_cache_folder = export_cache_folder
        # --db > MMSTUDIO_DB > the settings > the default (mmstudio.preferences).
        self.db_url = preferences.resolve(db_url, preferences.DB_ENV, self.settings.db_url, "").value or None
        #: MMSTUDIO_CACHE_DIR as the user set it (None: not set), before the settings' folder is exported.
        self.cache_env = os.environ.get(preferences.CACHE_DIR_ENV) or None
        if export_cache_folder:
            self.apply_cache_folder()
        self.state = StudioState(self)
        self.state.db_url = self.db_url
        self.setWindowTitle("Untitled model[*]")
        self.setWindowIcon(icon("mmstudio"))
        self.setAcceptDrops(True)
        self.setMinimumSize(720, 480)

        self.datasets = DatasetsPanel(self.state, self.settings)
        self.model = ModelPanel(self.state, self.settings)
        self._pages: dict[str, QWidget] = {"datasets": self.datasets, "model": self.model}
        # The other pages are made after the window's first paint, one per pass of the event loop, or
        # at once when something asks for one (see page()): their plots are ~0.6 s of pyqtgraph.
        self._later = [page.name for page in PAGE_TABLE.values() if page.later]
        self._later_timer = QTimer(self)
        self._later_timer.setSingleShot(True)
        self._later_timer.setInterval(0)
        self._later_timer.timeout.connect(self._make_next_page)
        self._later_import: tasks.Task | None = None
        self._later_fallback = QTimer(self)
        self._later_fallback.setSingleShot(True)
        self._later_fallback.setInterval(LATER_PAGES_FALLBACK_MS)
        self._later_fallback.timeout.connect(self._start_later_pages)

        self.page_bar = PageBar()
        self.stack = QStackedWidget()
        for n, page in enumerate(PAGE_TABLE.values()):
            self.page_bar.add_page(
                page.name, page.title, page_icon(page.name), f"{page.title} (Ctrl+{n + 1})"
            )
            self.stack.addWidget(self._pages.get(page.name) or QWidget())  # a stand-in until it is made
        self.page_bar.current_changed.connect(self._on_page_bar_current_changed)

        self.welcome = WelcomeBanner()
        self.welcome.demo_requested.connect(self.open_demo)
        self.welcome.tour_requested.connect(self.start_tour)
        self.tour = TourBar({page.name: page.title for page in PAGE_TABLE.values()})
        self.tour.page_requested.connect(self.show_page)
        self.notice = NoticeBar()
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.welcome)
        outer.addWidget(self.tour)
        outer.addWidget(self.notice)
        layout = QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.page_bar)
        layout.addWidget(self.stack, 1)
        outer.addLayout(layout, 1)
        self.setCentralWidget(central)

        self.store = StoreStatusController(self, self.state, self.settings)
        self.store.counted.connect(self._on_store_counted)
        self._build_menus()
        self._build_status_bar()

        self.state.status_posted.connect(self._on_state_status_posted)
        self.state.page_requested.connect(self._on_state_page_requested)
        self.state.compare_requested.connect(self._on_state_compare_requested)
        self.state.follow_requested.connect(self._on_state_follow_requested)
        self.state.train_spec_requested.connect(self._on_state_train_spec_requested)
        self.state.dataset_requested.connect(self._on_state_dataset_requested)
        self.state.dataset_changed.connect(self._on_state_dataset_changed)
        self.datasets.open_requested.connect(self.open_dataset_dialog)
        self.datasets.demo_requested.connect(self.open_demo)
        self.datasets.tour_requested.connect(self.start_tour)
        self.datasets.loading_finished.connect(self._on_datasets_loading_finished)
        self.model.document_changed.connect(self._on_model_document_changed)

        self._restore_settings()
        if self.settings.problems:
            self.statusBar().showMessage(" ".join(self.settings.problems), 0)

    def apply_cache_folder(self) -> None:
        """Point this process and the workers it starts at the settings' cache folder, unless
        ``MMSTUDIO_CACHE_DIR`` was set by the user (it wins)."""
        if self.cache_env is not None:
            return
        if self.settings.cache_folder:
            os.environ[preferences.CACHE_DIR_ENV] = self.settings.cache_folder
        else:
            os.environ.pop(preferences.CACHE_DIR_ENV, None)

    # --- pages ------------------------------------------------------------------------------------

    def page(self, name: str) -> QWidget:
        """The page ``name``, made now if it was not yet."""
        page = self._pages.get(name)
        if page is None:
            if name not in self._later:
                raise ValueError(f"no page {name!r}; pages: {', '.join(PAGES)}")
            page = self._make_page(name)
        return page

    @property
    def train(self) -> TrainPanel:
        return self.page("train")

    @property
    def experiments(self) -> ExperimentsPanel:
        return self.page("experiments")

    @property
    def compare(self) -> ComparePanel:
        return self.page("compare")

    def pages_made(self) -> list[str]:
        """The pages made so far, in the page bar's order."""
        return [name for name in PAGES if name in self._pages]

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        self._start_later_pages()  # the window is on screen

    def showEvent(self, event) -> None:
        super().showEvent(event)
        # Where opaque children cover the whole window it may get no paint event of its own.
        self._later_fallback.start()

    def _start_later_pages(self) -> None:
        """Import the other pages' modules in the background (~0.3 s that would freeze the window),
        then make the pages one per pass of the event loop."""
        if self._later and self._later_import is None:
            modules = [PAGE_TABLE[name].module for name in self._later]
            self._later_import = tasks.run_task(_import_modules_job, modules)
            self._later_import.finished.connect(self._later_timer.start)

    def _make_next_page(self) -> None:
        if self._later:
            self._make_page(self._later[0])
        if self._later:
            self._later_timer.start()

    def _make_page(self, name: str) -> QWidget:
        self._later.remove(name)
        page = PAGE_TABLE[name].panel_class()(self.state, self.settings)
        index = PAGES.index(name)
        stand_in = self.stack.widget(index)
        current = self.stack.currentIndex()
        self.stack.insertWidget(index, page)
        self.stack.removeWidget(stand_in)
        stand_in.deleteLater()
        if current == index:
            self.stack.setCurrentIndex(index)
        self._pages[name] = page
        if name == "compare":
            # Runs to compare asked for before the page was made: it was not there to hear them.
            self.state.compare_requested.disconnect(self._on_state_compare_requested)
        if name == "train":
            page.run_finished.connect(self._on_train_run_finished)
        settle_new_objects()
        return page

    def _on_train_run_finished(self, run_id: int, status: str) -> None:
        """A run ended while another page is shown: say so, with a way to the run."""
        if self.current_page() == "train" or not run_id:
            return
        level = {"completed": "check", "failed": "error", "interrupted": "warning"}.get(status, "info")
        self.notice.show_notice(
            f"Run {run_id} {run_status_title(status)}.",
            "Show the run",
            lambda: self.show_run(run_id),
            level=level,
        )

    def show_run(self, run_id: int) -> None:
        """The Experiments page with run ``run_id`` selected (its details shown)."""
        self.show_page("experiments")
        self.experiments.select_runs([run_id])

    def current_page(self) -> str:
        return PAGES[self.stack.currentIndex()]

    def show_page(self, name: str) -> None:
        if name not in PAGES:
            raise ValueError(f"no page {name!r}; pages: {', '.join(PAGES)}")
        self.page_bar.set_current(PAGES.index(name))

    def _on_page_bar_current_changed(self, row: int) -> None:
        name = PAGES[row]
        self.page(name)  # made now if it was not yet
        self.stack.setCurrentIndex(row)
        if name == "model":
            self.model.prepare()
        self.page_changed.emit(name)

    def is_busy(self) -> bool:
        """Work in flight that a screenshot should wait for (loading, thumbnails, summaries, runs)."""
        return any(page.is_busy() for page in self._pages.values())

    def _on_state_page_requested(self, name: str) -> None:
        if name in PAGES:
            self.show_page(name)

    def _on_state_compare_requested(self, run_ids: list[int]) -> None:
        if "compare" not in self._pages:  # made now, it hears the next requests itself
            self._make_page("compare").set_runs(run_ids)

    def _on_state_follow_requested(self, run_id: int) -> None:
        """A run another process trains, to follow as it trains: on the Train page (made now if it
        was not yet), shown."""
        self.show_page("train")
        self.train.follow_run(run_id)

    def _on_state_train_spec_requested(self, spec: TrainSpec) -> None:
        """A run's training settings, re-opened: on the Train page (made now if it was not yet), and
        for the shapes the Model page computes."""
        self.train.set_train_spec(spec)
        self.model.set_train_spec(spec)

    def _on_state_dataset_requested(self, spec: DatasetSpec) -> None:
        """A run's dataset, re-opened: loaded on the Datasets page (the window stays where it is),
        unless one is open or loading by now."""
        if self.state.dataset is None and not self.datasets.is_loading():
            self.datasets.open_spec(spec)

    # --- menus ------------------------------------------------------------------------------------

    def _action(self, text: str, slot, shortcut=None, icon_name: str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file = menu.addMenu("&File")
        self.open_action = self._action(
            "&Open dataset…",
            self.open_dataset_dialog,
            QKeySequence.StandardKey.Open,
            "open",
            "Open a dataset folder, manifest, COCO file or .tar shards",
        )
        file.addAction(self.open_action)
        file.addAction(self._action("Open dataset &folder…", self.open_dataset_folder_dialog, "Ctrl+Shift+O"))
        self.recent_menu = file.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addAction(self._action("Open the &demo dataset", self.open_demo, None, "demo"))
        file.addSeparator()
        file.addAction(self._action("&New model spec", self.new_spec, "Ctrl+Shift+N", "new"))
        file.addAction(self._action("Open model &spec…", self.open_spec_dialog, "Ctrl+Shift+L"))
        self.save_spec_action = self._action(
            "&Save model spec", self.save_spec, QKeySequence.StandardKey.Save, "save"
        )
        file.addAction(self.save_spec_action)
        file.addAction(
            self._action("Save model spec &as…", self.save_spec_as, QKeySequence.StandardKey.SaveAs)
        )
        file.addSeparator()
        file.addAction(
            self._action("Experiment s&tore…", self.choose_store, None, None, "Where runs are saved")
        )
        self.settings_action = self._action(
            "Se&ttings…", self.show_settings, "Ctrl+,", None,
            "The store, the cache, the training device and the theme",
        )  # fmt: skip
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        file.addAction(self.settings_action)
        file.addSeparator()
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file.addAction(quit_action)

        view = menu.addMenu("&View")
        for n, page in enumerate(PAGE_TABLE.values()):
            show = lambda _=False, name=page.name: self.show_page(name)  # noqa: E731
            view.addAction(self._action(page.title, show, f"Ctrl+{n + 1}", page.name))
        view.addSeparator()
        view.addAction(self._action("&Reload dataset", self.reload_dataset, QKeySequence.StandardKey.Refresh))
        self.full_screen_action = self._action(
            "&Full screen", self._toggle_full_screen, QKeySequence.StandardKey.FullScreen
        )
        self.full_screen_action.setCheckable(True)
        view.addAction(self.full_screen_action)

        help_menu = menu.addMenu("&Help")
        help_menu.addAction(
            self._action("&Documentation", self._open_docs, QKeySequence.StandardKey.HelpContents)
        )
        help_menu.addAction(self._action("&Keyboard shortcuts", self._show_shortcuts))
        tour = self._action("Take the &tour", self.start_tour, None, None, "The five pages, one by one")
        help_menu.addAction(tour)
        about = self._action("&About mmstudio", self._show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_datasets
        for path in recent:
            action = self.recent_menu.addAction(shorten_path(path))
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, path=path: self.open_dataset(path))
        if not recent:
            self.recent_menu.addAction("No recent datasets").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear the list", self.settings.clear_recent_datasets)

    # --- status bar -------------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.dataset_label = QLabel("No dataset")
        bar.addPermanentWidget(self.dataset_label)
        bar.addPermanentWidget(self.store.label)

    def _on_state_status_posted(self, message: str, timeout_ms: int) -> None:
        self.statusBar().showMessage(message, timeout_ms)

    def _on_state_dataset_changed(self, dataset) -> None:
        if dataset is None:
            self.dataset_label.setText("No dataset")
            return
        spec = self.state.dataset_spec
        name = display_name(spec.path if spec is not None else "", dataset)  # as the Datasets page says it
        self.dataset_label.setText(f"{name}: {plural(len(dataset.items), 'pair')}")
        self.dataset_label.setToolTip(spec.path if spec is not None else str(dataset.source.root))

    def _on_datasets_loading_finished(self, dataset) -> None:
        if dataset is not None and self.state.dataset_spec is not None:
            self.settings.last_dataset = self.state.dataset_spec.path
            self.settings.add_recent_dataset(self.state.dataset_spec.path)  # the window's list, not a page's

    def _on_model_document_changed(self) -> None:
        """The title names the model spec being built (Qt adds the application's name after it, and
        the platform's mark of unsaved changes where the title has ``[*]``)."""
        self.setWindowTitle(f"{self.model.document_name()}[*]")
        self.setWindowModified(self.model.is_dirty())

    # --- datasets ---------------------------------------------------------------------------------

    def open_path(self, path: str) -> None:
        """Open ``path`` as ``mmstudio PATH`` does: a saved model spec on the Model page, anything else
        as a dataset; one that is not there is said on the Datasets page, in the command's words."""
        problem = open_path_problem(path)
        if problem is not None:
            self.show_page("datasets")
            self.datasets.show_error(sentence(problem))
        elif is_model_spec_file(path):
            self.open_spec(path)
        else:
            self.open_dataset(path)

    def open_dataset(self, paths: str | list[str], *, format: str | None = None) -> None:
        """Open a dataset (a path, or several .tar shards) on the Datasets page."""
        self.show_page("datasets")
        self.datasets.open_path(paths, format=format)

    def open_dataset_dialog(self) -> None:
        start = (
            str(Path(self.settings.last_dataset).parent) if self.settings.last_dataset else str(Path.home())
        )
        # What the format readers open (mmstudio.data.formats): every dataset file, then each format's.
        paths, _ = QFileDialog.getOpenFileNames(self, "Open a dataset", start, file_filter())
        if paths:
            self.open_dataset(paths if len(paths) > 1 else paths[0])

    def open_dataset_folder_dialog(self) -> None:
        start = self.settings.last_dataset or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a dataset folder", start)
        if folder:
            self.open_dataset(folder)

    def open_demo(self) -> None:
        """Write the built-in demo dataset (once, in the cache; off the GUI thread) and open it."""
        self.settings.demo_offered = True
        self.welcome.hide()
        self.datasets.set_demo_busy(True)
        self.state.post_status("Creating the built-in demo dataset…", 0)

        def prepare(state):
            from mmstudio.data.demo import ensure_demo

            return str(ensure_demo())

        task = tasks.run_task(prepare)
        task.finished.connect(lambda: self.datasets.set_demo_busy(False))
        task.succeeded.connect(self.open_dataset)
        task.failed.connect(
            lambda message, _tb: self._error("The demo dataset could not be written", message)
        )
        self._demo_task = task

    def reload_dataset(self) -> None:
        spec = self.state.dataset_spec
        if spec is not None:
            self.datasets.open_path(spec.path, format=spec.format, columns=spec.columns)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        paths = _local_paths(event.mimeData())
        if paths and DatasetsPanel.accepts(paths):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        event.acceptProposedAction() if _local_paths(event.mimeData()) else event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _local_paths(event.mimeData())
        if not paths or not DatasetsPanel.accepts(paths):
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_dataset(paths if len(paths) > 1 else paths[0])

    # --- model specs ------------------------------------------------------------------------------

    def new_spec(self) -> None:
        """A new model spec (the default for the dataset), after the Model page's unsaved-changes
        question."""
        self.show_page("model")
        self.model.new_spec()

    def open_spec_dialog(self) -> None:
        self.show_page("model")
        self.model.open_file()

    def open_spec(self, path: str) -> None:
        self.show_page("model")
        self.model.open_file(path)  # the page shows what is wrong with a bad file

    def save_spec(self) -> bool:
        return self.model.save()

    def save_spec_as(self) -> bool:
        return self.model.save_as()

    # --- the store --------------------------------------------------------------------------------

    def choose_store(self) -> None:
        self.store.choose()
        self.db_url = self.state.db_url

    def preferences_in_use(self) -> dict[str, preferences.Resolved]:
        """The store, cache folder and theme in use, and where each came from (the Settings dialog
        says when the command line or a variable wins over what it saves)."""
        env = dict(os.environ)
        if self.cache_env is None:
            env.pop(preferences.CACHE_DIR_ENV, None)  # set by this window from the settings
        settings = self.settings
        return {
            "store": preferences.resolve(self.options["store"], preferences.DB_ENV, settings.db_url, "", env),
            "cache": preferences.resolve(None, preferences.CACHE_DIR_ENV, settings.cache_folder, "", env),
            "theme": preferences.resolve(
                self.options["theme"], preferences.THEME_ENV, settings.theme, "system", env
            ),
        }

    def show_settings(self) -> SettingsDialog:
        """File ▸ Settings…: the dialog, non-blocking; OK applies what changed."""
        from mmstudio.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self.preferences_in_use(), self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.changes()))
        dialog.open()
        self.settings_dialog = dialog
        return dialog

    def apply_settings(self, changes: dict[str, str]) -> None:
        """Apply and save what the Settings dialog changed; a new store only after a confirmation."""
        if "device" in changes:
            self.settings.device = changes["device"]
            if "train" in self._pages:
                self.train.form.set_preferred_device(changes["device"])
        if "theme" in changes:
            self.settings.theme = changes["theme"]
            self.state.post_status("The new theme applies the next time mmstudio starts.", 0)
        if "cache" in changes:
            self.settings.cache_folder = changes["cache"]
            self.apply_cache_folder()
            if self.cache_env is None:
                self.state.post_status(f"New caches are made in {cache_dir()}.", 0)
        if "store" in changes:
            url = changes["store"]
            shown = url.removeprefix("sqlite:///") or "the default store"
            answer = QMessageBox.question(
                self,
                "Switch the experiment store?",
                f"Save runs in {shown} from now on? The Experiments and Compare pages will show its "
                "runs; a run training now keeps saving to the store it started in.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Yes,
            )
            if answer == QMessageBox.StandardButton.Yes:
                self.store.switch_to(url)
                self.db_url = self.state.db_url
        self.settings.sync()

    def check_store(self) -> None:
        """Count the runs in the background (the first count decides the first-start offer) and keep
        the status bar's count current."""
        self.store.start()

    def _on_store_counted(self, runs: int, first: bool) -> None:
        self.store_runs = runs
        if not first or self.state.dataset is not None or self.datasets.is_busy() or self.tour.isVisible():
            return
        if not self.settings.tour_offered:  # the first start: offered once
            self.settings.tour_offered = True
            self.welcome.offer_tour(empty_store=runs == 0)
        elif runs == 0:
            self.welcome.show()

    def start_tour(self) -> None:
        """The tour of the five pages, across the top of the window (it does not block anything)."""
        self.settings.tour_offered = True
        self.welcome.hide()
        self.tour.start()

    # --- settings ---------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        state = self.settings.window_state
        if state is not None:
            self.restoreState(state)
        page = self.settings.last_page
        self.show_page(page if page in PAGES and page != "model" else "datasets")

    def reopen_last_dataset(self) -> bool:
        """Open the dataset of the last session, if the setting is on and it still exists."""
        last = self.settings.last_dataset
        if last and self.settings.reopen_last_dataset and (os.path.exists(last) or is_pattern(last)):
            self.datasets.open_path(last)
            return True
        return False

    def save_settings(self) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.last_page = self.current_page()
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        train = self._pages.get("train")
        if train is not None and not train.confirm_close():  # a run in progress: stop it, keep it, or cancel
            event.ignore()
            return
        if not self.model.confirm_discard("quit mmstudio"):
            event.ignore()
            return
        self.save_settings()
        self.datasets.cancel_loading()
        for name in ("experiments", "compare"):
            if name in self._pages:
                self._pages[name].shutdown()
        self._later.clear()
        tasks.cancel_all()
        event.accept()

    # --- help -------------------------------------------------------------------------------------

    def _toggle_full_screen(self, on: bool) -> None:
        self.showFullScreen() if on else self.showNormal()

    def _open_docs(self) -> None:
        from mmstudio.ui.docs_dialog import show_docs

        self.docs_dialog = show_docs(self)

    def shortcuts(self) -> list[tuple[str, str]]:
        """Every keyboard shortcut as ``(keys, what)``: the window's menus', then each page's own (the
        page's actions with a shortcut, which act while it is shown; every page is made first)."""
        for name in PAGES:
            self.page(name)
        groups = [("", [a for menu in self.menuBar().findChildren(QMenu) for a in menu.actions()])]
        groups += [(PAGE_TABLE[name].title, self._pages[name].actions()) for name in PAGES]
        rows = [("Ctrl+1 … Ctrl+5", "Datasets, Model, Train, Experiments, Compare")]
        page_keys = {f"Ctrl+{n}" for n in range(1, len(PAGES) + 1)}
        for where, actions in groups:
            for action in actions:
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                if not keys or keys in page_keys:
                    continue
                text = action.text().replace("&", "").rstrip("…").strip()
                row = (keys, f"{where}: {text}" if where else text)
                if row not in rows:
                    rows.append(row)
        return rows

    def _show_shortcuts(self) -> None:
        table = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in self.shortcuts())
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{table}</table>")

    def _show_about(self) -> None:
        QMessageBox.about(
            self,
            "About mmstudio",
            f"<h3>mmstudio {__version__}</h3><p>A desktop studio for multimodal (text + image) deep-learning "
            "experiments: load a paired dataset, build an encoder + fusion architecture, train it in the "
            "background and compare every run.</p><p>Built on PyTorch, torchvision, Qt (PySide6), pyqtgraph "
            "and SQLAlchemy.</p>",
        )

    def _error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)


def _local_paths(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]
