"""The Experiments page's "Zero-shot baseline…" action: a tiny CLIP pair scores the small demo in the
background, with the progress row, and the run it records appears in the table."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThreadPool

from mmstudio.store import Store
from mmstudio.ui.experiments.panel import ExperimentsPanel
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState

TIMEOUT_MS = 120_000


@pytest.fixture
def panel(qtbot, tmp_path):
    state = StudioState()
    state.db_url = f"sqlite:///{tmp_path / 'store.db'}"
    panel = ExperimentsPanel(state, Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.runs_loaded, timeout=TIMEOUT_MS):
        panel.show()
    yield panel
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def test_the_zeroshot_action_records_a_run_the_table_shows(panel, tiny_clip_pair_dir, small_demo, qtbot):
    actions = panel.run_actions
    assert actions.zeroshot_action.isEnabled() and actions.zeroshot_action in actions.menu_actions()
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        actions.zeroshot(str(tiny_clip_pair_dir), str(small_demo))
        assert not actions.progress_row.isHidden() and "Zero-shot" in actions.progress_row.title.text()
        assert not actions.zeroshot_action.isEnabled()  # one at a time, as evaluations
    assert done.args == ["zeroshot", True], panel.message.label.text()
    assert actions.progress_row.isHidden() and actions.zeroshot_action.isEnabled()
    run_id = actions.last_zeroshot["run_id"]
    with Store.open(panel.state.db_url) as store:
        assert store.get_run(run_id).status.value == "completed"
    qtbot.waitUntil(lambda: panel.model.record_by_id(run_id) is not None, timeout=TIMEOUT_MS)
    assert panel.model.record_by_id(run_id).architecture == "hf + hf · zeroshot"


def test_a_model_that_is_not_a_pair_is_said_on_the_page(panel, tiny_bert_dir, small_demo, qtbot):
    with qtbot.waitSignal(panel.task_finished, timeout=TIMEOUT_MS) as done:
        panel.run_actions.zeroshot(str(tiny_bert_dir), str(small_demo))
    assert done.args == ["zeroshot", False]
    assert "not a CLIP or SigLIP pair" in panel.message.label.text()
