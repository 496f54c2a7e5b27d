"""File ▸ Settings… (Ctrl+,): the preferences a user can change in one place, grouped as Store, Cache,
Training device and Appearance.

The dialog edits copies and checks them (:mod:`mmstudio.preferences`, the same rules as the settings
file's loader); a bad store or cache folder is named under its field and OK keeps the dialog open, the
saved value untouched. What OK changed comes back as :meth:`SettingsDialog.changes`; the window applies
it (a new store only after it asked). The cache's size is counted in the thread pool, and Clear cache…
asks first, then removes the caches there too (:func:`mmstudio.data.cache.clear_caches`, what
``mmstudio data cache --clear`` does).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mmstudio import paths, preferences
from mmstudio.formatting import format_bytes, plural
from mmstudio.preferences import Resolved
from mmstudio.ui import tasks
from mmstudio.ui.settings import Settings
from mmstudio.ui.widgets import MessageBar, align_form_labels

THEME_TITLES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
DEVICE_TITLES = {
    "auto": "Automatic: CUDA, else Apple MPS, else CPU",
    "cpu": "CPU",
    "cuda": "CUDA (the first GPU)",
    "mps": "Apple MPS",
}


def _cache_size_job(_state, folder: str) -> tuple[int, int]:
    from mmstudio.data.cache import cache_entries

    entries = cache_entries(folder)
    return len(entries), sum(e.bytes for e in entries)


def _clear_cache_job(_state, folder: str) -> int:
    from mmstudio.data.cache import clear_caches

    return clear_caches(folder)


def _hint(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class SettingsDialog(QDialog):
    """The Settings dialog. ``overrides`` holds the resolved store, cache folder and theme
    (:class:`mmstudio.preferences.Resolved`): one set on the command line or by a variable is said
    beside its field, since it wins over what is saved here."""

    def __init__(
        self, settings: Settings, overrides: dict[str, Resolved], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.settings = settings
        self.overrides = overrides
        self._size_task: tasks.Task | None = None
        self._clear_task: tasks.Task | None = None
        self.cache_bytes: int | None = None
        layout = QVBoxLayout(self)
        layout.setSpacing(10)

        # --- store
        store = QGroupBox("Store")
        form = QFormLayout(store)
        # a password is shown as *** and kept as it was unless one is typed over it
        self.store_edit = QLineEdit(preferences.hide_password(settings.db_url.removeprefix("sqlite:///")))
        self.store_edit.setPlaceholderText(f"default: {paths.data_dir() / 'mmstudio.db'}")
        self.store_edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_store_browse_clicked)
        form.addRow("Runs are saved in", _row(self.store_edit, browse))
        self.store_error = MessageBar()
        form.addRow(self.store_error)
        form.addRow(
            _hint(
                "A SQLite file (made when first used; an existing one is opened, never replaced) or a "
                "database URL such as postgresql://user@host/runs for a store shared by a team. "
                "Empty: the default." + self._note("store")
            )
        )
        layout.addWidget(store)

        # --- cache
        cache = QGroupBox("Cache")
        form = QFormLayout(cache)
        self.cache_edit = QLineEdit(settings.cache_folder)
        self.cache_edit.setPlaceholderText(f"default: {paths.default_cache_dir()}")
        self.cache_edit.setClearButtonEnabled(True)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_cache_browse_clicked)
        form.addRow("Folder", _row(self.cache_edit, browse))
        self.cache_error = MessageBar()
        form.addRow(self.cache_error)
        self.cache_folder = str(paths.cache_dir())  # the folder in use now: its size is shown, it is cleared
        self.size_label = QLabel("Counting…")
        self.clear_button = QPushButton("Clear cache…")
        self.clear_button.setEnabled(False)
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        form.addRow("In use", _row(self.size_label, self.clear_button, stretch_first=True))
        form.addRow(
            _hint(
                "Decoded images, tokenized texts and frozen encoders' features, kept so the next run "
                "starts sooner; anything here can be rebuilt. A new folder takes the caches made from "
                "now on." + self._note("cache")
            )
        )
        layout.addWidget(cache)

        # --- device
        device = QGroupBox("Training device")
        form = QFormLayout(device)
        self.device_combo = QComboBox()
        for name, title in DEVICE_TITLES.items():
            self.device_combo.addItem(title, name)
        if self.device_combo.findData(settings.device) < 0:
            self.device_combo.addItem(settings.device, settings.device)  # cuda:1, kept as it is
        self.device_combo.setCurrentIndex(self.device_combo.findData(settings.device))
        form.addRow("Train on", self.device_combo)
        form.addRow(_hint("Where the Train page's Device choice starts; each run can still pick another."))
        layout.addWidget(device)

        # --- appearance
        appearance = QGroupBox("Appearance")
        form = QFormLayout(appearance)
        self.theme_combo = QComboBox()
        for name, title in THEME_TITLES.items():
            self.theme_combo.addItem(title, name)
        self.theme_combo.setCurrentIndex(self.theme_combo.findData(settings.theme))
        form.addRow("Theme", self.theme_combo)
        form.addRow(_hint("A new theme applies the next time mmstudio starts." + self._note("theme")))
        layout.addWidget(appearance)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self.setMinimumWidth(620)
        align_form_labels(store, cache, device, appearance)
        self.count_cache()

    def _note(self, key: str) -> str:
        note = self.overrides[key].override_note() if key in self.overrides else ""
        return f" {note}" if note else ""

    # --- the cache --------------------------------------------------------------------------------

    def count_cache(self) -> None:
        """Count the caches in the folder in use, in the thread pool."""
        self.size_label.setText("Counting…")
        self.clear_button.setEnabled(False)
        task = tasks.run_task(_cache_size_job, self.cache_folder)
        task.succeeded.connect(self._on_size_task_succeeded)
        task.failed.connect(lambda message, _tb: self.size_label.setText(f"Could not be counted: {message}"))
        self._size_task = task

    def is_busy(self) -> bool:
        return any(t is not None and not t.done for t in (self._size_task, self._clear_task))

    def _on_size_task_succeeded(self, result: tuple[int, int]) -> None:
        count, size = result
        self.cache_bytes = size
        self.size_label.setText(
            f"{plural(count, 'cache')}, {format_bytes(size)} in {self.cache_folder}" if count else "Empty"
        )
        self.size_label.setToolTip(self.cache_folder)
        self.clear_button.setEnabled(count > 0)

    def _on_clear_button_clicked(self) -> None:
        answer = QMessageBox.question(
            self,
            "Clear the cache?",
            f"Remove the caches in {self.cache_folder} ({format_bytes(self.cache_bytes or 0)})? "
            "They are rebuilt when a dataset is trained on again, which takes a while for a large one.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        self.clear_button.setEnabled(False)
        self.size_label.setText("Clearing…")
        task = tasks.run_task(_clear_cache_job, self.cache_folder)
        task.finished.connect(self.count_cache)
        task.failed.connect(
            lambda message, _tb: QMessageBox.warning(self, "The cache could not be cleared", message)
        )
        self._clear_task = task

    # --- browsing ---------------------------------------------------------------------------------

    def _on_store_browse_clicked(self) -> None:
        current = self.store_edit.text().strip() or str(paths.data_dir() / "mmstudio.db")
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Experiment store (a SQLite file; an existing one is opened, not replaced)",
            current if "://" not in current else str(paths.data_dir()),
            "SQLite stores (*.db *.sqlite);;All files (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.store_edit.setText(path)

    def _on_cache_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Cache folder", self.cache_edit.text().strip() or self.cache_folder
        )
        if folder:
            self.cache_edit.setText(folder)

    # --- the result -------------------------------------------------------------------------------

    def _store_text(self) -> str:
        """The store the field names, its password put back where it still shows the mask."""
        return preferences.restore_password(self.store_edit.text(), self.settings.db_url)

    def changes(self) -> dict[str, str]:
        """What differs from the settings, checked: ``{"store": url, "cache": folder, "device": name,
        "theme": name}`` (only the keys that changed). Raises ``ValueError`` naming a bad value."""
        store = preferences.store_url(self._store_text())
        cache = preferences.check_cache_folder(self.cache_edit.text().strip())
        values = {
            "store": (store, self.settings.db_url),
            "cache": (cache, self.settings.cache_folder),
            "device": (self.device_combo.currentData(), self.settings.device),
            "theme": (self.theme_combo.currentData(), self.settings.theme),
        }
        return {key: new for key, (new, old) in values.items() if new != old}

    def accept(self) -> None:
        self.store_error.clear()
        self.cache_error.clear()
        try:
            preferences.store_url(self._store_text())
        except ValueError as exc:
            message = str(exc).replace(self._store_text(), self.store_edit.text())  # no password in it
            self.store_error.show_message(f"{message}. The store stays as it was.", "error")
            self.store_edit.setFocus()
            return
        try:
            preferences.check_cache_folder(self.cache_edit.text().strip())
        except ValueError as exc:
            self.cache_error.show_message(f"{exc}. The cache folder stays as it was.", "error")
            self.cache_edit.setFocus()
            return
        super().accept()


def _row(first: QWidget, second: QWidget, *, stretch_first: bool = True) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(first, 1 if stretch_first else 0)
    layout.addWidget(second)
    return row
