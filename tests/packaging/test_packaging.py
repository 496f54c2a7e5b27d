"""packaging/: the PyInstaller spec and what it bundles, the entry script, and the Linux desktop files
(the .desktop entry, the MIME type of saved model specs, the AppStream metainfo and the icons).

The structural checks always run; the validators Debian ships (``desktop-file-validate`` from
desktop-file-utils, ``appstreamcli`` from appstream, ``update-mime-database`` from shared-mime-info)
run where they are installed (``.ci/run`` installs them when apt can) and are skipped, saying so,
where they are not. The multi-gigabyte build itself is not a test (packaging/README.md).
"""

from __future__ import annotations

import configparser
import importlib.util
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import mmstudio
from mmstudio.paths import GUIDES
from mmstudio.training.spec import MODEL_SPEC_SUFFIX, MODEL_SPEC_SUFFIXES

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
LINUX = PACKAGING / "linux"
APP_ID = mmstudio.APP_ID  # the window says it to the desktop (mmstudio.ui.app)
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
MIME = LINUX / "mmstudio-mime.xml"
SPEC_MIME_TYPE = "application/x-mmstudio-model-spec+json"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bundle():
    return _module("mmstudio_packaging_bundle", PACKAGING / "bundle.py")


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


# --- the PyInstaller spec and the entry script ------------------------------------------------------


def test_the_spec_compiles_and_builds_from_the_entry_script_and_the_bundle_list(bundle):
    text = (PACKAGING / "mmstudio.spec").read_text(encoding="utf-8")
    compile(text, "mmstudio.spec", "exec")
    for needed in ("Analysis(", "bundle.ENTRY", "bundle.data_files()", "bundle.EXCLUDES", "COLLECT("):
        assert needed in text
    assert 'name="mmstudio"' in text  # dist/mmstudio/mmstudio, the Exec of the desktop entry
    assert bundle.ENTRY.is_file() and bundle.ICON_SVG.is_file()
    assert "freeze_support()" in bundle.ENTRY.read_text(encoding="utf-8")


def test_the_bundle_carries_every_file_the_app_reads_at_run_time(bundle):
    files = bundle.data_files()
    assert all(Path(src).is_file() for src, _ in files)
    carried = {f"{dest}/{Path(src).name}".removeprefix("./") for src, dest in files}
    # alembic reads the migrations as files: every revision, its env.py and its template
    migrations = ROOT / "mmstudio" / "store" / "migrations"
    for path in [*migrations.glob("versions/*.py"), migrations / "env.py", migrations / "script.py.mako"]:
        assert f"mmstudio/store/{path.relative_to(migrations.parent).as_posix()}" in carried
    # the stylesheet and icons where mmstudio.ui.resources looks in an installed copy
    for path in (ROOT / "resources").rglob("*"):
        if path.is_file():
            assert f"mmstudio/_resources/{path.relative_to(ROOT / 'resources').as_posix()}" in carried
    # Help > Documentation's guides beside the package (mmstudio.paths.user_guides), with their images
    for _title, name in GUIDES:
        if (ROOT / name).is_file():
            assert name in carried
    assert "docs/images/gui-datasets.png" in carried


def test_the_entry_script_runs_the_command_line_and_python_style_modules():
    entry = str(PACKAGING / "entry.py")
    for args in (["--version"], ["-m", "mmstudio", "--version"]):
        done = subprocess.run(
            [sys.executable, entry, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"mmstudio {mmstudio.__version__}"


# --- the Linux desktop files: structure (always) ---------------------------------------------------


def test_the_desktop_entry_starts_mmstudio_with_files_and_claims_the_spec_type():
    entry = _desktop_entry()
    assert entry["Type"] == "Application" and entry["Name"] == "mmstudio"
    assert entry["Exec"] == "mmstudio %F" and entry["TryExec"] == "mmstudio"
    assert entry["Icon"] == APP_ID and entry["Terminal"] == "false"
    assert entry["Comment"] and entry["Categories"].endswith(";") and "Science" in entry["Categories"]
    assert entry["MimeType"].split(";")[:-1] == [SPEC_MIME_TYPE]


def test_the_mime_type_of_saved_model_specs_matches_what_save_suggests():
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(MIME).getroot()
    (mime_type,) = root.findall("m:mime-type", ns)
    assert mime_type.get("type") == SPEC_MIME_TYPE
    assert mime_type.find("m:sub-class-of", ns).get("type") == "application/json"
    globs = [g.get("pattern") for g in mime_type.findall("m:glob", ns)]
    assert globs == [f"*{suffix}" for suffix in MODEL_SPEC_SUFFIXES]
    assert MODEL_SPEC_SUFFIXES[0] == MODEL_SPEC_SUFFIX  # what Save suggests on Linux, weighted over *.json
    assert int(mime_type.find("m:glob", ns).get("weight")) > 50
    assert mime_type.find("m:comment", ns).text


def test_the_metainfo_names_the_app_its_release_and_screenshots_that_exist():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("icon") == APP_ID
    assert root.findtext("metadata_license") and root.findtext("project_license") == "BSD-3-Clause"
    assert root.findtext("summary") and root.find("description/p") is not None
    assert root.find("content_rating").get("type").startswith("oars-")
    assert root.findtext("provides/binary") == "mmstudio"
    assert root.findtext("provides/mediatype") == SPEC_MIME_TYPE
    versions = [r.get("version") for r in root.findall("releases/release")]
    assert versions[0] == mmstudio.__version__  # the newest release is this version
    images = [i.text for i in root.findall("screenshots/screenshot/image")]
    assert images and root.find("screenshots/screenshot").get("type") == "default"
    for url in images:
        assert (ROOT / "docs" / "images" / url.rsplit("/", 1)[1]).is_file(), url


def test_the_app_icon_is_an_svg_with_pngs_in_every_usual_size():
    svg = ROOT / "resources" / "icons" / "mmstudio.svg"
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    for size in ICON_SIZES:
        png = ROOT / "resources" / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        header = png.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", png
        assert struct.unpack(">II", header[16:24]) == (size, size), png


# --- the validators Debian ships (where installed) -------------------------------------------------


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {package}); the structural checks ran")
    return path


def test_desktop_file_validate_accepts_the_desktop_entry():
    tool = _tool("desktop-file-validate", "desktop-file-utils")
    done = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout


def test_appstreamcli_accepts_the_metainfo():
    tool = _tool("appstreamcli", "appstream")
    done = subprocess.run(
        [tool, "validate", "--no-net", "--pedantic", str(METAINFO)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Infos are allowed: AppStream 0.16 (Debian 12) does not know <developer id=...>, which 1.0 wants.
    problems = [line for line in done.stdout.splitlines() if line[:2] in ("E:", "W:", "P:")]
    assert not problems, done.stdout


def test_update_mime_database_registers_the_spec_type(tmp_path):
    tool = _tool("update-mime-database", "shared-mime-info")
    packages = tmp_path / "mime" / "packages"
    packages.mkdir(parents=True)
    shutil.copy(MIME, packages)
    done = subprocess.run([tool, str(tmp_path / "mime")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "error" not in done.stderr.lower(), done.stderr
    globs = (tmp_path / "mime" / "globs2").read_text(encoding="utf-8")
    for suffix in MODEL_SPEC_SUFFIXES:
        assert f"{SPEC_MIME_TYPE}:*{suffix}" in globs
