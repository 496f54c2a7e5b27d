"""The store stays light: importing and using it never loads torch (nor Qt)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CODE = """
import sys
from mmstudio.store import Store
with Store.open(sys.argv[1]) as store:
    run_id = store.create_run(name="light")
    store.log_metrics(run_id, [("train/loss", 1, 0.0, 0.5, None)])
    store.read_curve(run_id, "train/loss")
    store.list_runs()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchvision", "PySide6", "pyqtgraph"})
assert not heavy, heavy
print("ok")
"""


def assert_runs_ok(code: str, *args: str) -> None:
    """Run ``code`` in a fresh interpreter: it must print ``ok``."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_store_does_not_import_torch_or_qt(tmp_path: Path) -> None:
    assert_runs_ok(CODE, f"sqlite:///{tmp_path / 'x.db'}")


def test_comparing_curves_needs_no_sqlalchemy() -> None:
    """The desktop app draws curves with store.compare while the window is built: SQLAlchemy and
    Alembic (~0.5 s) come only with the first use of the store itself."""
    code = (
        "import sys, mmstudio.store.compare, mmstudio.store as s\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in {'sqlalchemy', 'alembic'}]\n"
        "names = {name: getattr(s, name) for name in s.__all__}  # every public name resolves\n"
        "assert names['Store'].__name__ == 'Store' and 'sqlalchemy' in sys.modules\n"
        "print('ok')"
    )
    assert_runs_ok(code)
