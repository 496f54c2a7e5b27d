"""The Model page: presets, forms from the registries, the live diagram, inline issues, check on a
batch, JSON files and the dirty flag, and a startup that leaves torch alone."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton
from torch import nn

from mmstudio.data.dataset import load_dataset
from mmstudio.data.types import ColumnRoles
from mmstudio.models import PRESETS, TEXT_ENCODERS, ModelSpec, Param, SpecError, default_spec, preset_spec
from mmstudio.models._common import EncoderOutput, masked_max, padding_mask
from mmstudio.training.spec import TrainSpec
from mmstudio.ui.model.panel import ModelPanel
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.widgets import MessageBar

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def demo_dataset(small_demo):
    return load_dataset(small_demo)


@pytest.fixture
def make_panel(qtbot, tmp_path):
    """A ready, settled panel (with ``dataset`` in its state, if given)."""

    def make(dataset=None, state: StudioState | None = None) -> ModelPanel:
        state = state or StudioState()
        if dataset is not None:
            state.set_dataset(dataset)
        panel = ModelPanel(state, Settings(tmp_path / "settings.ini"))
        qtbot.addWidget(panel)
        panel.resize(1280, 800)
        panel.prepare()
        settle(qtbot, panel)
        return panel

    yield make
    # Nothing of this test may still run in the pool during the next one (pytest-qt may have
    # deleted the panels by now, so wait on the pool rather than on them).
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def settle(qtbot, panel: ModelPanel) -> None:
    qtbot.waitUntil(lambda: panel.is_ready() and not panel.is_busy(), timeout=TIMEOUT_MS)


def choose(panel: ModelPanel, slot: str, name: str) -> None:
    """Pick ``name`` in a component's combo as a user does."""
    combo = panel.section(slot).combo
    index = combo.findData(name, Qt.ItemDataRole.UserRole)
    assert index >= 0, f"{name} is not in the {slot} combo"
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def visible_messages(panel: ModelPanel, slot: str) -> list[str]:
    return panel.section(slot).issues.messages()


# --- startup ---------------------------------------------------------------------------------------


