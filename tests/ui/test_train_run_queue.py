"""The Train page's queue list: each entry a coloured line with its failure as a tooltip, and the
buttons enabled as the queue's rules allow (only waiting entries move, an active one stays, Run queue
waits for the run in progress)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from mmstudio.data.spec import DatasetSpec
from mmstudio.training.queue import RunQueue
from mmstudio.training.spec import RunJob
from mmstudio.ui.train.run_queue import STATUS_COLOURS, RunQueueWidget


@pytest.fixture
def widget(qtbot) -> RunQueueWidget:
    queue = RunQueue()
    for name in ("a", "b", "c"):
        queue.append(RunJob(DatasetSpec(path="data"), model={}, name=name))
    view = RunQueueWidget(queue)
    qtbot.addWidget(view)
    view.refresh()
    return view


def _texts(widget: RunQueueWidget) -> list[str]:
    model = widget.model
    return [model.index(row, 0).data() for row in range(model.rowCount())]


def test_entries_show_their_status_run_and_title_in_their_colour(widget):
    queue = widget.queue
    queue[0].run(run_id=4)
    queue[1].end("failed", "out of memory")
    widget.refresh()
    assert _texts(widget)[0].startswith("[running] run 4 · a · default model")
    assert _texts(widget)[1].startswith("[failed] b")
    index = widget.model.index(1, 0)
    assert index.data(Qt.ItemDataRole.ForegroundRole).color().name() == STATUS_COLOURS["failed"]
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "out of memory"
    assert widget.model.index(2, 0).data(Qt.ItemDataRole.ToolTipRole) is None


def test_the_buttons_follow_the_rules_of_the_queue(qtbot, widget):
    changes = []
    widget.changed.connect(lambda: changes.append(1))
    assert widget.current_row() == -1 and not widget.up_button.isEnabled()
    assert widget.run_button.isEnabled()
    widget.set_current_row(1)
    assert widget.up_button.isEnabled() and widget.down_button.isEnabled()
    qtbot.mouseClick(widget.up_button, Qt.MouseButton.LeftButton)
    assert [e.job.name for e in widget.queue] == ["b", "a", "c"] and widget.current_row() == 0
    assert not widget.up_button.isEnabled() and changes == [1]
    widget.queue[0].start()  # b's worker is starting: it stays where it is
    widget.refresh()
    assert widget.current_row() == 0
    assert not widget.down_button.isEnabled() and not widget.remove_button.isEnabled()
    widget.set_current_row(1)
    assert not widget.up_button.isEnabled() and widget.down_button.isEnabled()
    widget.set_running(True)
    assert not widget.run_button.isEnabled()
    widget.queue[0].end("completed")
    widget.set_running(False)
    qtbot.mouseClick(widget.clear_button, Qt.MouseButton.LeftButton)
    assert [e.job.name for e in widget.queue] == ["a", "c"] and widget.model.rowCount() == 2
    widget.set_current_row(1)
    qtbot.mouseClick(widget.remove_button, Qt.MouseButton.LeftButton)
    assert _texts(widget) == [widget.queue[0].label] and len(changes) == 3
    for entry in widget.queue:
        entry.end("cancelled")
    widget.refresh()
    assert not widget.run_button.isEnabled()  # nothing waits
