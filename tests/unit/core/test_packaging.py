"""The wheel: every package, the store's migrations, and resources/ as mmstudio/_resources."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def listed_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(config["tool"]["setuptools"]["packages"])


def test_every_package_of_the_source_tree_is_listed():
    found = {
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "mmstudio").rglob("__init__.py")
    }
    assert found - listed_packages() == set(), "add them to [tool.setuptools] packages in pyproject.toml"
    resources = {"mmstudio._resources", "mmstudio._resources.icons"}
    assert listed_packages() - found == resources


def _source_copy(folder: Path) -> Path:
    """What the wheel is built from (pyproject, README, the package, resources), copied: a build
    writes build/ and *.egg-info beside the sources, and never into the working tree."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("mmstudio", "resources"):
        shutil.copytree(ROOT / name, folder / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, folder / name)
    return folder


@pytest.mark.slow
def test_an_installed_wheel_finds_its_resources(tmp_path):
    out = tmp_path / "wheel"
    before = sorted(p.name for p in ROOT.iterdir())
    source = _source_copy(tmp_path / "source")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    subprocess.run([*build, str(source)], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    assert sorted(p.name for p in ROOT.iterdir()) == before  # nothing written into the source tree
    (wheel,) = out.glob("mmstudio-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "site")
    for path in (ROOT / "resources").rglob("*"):
        if path.is_file():
            assert f"mmstudio/_resources/{path.relative_to(ROOT / 'resources').as_posix()}" in names
    assert "mmstudio/store/migrations/versions/0001_initial_schema.py" in names
    # The unpacked wheel, not the source tree: its resources are found beside the package.
    code = (
        "from mmstudio.ui.resources import resources_dir, stylesheet;"
        "print(resources_dir()); print(len(stylesheet()))"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "QT_QPA_PLATFORM": "offscreen"}
    found = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    where, chars = found.stdout.split()
    assert Path(where) == tmp_path / "site" / "mmstudio" / "_resources"
    assert int(chars) > 0