def test_importing_the_page_imports_neither_torch_nor_the_model_library():
    code = (
        "import sys, mmstudio.ui.model.panel, mmstudio.ui.model.diagram, mmstudio.ui.param_form\n"
        "loaded = [m for m in ('torch', 'torchvision', 'mmstudio.models') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_the_library_loads_in_the_background_then_the_forms_appear(qtbot, tmp_path):
    panel = ModelPanel(StudioState(), Settings(tmp_path / "settings.ini"))
    qtbot.addWidget(panel)
    assert not panel.is_ready() and panel.spec() == {}
    panel.set_spec(preset_spec("gated").to_dict())  # before the library: kept for it
    panel.show()  # showing starts the load
    assert panel.is_busy()
    settle(qtbot, panel)
    assert panel.spec() == preset_spec("gated").to_dict()
    assert panel.library_seconds is not None
    assert panel.section("fusion").current() == "gated"


# --- presets and forms -----------------------------------------------------------------------------


def test_every_preset_produces_its_spec(qtbot, make_panel, answers):
    """One after another (each replaces unsaved changes: the question is answered "discard")."""
    given, _asked, button = answers
    given += [button.Discard] * len(PRESETS)
    panel = make_panel()
    presets = panel.findChild(QComboBox, "presetCombo")
    assert presets.count() == len(PRESETS) + 1  # and "Custom"
    for name in PRESETS:
        index = presets.findData(name)
        presets.setCurrentIndex(index)
        with qtbot.waitSignal(panel.spec_changed) as signal:
            presets.activated.emit(index)
        expected = preset_spec(name).to_dict()
        assert signal.args[0] == expected and panel.spec() == expected
        for slot in ("text_encoder", "image_encoder", "fusion", "head"):
            assert panel.section(slot).current() == expected[slot]["name"]
    settle(qtbot, panel)
    assert panel.issues() == []
    assert [presets.itemData(presets.currentIndex())] == [list(PRESETS)[-1]]


def test_the_default_spec_follows_the_dataset(qtbot, make_panel, demo_dataset):
    panel = make_panel()
    assert panel.spec() == default_spec("classification").to_dict()
    assert "No dataset loaded" in panel.findChild(type(panel._context_label), "contextLabel").text()
    panel._state.set_dataset(demo_dataset)
    settle(qtbot, panel)
    assert panel.spec() == default_spec("classification").to_dict() and not panel.is_dirty()
    assert f"{len(demo_dataset.items):,} pairs" in panel._context_label.text()
    assert "6 classes" in panel.diagram.diagram().output


def test_a_form_edit_changes_the_spec_the_diagram_and_the_state(qtbot, make_panel):
    state = StudioState()
    panel = make_panel(state=state)
    before = panel.diagram.block_text("text_encoder")
    assert "→ [B, 192]" in before  # textcnn: 64 filters × 3 widths
    form = panel.section("text_encoder").form
    with qtbot.waitSignal(panel.spec_changed) as signal:
        form.editor("filters").setValue(32)
    assert signal.args[0]["text_encoder"]["filters"] == 32 == panel.spec()["text_encoder"]["filters"]
    settle(qtbot, panel)
    after = panel.diagram.block_text("text_encoder")
    assert "→ [B, 96]" in after and after != before
    assert "→ [B, 224]" in panel.diagram.block_text("fusion")  # 96 + 128
    assert state.model_spec == panel.spec()  # a valid change reaches the other pages


def test_rapid_edits_end_on_the_last_one(qtbot, make_panel):
    panel = make_panel()
    editor = panel.section("text_encoder").form.editor("filters")
    for filters in (40, 48, 16, 20):
        editor.setValue(filters)
    settle(qtbot, panel)
    assert "→ [B, 60]" in panel.diagram.block_text("text_encoder")
    assert panel.summary()["blocks"][0]["output_shape"][1] == 60


def test_a_stale_summary_is_never_drawn(qtbot, make_panel, monkeypatch):
    import mmstudio.ui.model.controller as controller

    slow = threading.Event()

    def slow_summary(*args):
        slow.wait(5)  # the first summary is still running when the next edit comes
        return summarize_spec(*args)

    summarize_spec = controller.summarize_spec
    panel = make_panel()
    monkeypatch.setattr(controller, "summarize_spec", slow_summary)
    drawn: list[str] = []
    draw = panel.diagram.set_diagram
    panel.diagram.set_diagram = lambda data: (drawn.append(data.blocks["text_encoder"].text()), draw(data))
    editor = panel.section("text_encoder").form.editor("filters")
    editor.setValue(40)
    tasks = panel._preflight
    qtbot.waitUntil(lambda: tasks._summary_task is not None and not tasks._summary_task.done)
    editor.setValue(20)
    qtbot.waitUntil(lambda: not tasks._summary_timer.isActive())
    slow.set()
    settle(qtbot, panel)
    assert drawn and all("→ [B, 60]" in text for text in drawn), drawn


def test_choosing_an_entry_shows_its_form_and_keeps_shared_values(qtbot, make_panel):
    panel = make_panel()
    panel.section("text_encoder").form.editor("embed_dim").setValue(96)
    choose(panel, "text_encoder", "transformer")
    form = panel.section("text_encoder").form
    assert [p.name for p in form.params()] == ["width", "layers", "heads", "ff", "dropout", "pooling"]
    assert panel.spec()["text_encoder"] == TEXT_ENCODERS.get("transformer").defaults() | {
        "name": "transformer"
    }
    choose(panel, "text_encoder", "bag")  # bag shares embed_dim with textcnn, not with transformer
    assert panel.spec()["text_encoder"]["embed_dim"] == 128
    settle(qtbot, panel)
    assert "bag" in panel.diagram.block_text("text_encoder")


def test_related_choices_follow_an_edit(qtbot, make_panel):
    panel = make_panel()
    choose(panel, "image_encoder", "none")
    assert panel.spec()["fusion"]["name"] == "none"  # nothing left to fuse
    settle(qtbot, panel)
    assert panel.diagram.block_keys() == ["text_input", "text_encoder", "head"]
    choose(panel, "image_encoder", "small_cnn")
    assert panel.spec()["fusion"]["name"] == "concat"
    task = panel.findChild(QComboBox, "taskCombo")
    index = task.findData("contrastive")
    task.setCurrentIndex(index)
    task.activated.emit(index)
    spec = panel.spec()
    assert (spec["task"], spec["fusion"]["name"], spec["head"]["name"]) == (
        "contrastive",
        "none",
        "projection",
    )
    assert not panel.section("head").is_entry_enabled("mlp")
    presets = panel.findChild(QComboBox, "presetCombo")
    late = presets.model().item(presets.findData("late_fusion"))
    assert not late.isEnabled() and late.toolTip().startswith("Not for contrastive: ")
    settle(qtbot, panel)
    assert panel.issues() == []


def test_what_the_user_chose_stays_and_is_explained(qtbot, make_panel):
    """An edit is followed by what it implies (catalog.harmonize), never undone: a fusion chosen for
    contrastive retrieval stays, with the reason it cannot work beside it."""
    panel = make_panel()
    task = panel.findChild(QComboBox, "taskCombo")
    index = task.findData("contrastive")
    task.setCurrentIndex(index)
    task.activated.emit(index)
    choose(panel, "fusion", "gated")
    assert panel.spec()["fusion"]["name"] == "gated"
    settle(qtbot, panel)
    assert any("takes no fusion: set fusion to none" in m for m in visible_messages(panel, "fusion"))


# --- issues ----------------------------------------------------------------------------------------


def test_an_invalid_choice_shows_its_message_inline(qtbot, make_panel):
    panel = make_panel()
    panel.apply_preset("cross_attention")
    panel.section("fusion").form.editor("heads").setValue(3)
    settle(qtbot, panel)
    assert visible_messages(panel, "fusion") == ["cross_attention: dim 128 must be divisible by heads 3"]
    assert panel.section("fusion").issues.isVisibleTo(panel)
    assert panel.diagram.diagram().blocks["fusion"].level == "error"
    check = panel.findChild(QPushButton, "checkButton")
    assert not check.isEnabled()
    assert panel.diagram.footer_text().startswith("1 error to fix")
    panel.section("fusion").form.editor("heads").setValue(4)
    settle(qtbot, panel)
    assert visible_messages(panel, "fusion") == [] and not panel.section("fusion").issues.isVisibleTo(panel)


def test_images_too_small_for_the_encoder_are_explained(qtbot, make_panel):
    panel = make_panel()
    panel.set_train_spec(TrainSpec(image_size=16))
    settle(qtbot, panel)
    assert visible_messages(panel, "image_encoder") == []  # 16 px is just enough for 3 blocks
    panel.section("image_encoder").form.editor("blocks").setValue(4)
    settle(qtbot, panel)
    messages = visible_messages(panel, "image_encoder")
    assert len(messages) == 1 and "images of 16 px are too small for 4 blocks" in messages[0]
    assert "16 px images" in panel._context_label.text()


def test_an_image_encoder_without_images_in_the_dataset_is_explained(qtbot, make_panel, demo_dataset):
    source = dataclasses.replace(demo_dataset.source, columns=ColumnRoles(text="caption", label="label"))
    no_images = dataclasses.replace(demo_dataset, source=source)
    panel = make_panel(dataset=no_images)
    assert panel.spec()["image_encoder"]["name"] == "none"  # the default follows the data
    choose(panel, "image_encoder", "small_cnn")
    settle(qtbot, panel)
    messages = visible_messages(panel, "image_encoder")
    assert messages and messages[0].startswith("the dataset has no images, so the small_cnn encoder")


def test_a_spec_file_with_unknown_names_is_explained_not_refused(qtbot, make_panel, tmp_path):
    panel = make_panel()
    spec = preset_spec("early_concat").to_dict()
    spec["fusion"] = {"name": "telepathy"}
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    panel.load_spec_file(path)
    settle(qtbot, panel)
    assert panel.section("fusion").current() == "telepathy"
    assert any("unknown fusion 'telepathy'" in m for m in visible_messages(panel, "fusion"))


# --- registries --------------------------------------------------------------------------------------


class MaxWords(nn.Module):
    """A tiny real text encoder: embeddings max-pooled."""

    def __init__(self, vocab_size: int, width: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, width, padding_idx=0)
        self.out_dim = width

    def forward(self, tokens, lengths):
        x = self.embedding(tokens)
        mask = padding_mask(lengths, tokens.shape[1])
        return EncoderOutput(masked_max(x, mask), x, mask)


@pytest.fixture
def registered():
    """Two text encoders registered for one test: a usable one and an unavailable one."""
    params = [
        Param("width", "int", 24, 4, 512, help="features per token"),
        Param("scale", "float", 1e-4, 1e-6, 1.0, help="unused: a log-scale value"),
        Param("mode", "choice", "fast", choices=("fast", "slow"), help="unused: a choice"),
    ]

    def test_max_words(*, ctx, width, scale, mode):
        return MaxWords(ctx.vocab_size, width)

    TEXT_ENCODERS.register("test_max_words", help="Test: embeddings max-pooled", params=params)(
        test_max_words
    )
    TEXT_ENCODERS.register(
        "test_missing", help="Test: weights not installed", available=lambda p: (False, "no weights here")
    )(test_max_words)
    yield
    for name in ("test_max_words", "test_missing"):
        TEXT_ENCODERS._entries.pop(name, None)


def test_a_newly_registered_module_appears_with_its_form(qtbot, make_panel, registered):
    panel = make_panel()
    section = panel.section("text_encoder")
    assert "test_max_words" in section.names()
    assert section.is_entry_enabled("test_max_words")
    assert not section.is_entry_enabled("test_missing")
    missing = section.combo.model().item(section.names().index("test_missing"))
    assert missing.toolTip() == "Not available: no weights here"
    choose(panel, "text_encoder", "test_max_words")
    assert section.help.text() == "Test: embeddings max-pooled"
    assert [p.name for p in section.form.params()] == ["width", "scale", "mode"]
    assert panel.spec()["text_encoder"] == {
        "name": "test_max_words",
        "width": 24,
        "scale": 1e-4,
        "mode": "fast",
    }
    settle(qtbot, panel)
    assert "→ [B, 24]" in panel.diagram.block_text("text_encoder")
    section.form.editor("width").setValue(40)
    settle(qtbot, panel)
    assert "→ [B, 40]" in panel.diagram.block_text("text_encoder")
    assert panel.summary()["blocks"][0]["params"] == 10_000 * 40  # the embedding: vocabulary × width


# --- files and the dirty flag ------------------------------------------------------------------------


def test_save_and_load_round_trip_and_the_dirty_flag(qtbot, make_panel, tmp_path):
    panel = make_panel()
    assert not panel.is_dirty()
    with qtbot.waitSignal(panel.dirty_changed) as signal:
        panel.apply_preset("bilinear")
    assert signal.args == [True] and panel.is_dirty()
    dirty_label = panel.findChild(QLabel, "dirtyLabel")
    assert dirty_label.isVisibleTo(panel)
    path = tmp_path / "bilinear.json"
    with qtbot.waitSignal(panel.dirty_changed) as signal:
        panel.save_spec_file(path)
    assert signal.args == [False] and not panel.is_dirty() and not dirty_label.isVisibleTo(panel)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved == preset_spec("bilinear").to_dict() == ModelSpec.from_dict(saved).to_dict()
    assert panel.findChild(QLabel, "specFileLabel").text() == "bilinear.json"

    panel.section("fusion").form.editor("rank").setValue(8)
    assert panel.is_dirty()
    with qtbot.waitSignal(panel.dirty_changed) as signal:
        panel.load_spec_file(path)
    assert signal.args == [False] and panel.spec() == saved
    assert panel.section("fusion").form.values()["rank"] == 4
    assert panel._settings.last_spec_dir == str(tmp_path)


@pytest.mark.parametrize(
    ("content", "error", "words"),
    [
        ("{not json", ValueError, "not valid JSON"),
        ("[1, 2]", ValueError, "holds a JSON list"),
        ('{"text_encoder": "bag"}', SpecError, "needs a task"),
    ],
)
def test_a_bad_spec_file_is_refused_with_a_clear_message(make_panel, tmp_path, content, error, words):
    panel = make_panel()
    before = panel.spec()
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=words):
        panel.load_spec_file(path)
    assert words in panel._message.label.text() and panel._message.isVisibleTo(panel)
    assert panel.spec() == before
    with pytest.raises(OSError, match="Could not read"):
        panel.load_spec_file(tmp_path / "missing.json")


