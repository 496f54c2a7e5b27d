"""The column mapping dialog: pre-filled from the core's guess, live preview, OK reloads with the roles."""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from mmstudio.data.dataset import read_source
from mmstudio.data.preview import Preview, read_preview
from mmstudio.data.types import ColumnRoles
from mmstudio.ui.datasets.columns_dialog import NONE, ROLE_COLOURS, ColumnMappingDialog
from mmstudio.ui.datasets.panel import DatasetsPanel
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState

LOAD_TIMEOUT = 30_000


def write_manifest(root: Path, header: list[str], row, n: int = 12) -> Path:
    """``data.csv`` with ``n`` rows ``row(i)`` and a PNG ``img/{i}.png`` for each."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (8, 6), (i * 20, 50, 90)).save(root / "img" / f"{i}.png")
    path = root / "data.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(row(i) for i in range(n))
    return path


def ambiguous_manifest(root: Path) -> Path:
    """Two columns could be the text (``text`` and ``caption``): the guess is uncertain."""
    return write_manifest(
        root,
        ["image", "text", "caption", "label"],
        lambda i: [f"img/{i}.png", f"short note {i}", f"the real caption of picture {i}", "ab"[i % 2]],
    )


def unnamed_manifest(root: Path) -> Path:
    """Columns whose names say nothing and whose text is too short to be guessed: the load needs the user."""
    return write_manifest(root, ["c1", "c2", "c3"], lambda i: [f"img/{i}.png", f"w{i}", "xy"[i % 2]])


@pytest.fixture
def panel(qtbot, tmp_path):
    widget = DatasetsPanel(StudioState(), Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    yield widget
    widget.shutdown()


def open_and_wait(qtbot, panel, path, **kwargs):
    with qtbot.waitSignal(panel.loading_finished, timeout=LOAD_TIMEOUT) as finished:
        panel.open_path(path, **kwargs)
    return finished.args[0]


def background(dialog: ColumnMappingDialog, column: str):
    model = dialog.model
    return model.data(model.index(0, dialog.preview.columns.index(column)), Qt.ItemDataRole.BackgroundRole)


def test_an_ambiguous_manifest_opens_the_dialog_prefilled_and_ok_reloads(qtbot, panel, tmp_path):
    manifest = ambiguous_manifest(tmp_path / "ds")
    assert not read_source(manifest).roles_certain  # what the core says: the guess is uncertain
    first = open_and_wait(qtbot, panel, manifest)
    assert first is not None and first.columns.text == "text"  # loaded with the guess meanwhile
    dialog = panel.columns_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.roles() == ColumnRoles(image="image", text="text", label="label", split="")
    assert dialog.combos["split"].currentText() == NONE
    assert dialog.preview.columns == ["image", "text", "caption", "label"] and len(dialog.preview.rows) == 12
    assert "guessed" in dialog.message.label.text()
    assert background(dialog, "text") == ROLE_COLOURS["text"] and background(dialog, "caption") is None

    dialog.set_role("text", "caption")  # the preview re-highlights at once
    assert background(dialog, "caption") == ROLE_COLOURS["text"] and background(dialog, "text") is None
    assert dialog.model.headerData(2, Qt.Orientation.Horizontal) == "caption\n(text)"
    assert dialog.ok_button.isEnabled()
    with qtbot.waitSignal(panel.loading_finished, timeout=LOAD_TIMEOUT) as finished:
        dialog.accept()
    dataset = finished.args[0]
    assert dataset is not None and dataset is not first
    assert dataset.columns == ColumnRoles(image="image", text="caption", label="label", split=None)
    assert dataset.items[0].text == "the real caption of picture 0"
    assert panel.state.dataset_spec.columns == ColumnRoles("image", "caption", "label", "")
    assert panel.columns_dialog is None  # roles chosen by the user are not asked again
    assert "text = caption" in panel.header.columns_label.text()


def test_none_for_the_label_makes_a_retrieval_dataset(qtbot, panel, tmp_path):
    open_and_wait(qtbot, panel, ambiguous_manifest(tmp_path / "ds"))
    dialog = panel.columns_dialog
    dialog.set_role("label", NONE)
    with qtbot.waitSignal(panel.loading_finished, timeout=LOAD_TIMEOUT) as finished:
        dialog.accept()
    dataset = finished.args[0]
    assert dataset.columns.label is None and dataset.task == "retrieval" and dataset.labels == []


def test_cancel_keeps_the_guess(qtbot, panel, tmp_path):
    first = open_and_wait(qtbot, panel, ambiguous_manifest(tmp_path / "ds"))
    panel.columns_dialog.reject()
    assert panel.columns_dialog is None and panel.dataset is first and not panel.is_loading()


def test_columns_that_cannot_be_told_apart_ask_before_loading(qtbot, panel, tmp_path):
    manifest = unnamed_manifest(tmp_path / "ds")
    assert open_and_wait(qtbot, panel, manifest) is None  # nothing could be loaded with the guess
    assert panel.error_message().startswith("Could not tell which column of data.csv holds the text")
    dialog = panel.columns_dialog
    assert dialog is not None and dialog.preview.columns == ["c1", "c2", "c3"]
    assert dialog.roles().image == "c1" and dialog.roles().text is None  # the guess, as far as it went
    assert not dialog.ok_button.isEnabled() and "text" in dialog.error.text()
    dialog.set_role("text", "c2")
    dialog.set_role("label", "c3")
    with qtbot.waitSignal(panel.loading_finished, timeout=LOAD_TIMEOUT) as finished:
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    dataset = finished.args[0]
    assert dataset is not None and dataset.report.valid == 12 and dataset.labels == ["x", "y"]
    assert panel.error_message() == ""


def test_one_column_for_two_roles_is_refused(qtbot, tmp_path):
    manifest = ambiguous_manifest(tmp_path / "ds")
    preview = read_preview("manifest", [manifest])
    dialog = ColumnMappingDialog(preview, ColumnRoles("image", "text", "label"), format="manifest")
    qtbot.addWidget(dialog)
    assert dialog.ok_button.isEnabled() and dialog.problem() == ""
    dialog.set_role("label", "text")
    assert not dialog.ok_button.isEnabled() and "'text' is chosen for two roles" in dialog.problem()
    with pytest.raises(ValueError, match="not a column"):
        dialog.set_role("text", "nope")


def test_columns_button_opens_the_dialog_with_the_current_roles(qtbot, panel, tmp_path):
    manifest = write_manifest(
        tmp_path / "ds",
        ["image", "caption", "label"],
        lambda i: [f"img/{i}.png", f"caption {i} here", "ab"[i % 2]],
    )
    first = open_and_wait(qtbot, panel, manifest)
    assert first.source.roles_certain and panel.columns_dialog is None  # a clear manifest: no question
    assert panel.header.columns_button.isVisible()
    panel.header.columns_button.click()
    qtbot.waitUntil(lambda: panel.columns_dialog is not None, timeout=LOAD_TIMEOUT)
    dialog = panel.columns_dialog
    assert dialog.roles() == ColumnRoles("image", "caption", "label", "")
    assert dialog.message.isHidden()
    with qtbot.assertNotEmitted(panel.loading_started):
        dialog.accept()  # the same roles: nothing to read again
    assert panel.dataset is first and panel.spec.columns == ColumnRoles("image", "caption", "label", "")


def test_the_class_folder_can_stay_the_label_of_an_imagefolder(qtbot, tmp_path):
    preview = Preview("metadata.jsonl", ["file_name", "text"], [{"file_name": "cat/0.png", "text": "a cat"}])
    dialog = ColumnMappingDialog(
        preview, ColumnRoles("file_name", "text", "(class folder)", "(split folder)"), format="imagefolder"
    )
    qtbot.addWidget(dialog)
    assert dialog.combos["label"].currentText() == "(class folder)"
    assert dialog.combos["split"].currentText() == "(split folder)"
    assert dialog.roles() == ColumnRoles("file_name", "text", "(class folder)", "(split folder)")
    assert background(dialog, "file_name") == ROLE_COLOURS["image"]


def test_preview_of_a_shard_lists_its_fields(tmp_path):
    shard = tmp_path / "shard-000.tar"
    with tarfile.open(shard, "w") as tar:
        for i in range(3):
            buf = io.BytesIO()
            Image.new("RGB", (4, 4)).save(buf, "PNG")
            for name, data in ((f"k{i}.png", buf.getvalue()), (f"k{i}.txt", f"caption {i}".encode()),
                               (f"k{i}.json", b'{"label": "cat", "score": 1}')):  # fmt: skip
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    preview = read_preview("webdataset", [shard])
    assert preview.columns == ["__key__", "png", "txt", "json.label", "json.score"]
    assert preview.role_choices() == ["json.label", "json.score", "png", "txt"]
    assert preview.rows[1] == {
        "__key__": "k1", "png": "k1.png", "txt": "caption 1", "json.label": "cat", "json.score": "1"
    }  # fmt: skip


def test_dialog_result_code(qtbot, tmp_path):
    preview = read_preview("manifest", [ambiguous_manifest(tmp_path / "ds")])
    dialog = ColumnMappingDialog(preview, ColumnRoles("image", "caption"), format="manifest")
    qtbot.addWidget(dialog)
    dialog.open()
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted
