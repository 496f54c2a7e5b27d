"""The ui package holds only what touches Qt: a rule that does not belongs to the core, once, where the
command line and a Qt-free test reach it (STYLE.md; napari's ``_qt/`` only reflects ``components/``).

Read from the source (nothing is imported): a top-level function or class of ``mmstudio/ui`` touches
Qt when it names something imported from PySide6, shiboken6, pyqtgraph or another ui module, or a Qt
thing of its own module, calls a camelCase method (Qt's naming; the core's is snake_case), or is a
class built on one of those. What does not is listed here with the reason it stays, or it fails.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import mmstudio

UI = Path(mmstudio.__file__).parent / "ui"
QT_PACKAGES = ("PySide6", "shiboken6", "pyqtgraph", "mmstudio.ui")
CAMEL = re.compile(r"^[a-z]+[A-Z]\w*$")
#: Thread-pool glue: a function run with ``run_task`` that only hands the core its task state. It is
#: named ``*_job`` and stays this short; longer work is a rule, and the core owns it.
GLUE_SUFFIX, GLUE_MAX_LINES = "_job", 12

#: Qt-free definitions that stay in ui, and why (module: {name: reason}).
KEPT: dict[str, dict[str, str]] = {
    "pages.py": {
        "Page": "the page table names ui modules and classes, which the core may not know",
        "page": "looks a page up in that table",
    },
    "harness.py": {
        "Standalone": "how a ui page runs alone: hooks that take the panel (a QWidget)",
        "_size": "the harness's --size type: formatting.parse_size's error as argparse's message",
    },
    "resources.py": {
        "resources_dir": "where the ui's own files are (icons, the stylesheet): nothing else reads them",
        "icon_path": "the same, for one icon",
        "stylesheet": "the same, for the stylesheet",
    },
    "tasks.py": {"_send": "emits a Qt signal from a pool thread (emit is not camelCase)"},
}
#: A page's ``__main__.py`` is the glue of its standalone run (:mod:`mmstudio.ui.harness`): hooks that
#: drive the panel; there is nothing in them the core could own.
SKIPPED_FILES = "__main__.py"


def _qt_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level > 0 or module.startswith(QT_PACKAGES):
                names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(QT_PACKAGES):
                    names.add((alias.asname or alias.name).split(".")[0])
    return names


def _touches(node: ast.AST, qt: set[str]) -> bool:
    if isinstance(node, ast.ClassDef) and any(_touches(base, qt) for base in node.bases):
        return True
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and child.id in qt:
            return True
        if isinstance(child, ast.Attribute) and CAMEL.match(child.attr):
            return True
        if isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value in qt:
            return True  # a string annotation naming a Qt class
    return False


def qt_free_definitions() -> dict[str, dict[str, int]]:
    """Per ui module (relative path), its top-level functions and classes that do not touch Qt, with
    their length in lines."""
    found: dict[str, dict[str, int]] = {}
    for path in sorted(UI.rglob("*.py")):
        if path.name == SKIPPED_FILES:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        qt = _qt_names(tree)
        definitions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        changed = True
        while changed:  # a definition that uses a Qt-touching one of its module touches Qt too
            changed = False
            for node in definitions:
                if node.name not in qt and _touches(node, qt):
                    qt.add(node.name)
                    changed = True
        for node in definitions:
            if node.name in qt:
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if node.name.endswith(GLUE_SUFFIX) and lines <= GLUE_MAX_LINES:
                continue
            found.setdefault(path.relative_to(UI).as_posix(), {})[node.name] = lines
    return found


def test_every_qt_free_definition_in_ui_is_kept_for_a_reason():
    unexplained = {
        module: sorted(set(names) - set(KEPT.get(module, {})))
        for module, names in qt_free_definitions().items()
        if set(names) - set(KEPT.get(module, {}))
    }
    assert unexplained == {}, (
        "Qt-free code in mmstudio/ui: move it to the core (or, if the core cannot own it, list it in "
        f"KEPT with the reason): {unexplained}"
    )


def test_the_kept_list_names_only_what_exists():
    found = qt_free_definitions()
    stale = {m: sorted(set(names) - set(found.get(m, {}))) for m, names in KEPT.items()}
    assert all(not names for names in stale.values()), f"KEPT names what is gone or touches Qt now: {stale}"


def test_the_check_notices_qt_free_code(tmp_path):
    """The check itself: a plain helper is found, Qt code and short task glue are not."""
    source = (
        "from PySide6.QtWidgets import QLabel\n"
        "from mmstudio.ui.tasks import run_task\n"
        "def plain(x):\n    return x + 1\n"
        "def label():\n    return QLabel('a')\n"
        "def uses_label():\n    return label()\n"
        "def camel(widget):\n    widget.setText('a')\n"
        "def load_job(state, path):\n    return path\n"
        "class Record:\n    value: int = 0\n"
        "class View(QLabel):\n    pass\n"
    )
    tree = ast.parse(source)
    qt = _qt_names(tree)
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    for _ in defs:
        qt |= {n.name for n in defs if _touches(n, qt)}
    flagged = {n.name for n in defs if n.name not in qt and not n.name.endswith(GLUE_SUFFIX)}
    assert flagged == {"plain", "Record"}
