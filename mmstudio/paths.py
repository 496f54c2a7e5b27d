"""Where mmstudio keeps its files: data (the store), cache (decoded images) and config.

``MMSTUDIO_HOME`` relocates all three under one folder (tests and portable installs use it);
otherwise the platform's user directories are used (``platformdirs``).
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "mmstudio"


def _home() -> Path | None:
    home = os.environ.get("MMSTUDIO_HOME")
    return Path(home).expanduser() if home else None


def data_dir() -> Path:
    """The folder that holds the default SQLite store and run artifacts."""
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """The folder for caches that can always be rebuilt (decoded images, tokenized text):
    ``MMSTUDIO_CACHE_DIR`` when set (the app sets it from its settings, so the training workers it
    starts use the same folder), else ``<MMSTUDIO_HOME>/cache``, else the platform's user cache."""
    chosen = os.environ.get("MMSTUDIO_CACHE_DIR")
    if chosen:
        return Path(chosen).expanduser()
    return default_cache_dir()


def default_cache_dir() -> Path:
    """The cache folder when none is chosen: ``<MMSTUDIO_HOME>/cache``, else the platform's."""
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """The folder for settings."""
    home = _home()
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def store_runs_dir(store_id: str) -> Path:
    """Where the runs of the store whose identity is ``store_id`` keep their own files (checkpoints):
    ``<data dir>/stores/<store id>/runs/``, one folder per run id (``Store.run_dir``). Each store has
    its own, so run 1 of one store never meets run 1 of another."""
    return data_dir() / "stores" / store_id / "runs"


def legacy_runs_dir() -> Path:
    """The folder every store shared for its run files before stores had their own (mmstudio 0.2 and
    older: ``<data dir>/runs/<run id>``); runs recorded then are still found there."""
    return data_dir() / "runs"


def default_db_url() -> str:
    """``MMSTUDIO_DB`` when set, else a SQLite file in :func:`data_dir`."""
    url = os.environ.get("MMSTUDIO_DB")
    if url:
        return url
    return f"sqlite:///{data_dir() / 'mmstudio.db'}"


ONLINE_DOCS = "https://github.com/mmstudio/mmstudio#readme"
#: The user's guides, in reading order: (title, file in the source tree).
GUIDES = (
    ("Overview", "README.md"),
    ("Getting started", "docs/getting-started.md"),
    ("The desktop app", "docs/gui.md"),
    ("Datasets", "docs/datasets.md"),
    ("Training", "docs/training.md"),
    ("Pretrained models", "docs/pretrained.md"),
    ("The experiment store", "docs/store.md"),
    ("Troubleshooting", "docs/troubleshooting.md"),
    ("Architecture", "docs/architecture.md"),
)


def user_guides(root: Path | None = None) -> list[tuple[str, Path]]:
    """The guides this copy of mmstudio has, as ``(title, file)``: a source checkout has them all, an
    installed wheel none (then :data:`ONLINE_DOCS`)."""
    root = root or Path(__file__).resolve().parent.parent
    return [(title, root / name) for title, name in GUIDES if (root / name).is_file()]