# --- check on a batch ----------------------------------------------------------------------------------


def test_check_on_a_batch_reports_the_output_and_the_loss(qtbot, make_panel, demo_dataset):
    panel = make_panel()
    check = panel.findChild(QPushButton, "checkButton")
    assert not check.isEnabled() and "Open a dataset" in check.toolTip()
    panel._state.set_dataset(demo_dataset)
    settle(qtbot, panel)
    assert check.isEnabled()
    panel.set_train_spec(TrainSpec(batch_size=16, image_size=32))
    settle(qtbot, panel)
    with qtbot.waitSignal(panel.batch_checked, timeout=TIMEOUT_MS) as signal:
        qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    result = signal.args[0]
    assert "error" not in result, result
    assert result["batch_size"] == 16 and result["outputs"]["logits"] == [16, 6]
    assert result["finite"] and 0 < result["loss"] < 10
    message = panel.findChild(MessageBar, "checkMessage").label.text()
    assert "logits [B, 6]" in message and f"loss {result['loss']:.4g}" in message
    settle(qtbot, panel)
    assert check.text() == "Check on a batch" and check.isEnabled()


def test_check_on_a_batch_reports_a_failure(qtbot, make_panel, demo_dataset, registered):
    panel = make_panel(dataset=demo_dataset)
    panel.set_spec({**preset_spec("text_only").to_dict(), "text_encoder": {"name": "test_max_words"}})
    settle(qtbot, panel)
    TEXT_ENCODERS._entries.pop("test_max_words")  # gone before the check builds it
    with qtbot.waitSignal(panel.batch_checked, timeout=TIMEOUT_MS) as signal:
        panel.check_on_batch()
    assert "unknown text encoder 'test_max_words'" in signal.args[0]["error"]
    assert "The check failed" in panel.findChild(MessageBar, "checkMessage").label.text()


