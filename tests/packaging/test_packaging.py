"""packaging/: the PyInstaller spec and what it bundles, the entry script, the Linux desktop files
(the .desktop entry, the MIME type of saved model specs, the AppStream metainfo and the icons), the
macOS app bundle's Info.plist and the Windows installer's script, which declare the same file type.

The structural checks always run; the validators Debian ships (``desktop-file-validate`` from
desktop-file-utils, ``appstreamcli`` from appstream, ``update-mime-database`` from shared-mime-info)
run where they are installed (``.ci/run`` installs them when apt can) and are skipped, saying so,
where they are not. The multi-gigabyte build itself is not a test (packaging/README.md), and neither
macOS's Launch Services nor Inno Setup's compiler runs here: their files are checked by what they say.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import plistlib
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import mmstudio
from mmstudio.paths import GUIDES
from mmstudio.training.spec import MODEL_SPEC_SUFFIX, MODEL_SPEC_SUFFIXES, model_spec_suffix

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
LINUX = PACKAGING / "linux"
APP_ID = mmstudio.APP_ID  # the window says it to the desktop (mmstudio.ui.app)
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
MIME = LINUX / "mmstudio-mime.xml"
ISS = PACKAGING / "windows" / "mmstudio.iss"
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


def test_the_frozen_entry_opens_a_path_as_mmstudio_path_does(tmp_path, monkeypatch):
    """Explorer starts ``"mmstudio.exe" "%1"`` (packaging/windows/mmstudio.iss) and a Linux file manager
    ``mmstudio %F``: the entry script hands the path to the command line, spaces and all."""
    import mmstudio.ui.launch

    entry = _module("mmstudio_packaging_entry", PACKAGING / "entry.py")
    calls: list[tuple] = []
    monkeypatch.setattr(mmstudio.ui.launch, "run_gui", lambda path, **kw: calls.append((path, kw)) or 0)
    folder = tmp_path / "My Documents"
    folder.mkdir()
    spec = folder / f"fused model{model_spec_suffix('win32')}"
    spec.write_text(json.dumps({"fusion": {"name": "concat"}}), encoding="utf-8")
    assert entry.main([str(spec)]) == 0
    assert entry.main([str(folder)]) == 0
    (path, options), (path_2, options_2) = calls
    assert path is None and options["spec"] == str(spec) and options["page"] is None
    assert path_2 == str(folder) and options_2["spec"] is None


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


# --- macOS: the app bundle's Info.plist --------------------------------------------------------------


def _linux_globs() -> list[str]:
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    return [g.get("pattern") for g in ET.parse(MIME).getroot().iterfind("m:mime-type/m:glob", ns)]


def test_the_macos_bundle_declares_the_spec_type_by_the_extension_finder_matches(bundle):
    plist = bundle.info_plist()
    assert plistlib.loads(plistlib.dumps(plist)) == plist  # PyInstaller writes it with plistlib.dump
    (declared,) = plist["UTExportedTypeDeclarations"]
    assert declared["UTTypeIdentifier"] == bundle.SPEC_UTI
    assert declared["UTTypeConformsTo"] == ["public.json"]
    tags = declared["UTTypeTagSpecification"]
    assert tags["public.mime-type"] == [bundle.SPEC_MIME_TYPE] == [SPEC_MIME_TYPE]
    # Finder compares the last part of a name: each extension has no dot, is one the Linux type globs,
    # and is the one Save suggests on macOS.
    extensions = tags["public.filename-extension"]
    assert extensions == bundle.spec_extensions() == ["mmspec"]
    assert all("." not in extension for extension in extensions)
    assert {f"*.{extension}" for extension in extensions} <= set(_linux_globs())
    assert model_spec_suffix("darwin") == f".{extensions[0]}"
    # mmstudio owns its specs and is an alternate viewer of JSON (*.mmspec.json, manifests, COCO);
    # like the Linux desktop entry, it claims no folders and nothing else.
    kinds = {kind["LSHandlerRank"]: kind for kind in plist["CFBundleDocumentTypes"]}
    assert set(kinds) == {"Owner", "Alternate"}
    assert kinds["Owner"]["LSItemContentTypes"] == [bundle.SPEC_UTI]
    assert kinds["Owner"]["CFBundleTypeRole"] == "Editor"
    assert kinds["Alternate"]["LSItemContentTypes"] == ["public.json"]
    assert kinds["Alternate"]["CFBundleTypeRole"] == "Viewer"
    # PyInstaller marks a console program's bundle background-only: no Dock icon, no menu bar.
    assert plist["LSBackgroundOnly"] is False and plist["NSHighResolutionCapable"] is True
    assert plist["CFBundleShortVersionString"] == plist["CFBundleVersion"] == mmstudio.__version__


def test_the_spec_gives_the_bundle_its_plist_and_the_app_id():
    text = (PACKAGING / "mmstudio.spec").read_text(encoding="utf-8")
    assert "info_plist=bundle.info_plist()" in text
    assert f'bundle_identifier="{APP_ID}"' in text


# --- Windows: the Inno Setup script -------------------------------------------------------------------


def _iss_values(line: str) -> dict[str, str]:
    """The parameters of one entry, ``Name: "value"; Flags: a b``, as a dict; a quoted value loses its
    quotes, and a doubled quote inside it is one (Inno Setup's quoting)."""
    values: dict[str, str] = {}
    for match in re.finditer(r'\s*(\w+):\s*("(?:[^"]|"")*"|[^;]*)\s*(?:;|$)', line):
        name, value = match.group(1), match.group(2).strip()
        if value.startswith('"'):
            value = value[1:-1].replace('""', '"')
        values[name] = value
    return values


def _iss() -> tuple[dict[str, str], dict[str, list]]:
    """The script's ``#define``s and its sections, with ``{#Name}`` expanded: ``[Setup]`` as a dict, the
    others as lists of entries (dicts of parameters)."""
    defines: dict[str, str] = {}
    sections: dict[str, list] = {}
    section = None
    for raw in ISS.read_text(encoding="ascii").splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        if match := re.fullmatch(r'#define\s+(\w+)\s+"([^"]*)"', line):
            defines[match.group(1)] = match.group(2)
            continue
        if line.startswith("#"):
            assert re.fullmatch(r"#(ifndef \w+|endif)", line), line
            continue
        line = re.sub(r"\{#(\w+)\}", lambda m: defines[m.group(1)], line)
        if match := re.fullmatch(r"\[(\w+)\]", line):
            section = match.group(1)
            sections[section] = {} if section == "Setup" else []
        elif section == "Setup":
            key, _, value = line.partition("=")
            sections["Setup"][key.strip()] = value.strip()
        else:
            sections[section].append(_iss_values(line))
    return defines, sections


def test_the_windows_installer_installs_the_build_with_a_shortcut():
    defines, sections = _iss()
    setup = sections["Setup"]
    assert defines["AppVersion"] == setup["AppVersion"] == mmstudio.__version__  # pyproject reads it there
    assert re.fullmatch(r"\{\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}", setup["AppId"])
    assert setup["SourceDir"] == "..\\.." and (ISS.parent / ".." / "..").resolve() == ROOT
    assert setup["ChangesAssociations"] == "yes"  # Explorer re-reads the file types
    assert setup["DefaultDirName"] == "{autopf}\\mmstudio"
    assert setup["PrivilegesRequired"] == "lowest" and setup["PrivilegesRequiredOverridesAllowed"] == "dialog"
    assert setup["OutputBaseFilename"] == f"mmstudio-{mmstudio.__version__}-setup"
    # the one-folder build (mmstudio.spec: dist/mmstudio/mmstudio.exe), and the icon build.sh makes
    build_script = (PACKAGING / "build.sh").read_text(encoding="utf-8")
    assert setup["SetupIconFile"] == "packaging\\build\\mmstudio.ico"
    assert '"packaging/build/mmstudio.ico"' in build_script and "mmstudio.iss" in build_script
    sources = {entry["Source"]: entry for entry in sections["Files"]}
    assert set(sources) == {"dist\\mmstudio\\*", "packaging\\build\\mmstudio.ico"}
    assert {"recursesubdirs", "createallsubdirs"} <= set(sources["dist\\mmstudio\\*"]["Flags"].split())
    assert all(entry["DestDir"] == "{app}" for entry in sections["Files"])
    start_menu = next(icon for icon in sections["Icons"] if icon["Name"].startswith("{autoprograms}"))
    assert (
        start_menu["Name"] == "{autoprograms}\\mmstudio" and start_menu["Filename"] == "{app}\\mmstudio.exe"
    )
    assert start_menu["IconFilename"] == "{app}\\mmstudio.ico"
    assert all("Tasks" in icon for icon in sections["Icons"] if icon is not start_menu)  # asked for


def test_the_windows_installer_registers_the_spec_type_as_linux_and_macos_declare_it(bundle):
    defines, sections = _iss()
    registry = sections["Registry"]
    assert all(
        entry["Root"] == "HKA" and entry["Subkey"].startswith("Software\\Classes\\") for entry in registry
    )
    keys: dict[tuple[str, str], dict] = {}
    for entry in registry:
        keys[(entry["Subkey"].removeprefix("Software\\Classes\\"), entry["ValueName"])] = entry
    prog_id = defines["SpecProgId"]
    assert re.fullmatch(r"mmstudio\.\w+\.\d+", prog_id)  # Program.Component.Version
    # the ProgID: deleted whole on uninstall; its icon (installed from [Files]) and its open command
    assert keys[(prog_id, "")]["ValueData"] == bundle.SPEC_TYPE_NAME
    assert "uninsdeletekey" in keys[(prog_id, "")]["Flags"].split()
    assert keys[(prog_id + "\\DefaultIcon", "")]["ValueData"] == "{app}\\mmstudio.ico,0"
    assert keys[(prog_id + "\\shell\\open\\command", "")]["ValueData"] == '"{app}\\mmstudio.exe" "%1"'
    # Explorer matches the last part of a name, as Finder does: the same extensions as the app bundle,
    # each one the Linux type globs and the one Save suggests on Windows; the ProgID is their default
    extensions = sorted({key.split("\\")[0] for key, _ in keys if key.startswith(".")})
    assert extensions == sorted([f".{e}" for e in bundle.spec_extensions()] + [".json"])
    assert {f"*{extension}" for extension in extensions if extension != ".json"} <= set(_linux_globs())
    assert model_spec_suffix("win32") in extensions
    for extension in extensions:
        offered = keys[(extension + "\\OpenWithProgids", prog_id)]
        assert offered["ValueData"] == "" and "uninsdeletevalue" in offered["Flags"].split()
        if extension == ".json":  # offered under Open with, never made the default
            assert (extension, "") not in keys
        else:
            assert keys[(extension, "")]["ValueData"] == prog_id
            assert "uninsdeletevalue" in keys[(extension, "")]["Flags"].split()
            assert keys[(extension, "Content Type")]["ValueData"] == bundle.SPEC_MIME_TYPE
    # every value a later uninstall could leave behind is removed with it
    for entry in registry:
        flags = set(entry.get("Flags", "").split())
        owned = entry["Subkey"].startswith(f"Software\\Classes\\{prog_id}")
        assert owned or flags & {"uninsdeletevalue", "uninsdeletekey"}, entry


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
