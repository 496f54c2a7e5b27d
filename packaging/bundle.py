"""What the frozen app carries besides the code: one list, read by ``mmstudio.spec`` and checked by
``tests/packaging/test_packaging.py``.

Each entry is ``(file in the source tree, folder in the bundle)``. The folders are where the code
looks in a frozen app, as it does in a source checkout or a wheel:

- ``mmstudio/_resources``: the stylesheet and icons (``mmstudio.ui.resources.resources_dir``);
- ``mmstudio/store/migrations``: alembic's ``env.py``, its template and every revision, read as files
  by alembic when an older store is upgraded (``mmstudio.store.migrate.MIGRATIONS_DIR``);
- ``README.md`` and ``docs/`` at the bundle's root: Help ▸ Documentation shows them offline
  (``mmstudio.paths.user_guides`` looks beside the package).

It also holds the macOS app bundle's ``Info.plist`` additions (:func:`info_plist`): the file type of
saved model specs, declared to Finder as the Linux desktop declares it (``linux/mmstudio-mime.xml``).
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


#: The file type of saved model specs: its MIME type (``linux/mmstudio-mime.xml``) and its uniform type
#: identifier on macOS, declared by the app bundle (:func:`info_plist`).
SPEC_MIME_TYPE = "application/x-mmstudio-model-spec+json"
SPEC_UTI = "io.github.mmstudio.model-spec"
SPEC_TYPE_NAME = "mmstudio model spec"


def spec_extensions() -> list[str]:
    """The extensions, without the dot, by which macOS and Windows can tell a model spec: the names of
    ``mmstudio.training.spec.MODEL_SPEC_SUFFIXES`` with one dot. Finder (``public.filename-extension``)
    and Explorer (``HKCR\\.ext``) compare only the last part of a name, so ``.mmspec.json`` is plain
    JSON to them; the app offers itself for JSON as well (an alternate handler, never the default)."""
    from mmstudio.training.spec import MODEL_SPEC_SUFFIXES

    return [suffix[1:] for suffix in MODEL_SPEC_SUFFIXES if suffix.count(".") == 1]


def info_plist() -> dict:
    """What ``mmstudio.spec`` adds to the app bundle's ``Info.plist`` on macOS (PyInstaller's BUNDLE
    writes the rest: the executable, the icon, the bundle id).

    - The version, and ``LSBackgroundOnly`` false: PyInstaller marks the bundle of a console program
      (``console=True``: the program is the command line too) background-only, which would leave the
      app without a Dock icon or a menu bar.
    - ``UTExportedTypeDeclarations``: the model spec type, conforming to ``public.json``, by its
      extensions (:func:`spec_extensions`) and its MIME type.
    - ``CFBundleDocumentTypes``: mmstudio owns model specs (Finder opens them in it on a double-click)
      and is an alternate viewer of JSON (Open With lists it for ``.mmspec.json`` files and JSON
      manifests or COCO captions, which it opens as datasets). Finder hands the app each file as an
      Apple event, which ``mmstudio.ui.file_open`` opens as ``mmstudio PATH`` would.
    """
    from mmstudio import __version__

    return {
        "CFBundleName": "mmstudio",
        "CFBundleDisplayName": "mmstudio",
        "CFBundleShortVersionString": __version__,
        "CFBundleVersion": __version__,
        "NSHighResolutionCapable": True,
        "LSBackgroundOnly": False,
        "UTExportedTypeDeclarations": [
            {
                "UTTypeIdentifier": SPEC_UTI,
                "UTTypeDescription": SPEC_TYPE_NAME,
                "UTTypeConformsTo": ["public.json"],
                "UTTypeTagSpecification": {
                    "public.filename-extension": spec_extensions(),
                    "public.mime-type": [SPEC_MIME_TYPE],
                },
            }
        ],
        "CFBundleDocumentTypes": [
            {
                "CFBundleTypeName": SPEC_TYPE_NAME,
                "CFBundleTypeRole": "Editor",
                "LSHandlerRank": "Owner",
                "LSItemContentTypes": [SPEC_UTI],
            },
            {
                "CFBundleTypeName": "JSON document",
                "CFBundleTypeRole": "Viewer",
                "LSHandlerRank": "Alternate",
                "LSItemContentTypes": ["public.json"],
            },
        ],
    }