def test_the_state_spec_set_elsewhere_is_shown(qtbot, make_panel):
    state = StudioState()
    panel = make_panel(state=state)
    state.set_model_spec(preset_spec("gated").to_dict())
    assert panel.spec() == preset_spec("gated").to_dict()
    settle(qtbot, panel)


# --- the spec as a document: unsaved edits, undo and redo, untitled specs (issue 12, #2) -------------


@pytest.fixture
def answers(monkeypatch):
    """The answers to the unsaved-changes question, taken in order; the questions asked are kept."""
    from PySide6.QtWidgets import QMessageBox

    given: list = []
    asked: list[str] = []

    def question(_parent, _title, text, *_args, **_kwargs):
        asked.append(text)
        return given.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    return given, asked, QMessageBox.StandardButton


def test_a_runs_model_asks_before_it_replaces_unsaved_edits_and_is_untitled(
    qtbot, make_panel, tmp_path, answers
):
    """Open in builder over unsaved edits asks first (cancel keeps them); the run's model is then
    untitled, so Save asks where and never writes over the file that was open before."""
    given, asked, button = answers
    state = StudioState()
    panel = make_panel(state=state)
    mine = tmp_path / "mine.json"
    panel.apply_preset("gated")
    panel.save_spec_file(mine)
    panel.section("fusion").form.editor("dim").setValue(64)
    assert panel.is_dirty()
    edited = panel.spec()

    given.append(button.Cancel)
    state.model_spec_requested.emit(preset_spec("late_fusion").to_dict(), "run 7 (baseline)")
    assert len(asked) == 1 and "mine.json" in asked[0] and "open the model of run 7 (baseline)" in asked[0]
    assert panel.spec() == edited and panel.is_dirty()  # nothing lost

    given.append(button.Discard)
    state.model_spec_requested.emit(preset_spec("late_fusion").to_dict(), "run 7 (baseline)")
    assert panel.spec() == preset_spec("late_fusion").to_dict() and not panel.is_dirty()
    assert panel.document_name() == "Untitled model (from run 7 (baseline))"
    assert panel.findChild(QLabel, "specFileLabel").text() == "Untitled model (from run 7 (baseline))"

    before = mine.read_text(encoding="utf-8")
    saved_to = tmp_path / "from-run.json"
    from PySide6.QtWidgets import QFileDialog

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(saved_to), ""))
        assert panel.save()
    assert mine.read_text(encoding="utf-8") == before  # the file open before is untouched
    assert json.loads(saved_to.read_text(encoding="utf-8")) == preset_spec("late_fusion").to_dict()
    assert panel.document_name() == "from-run.json"


