"""User settings that persist between sessions, versioned (STYLE.md: version everything persisted).

A thin layer over ``QSettings`` in INI format, in mmstudio's config directory (so ``MMSTUDIO_HOME``
relocates it, as the tests do), with typed accessors and a ``settings_version`` key: an older file is
upgraded in place, a newer one is left untouched and read as far as it is understood.

The preferences of the Settings dialog (store, cache folder, training device, theme) are checked when
the file is read: a bad value (edited by hand, or a folder that has gone) is reset to the default and
named in :attr:`Settings.problems`, which the window shows in its status bar. What each may hold and
which value wins over them (command line > environment > settings > default) is
:mod:`mmstudio.preferences`.

Versions: 1, the window, datasets, store and first start; 2 adds the cache folder, the training
device, the theme and whether the tour was offered (a version-1 file whose user has seen the demo
offer is not offered the tour again).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from mmstudio import preferences
from mmstudio.paths import config_dir

SETTINGS_VERSION = 2
MAX_RECENT = 10


class Settings:
    """Typed access to the settings file (``<config>/mmstudio.ini``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else config_dir() / "mmstudio.ini"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._q = QSettings(str(self.path), QSettings.Format.IniFormat)
        version = self._int("settings_version", 0)
        if version < SETTINGS_VERSION:
            self._upgrade(version)
        #: What was wrong with the file's preferences and was reset, one sentence each.
        self.problems: list[str] = self._reset_bad_values()

    def _upgrade(self, version: int) -> None:
        # Version 0 is a file with no version key (or no file): nothing to convert.
        if 0 < version < 2 and self.demo_offered:
            self.tour_offered = True  # they have seen the first start already
        self._q.setValue("settings_version", SETTINGS_VERSION)
        self._q.sync()

    _CHECKS = (
        ("store/url", "store", preferences.store_url),
        ("cache/folder", "cache folder", preferences.check_cache_folder),
        ("training/device", "training device", preferences.check_device),
        ("appearance/theme", "theme", preferences.check_theme),
    )

    def _reset_bad_values(self) -> list[str]:
        problems = []
        for key, _what, check in self._CHECKS:
            if not self._q.contains(key):
                continue
            value = self._q.value(key)
            try:
                if not isinstance(value, str):
                    raise ValueError(f"{value!r} is not text")
                check(value)
            except ValueError as exc:
                self._q.remove(key)
                problems.append(f"{exc} (in {self.path.name}); it was reset to the default.")
        if problems:
            self._q.sync()
        return problems

    # --- raw access -------------------------------------------------------------------------------

    def value(self, key: str, default: Any = None) -> Any:
        return self._q.value(key, default)

    def set_value(self, key: str, value: Any) -> None:
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()

    def _int(self, key: str, default: int) -> int:
        try:
            return int(self._q.value(key, default))
        except (TypeError, ValueError):
            return default

    def _str(self, key: str, default: str = "") -> str:
        value = self._q.value(key, default)
        return value if isinstance(value, str) else default

    def _bool(self, key: str, default: bool) -> bool:
        value = self._q.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes")
        return bool(value)

    # --- the window -------------------------------------------------------------------------------

    @property
    def geometry(self) -> QByteArray | None:
        value = self._q.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._q.setValue("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        value = self._q.value("window/state")
        return value if isinstance(value, QByteArray) else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._q.setValue("window/state", value)

    @property
    def last_page(self) -> str:
        return self._str("window/page", "datasets")

    @last_page.setter
    def last_page(self, value: str) -> None:
        self._q.setValue("window/page", value)

    # --- datasets ---------------------------------------------------------------------------------

    @property
    def last_dataset(self) -> str:
        return self._str("datasets/last")

    @last_dataset.setter
    def last_dataset(self, value: str) -> None:
        self._q.setValue("datasets/last", value)

    @property
    def reopen_last_dataset(self) -> bool:
        return self._bool("datasets/reopen_last", True)

    @reopen_last_dataset.setter
    def reopen_last_dataset(self, value: bool) -> None:
        self._q.setValue("datasets/reopen_last", bool(value))

    @property
    def recent_datasets(self) -> list[str]:
        value = self._q.value("datasets/recent", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str) and v][:MAX_RECENT]

    def add_recent_dataset(self, path: str) -> None:
        recent = [p for p in self.recent_datasets if p != path]
        self._q.setValue("datasets/recent", [path, *recent][:MAX_RECENT])

    def clear_recent_datasets(self) -> None:
        self._q.setValue("datasets/recent", [])

    @property
    def check_images(self) -> str:
        value = self._str("datasets/check_images", "full")
        return value if value in ("full", "header") else "full"

    @check_images.setter
    def check_images(self, value: str) -> None:
        self._q.setValue("datasets/check_images", value)

    # --- store and specs --------------------------------------------------------------------------

    @property
    def db_url(self) -> str:
        """The store chosen in the app ('' means the default: ``MMSTUDIO_DB`` or the user data dir)."""
        return self._str("store/url")

    @db_url.setter
    def db_url(self, value: str) -> None:
        self._q.setValue("store/url", preferences.store_url(value))

    @property
    def cache_folder(self) -> str:
        """The cache folder chosen in the app ('' means the default; ``MMSTUDIO_CACHE_DIR`` wins)."""
        return self._str("cache/folder")

    @cache_folder.setter
    def cache_folder(self, value: str) -> None:
        self._q.setValue("cache/folder", preferences.check_cache_folder(value))

    @property
    def device(self) -> str:
        """The device the Train page starts from (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""
        return self._str("training/device", "auto") or "auto"

    @device.setter
    def device(self, value: str) -> None:
        self._q.setValue("training/device", preferences.check_device(value))

    @property
    def theme(self) -> str:
        """``system``, ``light`` or ``dark`` (``--theme`` and ``MMSTUDIO_THEME`` win)."""
        return self._str("appearance/theme", "system") or "system"

    @theme.setter
    def theme(self, value: str) -> None:
        self._q.setValue("appearance/theme", preferences.check_theme(value))

    @property
    def last_spec_dir(self) -> str:
        return self._str("model/spec_dir")

    @last_spec_dir.setter
    def last_spec_dir(self, value: str) -> None:
        self._q.setValue("model/spec_dir", value)

    @property
    def demo_offered(self) -> bool:
        return self._bool("first_start/demo_offered", False)

    @demo_offered.setter
    def demo_offered(self, value: bool) -> None:
        self._q.setValue("first_start/demo_offered", bool(value))

    @property
    def tour_offered(self) -> bool:
        return self._bool("first_start/tour_offered", False)

    @tour_offered.setter
    def tour_offered(self, value: bool) -> None:
        self._q.setValue("first_start/tour_offered", bool(value))
