"""The Train page's Export launch command…: the button is there when the form holds a job that can
train (and says why not otherwise); the dialog starts from the app's store and this machine's GPUs,
shows the torchrun command, copies it, refuses bad fields with the reason, keeps a store password out
of everything it writes, and Export writes the folder and says where."""

from __future__ import annotations

import dataclasses
import shlex

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from mmstudio.data.dataset import load_dataset
from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.training.device import DeviceInfo
from mmstudio.training.launch import JOB_FILE, LAUNCH_FILE, SBATCH_FILE
from mmstudio.training.spec import RunJob, TrainSpec
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.train.launch_dialog import LaunchDialog
from mmstudio.ui.train.panel import TrainPanel

MODEL = {"task": "classification", "text_encoder": {"name": "textcnn"}, "fusion": {"name": "concat"}}
SECRET_URL = "postgresql+psycopg://alice:hunter2@db.lab.example/mmstudio"


@pytest.fixture
def make_page(qtbot, tmp_path):
    def make(dataset_folder=None) -> TrainPanel:
        state = StudioState()
        state.set_db_url(f"sqlite:///{tmp_path / 'runs.db'}")
        Store.open(state.db_url).close()
        if dataset_folder is not None:
            state.set_dataset(load_dataset(dataset_folder), DatasetSpec(path=str(dataset_folder)))
        state.set_model_spec(MODEL)
        panel = TrainPanel(state, Settings(tmp_path / "settings.ini"))
        qtbot.addWidget(panel)
        panel.resize(1280, 800)
        panel.show()
        qtbot.waitExposed(panel)
        panel.set_train_spec(TrainSpec(epochs=2, batch_size=16, device="cpu"))
        return panel

    return make


def _open_dialog(qtbot, panel: TrainPanel) -> LaunchDialog:
    qtbot.waitUntil(lambda: not panel.job_check.checking, timeout=60_000)
    assert panel.launch_button.isEnabled()
    qtbot.mouseClick(panel.launch_button, Qt.MouseButton.LeftButton)
    (dialog,) = [d for d in panel.findChildren(LaunchDialog) if d.isVisible()]  # a closed one goes later
    qtbot.addWidget(dialog)
    return dialog


def test_export_writes_the_job_and_scripts_and_says_where(qtbot, make_page, small_demo, tmp_path):
    panel = make_page(small_demo)
    posted = []
    panel.state.status_posted.connect(lambda message, _ms: posted.append(message))
    dialog = _open_dialog(qtbot, panel)
    assert dialog.store_edit.text() == panel.state.db_url  # the app's store
    assert not dialog.slurm_group.isVisible()  # folded away until wanted
    assert not dialog.host_edit.isEnabled()  # one node: no rendezvous to name
    assert dialog.export_button.isDefault()  # Return exports

    folder = tmp_path / "launch"
    dialog.folder_edit.setText(str(folder))
    dialog.nproc_spin.setValue(2)
    qtbot.mouseClick(dialog.slurm_button, Qt.MouseButton.LeftButton)
    assert dialog.slurm_group.isVisible()
    dialog.partition_edit.setText("gpu")
    dialog.time_edit.setText("01:30:00")
    dialog.gpus_spin.setValue(2)
    assert shlex.split(dialog.command_view.toPlainText()) == [
        "torchrun",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "mmstudio",
        "--db",
        panel.state.db_url,
        "train",
        str(folder / JOB_FILE),
    ]
    with qtbot.waitSignal(dialog.exported, timeout=10_000) as exported:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert exported.args == [folder]
    assert sorted(p.name for p in folder.iterdir()) == sorted([JOB_FILE, LAUNCH_FILE, SBATCH_FILE])
    job = RunJob.from_json((folder / JOB_FILE).read_text())
    assert job == dataclasses.replace(panel.build_job(), db_url=None)
    sbatch = (folder / SBATCH_FILE).read_text()
    assert "#SBATCH --partition=gpu" in sbatch and "#SBATCH --time=01:30:00" in sbatch
    assert "#SBATCH --gpus-per-node=2" in sbatch
    assert dialog.result.isVisible() and str(folder) in dialog.result.label.text()
    assert posted and str(folder) in posted[-1]
    # Saying more (SLURM unfolded, where the files went) makes the dialog taller, never squashed.
    qtbot.waitUntil(lambda: dialog.height() >= dialog.layout().totalHeightForWidth(dialog.width()))
    assert dialog.result.height() >= dialog.result.heightForWidth(dialog.result.width()) > 0


