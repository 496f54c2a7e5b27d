"""Background tasks: results come back as queued signals in the GUI thread, none is ever lost."""

from __future__ import annotations

import threading

from PySide6.QtCore import QThread

from mmstudio.data.types import DatasetFormatError
from mmstudio.progress import Cancelled
from mmstudio.ui.tasks import cancel_all, run_task


def test_a_function_that_returns_at_once_still_reaches_slots_connected_after_run_task(qtbot):
    for _ in range(50):  # the pool thread usually finishes before the connections below are made
        task = run_task(lambda state: 42)
        got, threads = [], []
        task.succeeded.connect(got.append)
        task.finished.connect(lambda threads=threads: threads.append(QThread.currentThread()))
        qtbot.waitUntil(lambda task=task: task.done, timeout=5000)
        assert got == [42] and task.result == 42
        assert threads == [qtbot_thread()]


def qtbot_thread():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance().thread()


def test_failures_carry_a_message_for_the_user_and_the_traceback_of_a_bug(qtbot):
    def fail(state):
        raise KeyError("a bug")

    task = run_task(fail)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        pass
    message, trace = blocker.args
    assert message == "'a bug'"
    assert "Traceback" in trace and "fail" in trace


def test_bad_input_carries_its_message_and_no_traceback(qtbot):
    def missing(state):
        raise FileNotFoundError(2, "No such file or directory", "/data/missing.csv")

    def unreadable(state):
        raise DatasetFormatError("no dataset found in /data: looked for a manifest")

    for fn, expected in (
        (missing, "No such file or directory: /data/missing.csv"),
        (unreadable, "no dataset found in /data: looked for a manifest"),
    ):
        task = run_task(fn)
        with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
            pass
        assert blocker.args == [expected, ""]


def test_cancel_is_cooperative_and_reported(qtbot):
    started = threading.Event()

    def work(state):
        started.set()
        while True:
            state.check()  # raises Cancelled once the task is cancelled

    task = run_task(work)
    assert started.wait(5)
    with qtbot.waitSignal(task.cancelled, timeout=5000):
        task.cancel()
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    assert task.result is None


def test_progress_is_throttled_but_the_last_update_always_arrives(qtbot):
    def work(state):
        for n in range(1, 100_001):
            state.progress(n, 100_000)

    task = run_task(work)
    seen = []
    task.progressed.connect(lambda fraction, message: seen.append(fraction))
    qtbot.waitUntil(lambda: task.done, timeout=10_000)
    assert seen and seen[-1] == 1.0 and len(seen) < 1000


def test_cancel_all_stops_running_tasks(qtbot):
    def work(state):
        while not state.is_set():
            pass
        raise Cancelled("stopped")

    tasks = [run_task(work) for _ in range(2)]
    assert cancel_all(5000)
    qtbot.waitUntil(lambda: all(t.done for t in tasks), timeout=5000)
