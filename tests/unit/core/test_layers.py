"""The layer rule of STYLE.md: the core imports no Qt, and the store no torch.

import-linter checks the imports written in the code (.ci/run runs ``lint-imports``); these tests
check what actually lands in ``sys.modules`` when the core is imported in a fresh interpreter.
"""

import json
import subprocess
import sys

import pytest

QT = ("PySide6", "shiboken6", "pyqtgraph", "mmstudio.ui")
TORCH = ("torch", "torchvision")


def _modules_after_import(*modules: str) -> set[str]:
    code = "import json, sys\n" + "".join(f"import {m}\n" for m in modules)
    code += "print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout))


def _offenders(loaded: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(
        m for m in loaded if m.split(".")[0] in banned or m in banned or m.startswith("mmstudio.ui")
    )


CORE = [
    "mmstudio.cli",
    "mmstudio.paths",
    "mmstudio.preferences",
    "mmstudio.console",
    "mmstudio.data",
    "mmstudio.data.images",
    "mmstudio.data.demo",
    "mmstudio.data.cache",
    "mmstudio.data.text",
    "mmstudio.data.stats",
    "mmstudio.store",
    "mmstudio.models",
    "mmstudio.training.events",
    "mmstudio.training.control",
    "mmstudio.training.spec",
    "mmstudio.training.worker",
    "mmstudio.training.runner",
    "mmstudio.training.preflight",
    "mmstudio.training.resume",
    "mmstudio.training.queue",
    "mmstudio.training.launch",
    "mmstudio.store.summaries",
    "mmstudio.store.report",
    "mmstudio.store.curves",
    "mmstudio.data.overview",
    "mmstudio.data.sources",
    "mmstudio.data.report",
    "mmstudio.data.search",
    "mmstudio.vocabulary",
    "mmstudio.formatting",
    "mmstudio.progress",
    "mmstudio.heap",
]


@pytest.mark.parametrize("module", CORE)
def test_core_imports_no_qt(module):
    assert _offenders(_modules_after_import(module), QT) == []


def test_events_and_control_import_only_the_standard_library():
    loaded = _modules_after_import("mmstudio.training.events", "mmstudio.training.control")
    assert _offenders(loaded, (*TORCH, "numpy", "sqlalchemy")) == []


def test_store_and_dataset_layer_import_no_torch():
    loaded = _modules_after_import("mmstudio.store", "mmstudio.data", "mmstudio.data.cache", "mmstudio.cli")
    assert _offenders(loaded, TORCH) == []


def test_what_the_pages_import_at_start_imports_no_torch():
    """The pages import these at start (the window is on screen before torch has loaded); their work
    imports torch inside the functions that need it."""
    loaded = _modules_after_import(
        "mmstudio.training.preflight",
        "mmstudio.training.resume",
        "mmstudio.training.queue",
        "mmstudio.training.device",
        "mmstudio.training.exports",
        "mmstudio.store.summaries",
        "mmstudio.store.report",
        "mmstudio.store.curves",
        "mmstudio.data.overview",
    )
    assert _offenders(loaded, TORCH) == []


def test_no_module_imports_itself_through_others():
    """No circle among mmstudio's modules (import-linter checks the layers; a circle inside one layer,
    such as the pages importing the app that imports the pages, it would not see). Imports made inside
    functions count: they run, just later."""
    import grimp

    graph = grimp.build_graph("mmstudio")
    circles = sorted(
        {
            tuple(sorted((module, imported)))
            for module in graph.modules
            for imported in graph.find_modules_directly_imported_by(module)
            if imported != module and graph.chain_exists(importer=imported, imported=module)
        }
    )
    assert circles == []
