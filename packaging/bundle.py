"""What the frozen app carries besides the code: one list, read by ``mmstudio.spec`` and checked by
``tests/packaging/test_packaging.py``.

Each entry is ``(file in the source tree, folder in the bundle)``. The folders are where the code
looks in a frozen app, as it does in a source checkout or a wheel:

- ``mmstudio/_resources``: the stylesheet and icons (``mmstudio.ui.resources.resources_dir``);
- ``mmstudio/store/migrations``: alembic's ``env.py``, its template and every revision, read as files
  by alembic when an older store is upgraded (``mmstudio.store.migrate.MIGRATIONS_DIR``);
- ``README.md`` and ``docs/`` at the bundle's root: Help ▸ Documentation shows them offline
  (``mmstudio.paths.user_guides`` looks beside the package).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The program's entry script (``multiprocessing.freeze_support`` and ``-m MODULE``).
ENTRY = ROOT / "packaging" / "entry.py"
#: The application's icon, for the program itself (Windows, macOS) and the Linux desktop files.
ICON_SVG = ROOT / "resources" / "icons" / "mmstudio.svg"
#: Packages a user never needs in the app: the test and lint tools, Tk, and triton (torch.compile's
#: GPU compiler, ~900 MB; mmstudio never compiles a model, and torch runs without it).
EXCLUDES = [
    "tkinter",
    "pytest",
    "_pytest",
    "hypothesis",
    "pytestqt",
    "grimp",
    "importlinter",
    "IPython",
    "triton",
]


def _files(folder: Path, patterns: tuple[str, ...], recursive: bool = False) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update((folder.rglob if recursive else folder.glob)(pattern))
    return sorted(p for p in found if p.is_file() and "__pycache__" not in p.parts)


def data_files(root: Path = ROOT) -> list[tuple[str, str]]:
    """``(source file, destination folder)`` for every data file the app reads at run time."""
    entries: list[tuple[Path, str]] = []
    resources = root / "resources"
    for path in _files(resources, ("*",), recursive=True):
        entries.append((path, str(Path("mmstudio/_resources") / path.parent.relative_to(resources))))
    migrations = root / "mmstudio" / "store" / "migrations"
    for path in _files(migrations, ("*.py", "*.mako", "*.ini"), recursive=True):
        entries.append((path, str(Path("mmstudio/store/migrations") / path.parent.relative_to(migrations))))
    entries.append((root / "README.md", "."))
    for path in _files(root / "docs", ("*.md",)):
        entries.append((path, "docs"))
    for path in _files(root / "docs" / "images", ("*.png", "*.svg")):
        entries.append((path, "docs/images"))
    return [(str(src), Path(dest).as_posix()) for src, dest in entries]