def test_presets_files_and_new_ask_before_they_replace_unsaved_edits(qtbot, make_panel, tmp_path, answers):
    given, asked, button = answers
    panel = make_panel()
    other = tmp_path / "other.json"
    other.write_text(json.dumps(preset_spec("bilinear").to_dict()), encoding="utf-8")
    panel.section("fusion").form.editor("dim").setValue(96) if "dim" in panel.section(
        "fusion"
    ).form.values() else None
    choose(panel, "fusion", "gated")
    assert panel.is_dirty()
    edited = panel.spec()

    given += [button.Cancel, button.Cancel, button.Cancel]
    combo = panel.findChild(QComboBox, "presetCombo")
    combo.activated.emit(combo.findData("late_fusion"))
    assert not panel.open_file(other)
    assert not panel.new_spec()
    assert len(asked) == 3 and panel.spec() == edited
    assert "late fusion" in asked[0].lower() and "open another" in asked[1] and "new model spec" in asked[2]

    given.append(button.Discard)
    assert panel.open_file(other) and panel.spec() == preset_spec("bilinear").to_dict()
    assert panel.document_name() == "other.json" and not panel.is_dirty()
    assert panel.new_spec()  # nothing unsaved: nothing asked
    assert len(asked) == 4 and panel.document_name() == "Untitled model"


def test_undo_and_redo_walk_the_history_and_a_fields_edits_are_one_step(qtbot, make_panel):
    panel = make_panel()
    first = panel.spec()
    choose(panel, "fusion", "gated")
    gated = panel.spec()
    editor = panel.section("fusion").form.editor("dim")
    for value in (64, 65, 66):  # typing in one field: one step
        editor.setValue(value)
    typed = panel.spec()
    assert typed["fusion"]["dim"] == 66
    undo, redo = panel._document.undo_action, panel._document.redo_action
    assert undo.shortcut().toString() == "Ctrl+Z" and "Ctrl+Shift+Z" in [
        s.toString() for s in redo.shortcuts()
    ]

    undo.trigger()
    assert panel.spec() == gated
    undo.trigger()
    assert panel.spec() == first and not panel.is_dirty() and not undo.isEnabled()
    redo.trigger()
    redo.trigger()
    assert panel.spec() == typed and panel.section("fusion").form.values()["dim"] == 66
    undo.trigger()
    assert panel.spec() == gated
    redo.trigger()
    assert panel.spec() == typed
    settle(qtbot, panel)
