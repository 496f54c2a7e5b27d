"""Guard against Qt bindings that corrupt the interpreter.

PySide6 6.12.0 on CPython < 3.12 drops one reference to ``None`` on every Qt call that returns
nothing; after a few thousand calls the process dies with "Fatal Python error: none_dealloc".
pyproject.toml excludes that release; this test makes 20,000 void calls in a child process so a
future release with the same defect is caught at once, whatever the resolver picked.
"""

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, QSize, QTimer

    app = QCoreApplication.instance() or QCoreApplication([])
    obj, timer, size = QObject(), QTimer(), QSize(1, 1)
    before = sys.getrefcount(None)
    for i in range(20_000):
        obj.setObjectName("n")      # void
        timer.setInterval(i % 100)  # void
        size.setWidth(i % 7)        # void (a value type, not a QObject)
    after = sys.getrefcount(None)
    print(before - after)
    """
)


def test_twenty_thousand_void_qt_calls_survive():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"the Qt binding crashed the interpreter:\n{proc.stderr[-2000:]}"
    lost = int(proc.stdout.strip().splitlines()[-1])
    if sys.version_info < (3, 12):  # from 3.12 None is immortal and its count says nothing
        # A sound binding loses nothing; the broken one loses one reference per call (60,000 here).
        assert lost < 100, f"the Qt binding leaked {lost} references to None in 60,000 void calls"