def test_copy_puts_the_command_on_the_clipboard(qtbot, make_page, small_demo):
    panel = make_page(small_demo)
    dialog = _open_dialog(qtbot, panel)
    dialog.nodes_spin.setValue(2)
    dialog.host_edit.setText("head01")
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    copied = QGuiApplication.clipboard().text()
    assert copied == dialog.command == dialog.command_view.toPlainText()
    words = shlex.split(copied)
    assert words[:3] == ["torchrun", "--nnodes", "2"]
    assert words[words.index("--rdzv-endpoint") + 1] == "head01:29500"
    assert dialog.copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: dialog.copy_button.text() == "Copy", timeout=30_000)


def test_a_store_password_is_said_and_written_nowhere(qtbot, make_page, small_demo, tmp_path):
    panel = make_page(small_demo)
    dialog = _open_dialog(qtbot, panel)
    dialog.folder_edit.setText(str(tmp_path / "launch"))
    dialog.store_edit.setText(SECRET_URL)
    assert "hunter2" not in dialog.command and "--db" not in dialog.command
    note = dialog.message.label.text()
    assert "MMSTUDIO_DB" in note and "alice:***@db.lab.example" in note and "hunter2" not in note
    with qtbot.waitSignal(dialog.exported, timeout=10_000):
        dialog.export_button.click()
    assert not any("hunter2" in p.read_text() for p in (tmp_path / "launch").iterdir())


def test_bad_fields_disable_export_and_copy_with_the_reason(qtbot, make_page, small_demo):
    panel = make_page(small_demo)
    dialog = _open_dialog(qtbot, panel)
    dialog.slurm_button.setChecked(True)
    dialog.time_edit.setText("4h")
    assert not dialog.export_button.isEnabled() and not dialog.copy_button.isEnabled()
    assert dialog.message.error().startswith("The time limit '4h' is not one SLURM reads")
    assert dialog.command_view.toPlainText() == ""
    dialog.time_edit.setText("04:00:00")
    assert dialog.export_button.isEnabled() and dialog.message.error() == ""
    dialog.folder_edit.setText("")
    assert not dialog.export_button.isEnabled() and "folder" in dialog.message.error()
    dialog.folder_edit.setText("/shared/launch")
    dialog.store_edit.setText("sqlite://")
    assert not dialog.export_button.isEnabled() and "names no file" in dialog.message.error()


def test_a_sqlite_store_on_several_nodes_is_warned_about(qtbot, make_page, small_demo):
    panel = make_page(small_demo)
    dialog = _open_dialog(qtbot, panel)
    dialog.nodes_spin.setValue(3)
    assert dialog.host_edit.isEnabled() and dialog.port_spin.isEnabled()
    assert dialog.message.property("level") == "warning"
    assert "SQLite" in dialog.message.label.text() and "PostgreSQL" in dialog.message.label.text()
    assert dialog.export_button.isEnabled()  # a warning, not a refusal


def test_the_processes_per_node_start_at_this_machines_gpus(qtbot, make_page, small_demo):
    panel = make_page(small_demo)
    qtbot.waitUntil(lambda: panel.devices is not None, timeout=120_000)  # the probe, then this machine
    panel._on_devices_task_succeeded(
        [
            DeviceInfo("cuda:0", "cuda", "GPU 0"),
            DeviceInfo("cuda:1", "cuda", "GPU 1"),
            DeviceInfo("cpu", "cpu", ""),
        ]
    )
    dialog = _open_dialog(qtbot, panel)
    assert (dialog.nproc_spin.value(), dialog.gpus_spin.value()) == (2, 2)
    panel._on_devices_task_succeeded([DeviceInfo("cpu", "cpu", "CPU")])
    dialog.close()
    dialog = _open_dialog(qtbot, panel)
    assert (dialog.nproc_spin.value(), dialog.gpus_spin.value()) == (1, 0)


def test_the_button_says_why_it_is_unavailable(qtbot, make_page, single_label_demo):
    panel = make_page()  # no dataset
    assert not panel.launch_button.isEnabled()
    assert panel.launch_button.toolTip() == "Open a dataset first"
    assert panel.export_launch() is None  # as Start: the form says why, and no dialog opens
    assert panel.form_message.error().startswith("No dataset is loaded")
    assert panel.findChild(LaunchDialog) is None

    panel = make_page(single_label_demo)  # one label: nothing to classify
    qtbot.waitUntil(lambda: not panel.job_check.checking, timeout=60_000)
    assert not panel.launch_button.isEnabled()
    assert panel.launch_button.toolTip().startswith("Export is unavailable:")
    assert panel.export_launch() is None
    assert panel.form_message.error() == panel.job_check.unavailable
