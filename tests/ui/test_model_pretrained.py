"""The Model page's pretrained encoders: suggested models, whether the chosen one is here, Download with
a progress bar and Cancel, and what the diagram says is frozen. No test reaches a hub: ``HF_ENDPOINT``
points at :mod:`tests.fakehub`, ``HF_HOME`` at a temporary folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import QLabel

from mmstudio.models import ModelSpec
from mmstudio.ui.model.panel import ModelPanel
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState

TIMEOUT_MS = 60_000
REPO = "tiny-org/tiny-bert"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _load_fakehub():
    path = Path(__file__).resolve().parents[1] / "fakehub.py"
    spec = importlib.util.spec_from_file_location("mmstudio_tests_fakehub", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fakehub = _load_fakehub()


@pytest.fixture
def hub(tiny_bert_dir, tmp_path, monkeypatch):
    """The fake hub serving the tiny BERT, with HF_HOME in tmp_path."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with fakehub.FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        server.add_repo(REPO, tiny_bert_dir)
        yield server


@pytest.fixture
def make_panel(qtbot, tmp_path):
    def make() -> ModelPanel:
        panel = ModelPanel(StudioState(), Settings(tmp_path / "settings.ini"))
        qtbot.addWidget(panel)
        panel.resize(1280, 800)
        panel.prepare()
        settle(qtbot, panel)
        return panel

    yield make
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


def settle(qtbot, panel: ModelPanel) -> None:
    qtbot.waitUntil(lambda: panel.is_ready() and not panel.is_busy(), timeout=TIMEOUT_MS)


def text_spec(model: str, finetune: str = "frozen") -> dict:
    spec = {
        "task": "classification",
        "text_encoder": {"name": "hf", "model": model, "finetune": finetune},
        "image_encoder": {"name": "none"},
        "fusion": {"name": "none"},
        "head": {"name": "mlp"},
    }
    return ModelSpec.from_dict(spec).to_dict()


def show_model(qtbot, panel: ModelPanel, model: str, finetune: str = "frozen") -> None:
    panel.set_spec(text_spec(model, finetune))
    settle(qtbot, panel)


def widget(panel: ModelPanel):
    return panel.section("text_encoder").pretrained


def test_choosing_hf_offers_the_suggested_models_with_their_size_and_licence(qtbot, make_panel, hub):
    panel = make_panel()
    combo = panel.section("text_encoder").combo
    index = combo.findData("hf", Qt.ItemDataRole.UserRole)
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    settle(qtbot, panel)
    pretrained = widget(panel)
    assert not pretrained.isHidden() and not pretrained.combo.isHidden()
    assert MINILM in pretrained.choices()
    assert "google/vit-base-patch16-224-in21k" not in pretrained.choices()  # an image model
    label = pretrained.choice_label(MINILM)
    assert "about 91 MB" in label and "Apache-2.0" in label and "parameters" in label
    assert pretrained.status.text().startswith("Name a model")
    assert not pretrained.button.isEnabled()
    # Picking a suggestion fills the model field (an undoable edit) and looks the model up.
    pretrained.combo.activated.emit(pretrained.combo.findData(MINILM, Qt.ItemDataRole.UserRole))
    settle(qtbot, panel)
    assert panel.spec()["text_encoder"]["model"] == MINILM
    assert panel.section("text_encoder").form.editor("model").text() == MINILM


def test_a_model_not_here_shows_its_download_size_and_an_enabled_download(qtbot, make_panel, hub):
    panel = make_panel()
    show_model(qtbot, panel, MINILM)
    qtbot.waitUntil(lambda: widget(panel).state() == "missing", timeout=TIMEOUT_MS)
    pretrained = widget(panel)
    assert pretrained.status.text() == "not on this machine: about 91 MB to download (Apache-2.0)"
    assert not pretrained.button.isHidden() and pretrained.button.isEnabled()
    assert pretrained.button.text() == "Download"
    assert pretrained.progress.isHidden()


def test_a_local_folder_says_so_and_offers_no_download(qtbot, make_panel, tiny_bert_dir):
    panel = make_panel()
    show_model(qtbot, panel, str(tiny_bert_dir))
    qtbot.waitUntil(lambda: widget(panel).state() == "local", timeout=TIMEOUT_MS)
    assert widget(panel).status.text().startswith("local folder (weights sha256:")
    assert widget(panel).button.isHidden()


def test_download_shows_progress_then_cached_and_the_model_validates(qtbot, make_panel, hub):
    panel = make_panel()
    show_model(qtbot, panel, REPO)
    qtbot.waitUntil(lambda: widget(panel).state() == "missing", timeout=TIMEOUT_MS)
    assert any(i["component"] == "text_encoder" and i["level"] == "error" for i in panel.issues())
    progress: list[tuple[float, str]] = []
    panel._pretrained.download_progressed.connect(lambda _slot, f, m: progress.append((f, m)))
    with qtbot.waitSignal(panel._pretrained.download_finished, timeout=TIMEOUT_MS) as finished:
        qtbot.mouseClick(widget(panel).button, Qt.MouseButton.LeftButton)
        assert widget(panel).is_downloading() and widget(panel).button.text() == "Cancel"
    assert finished.args == ["text_encoder", True, ""]
    assert any(" of " in message for _f, message in progress)  # "12.3 kB of 90.9 kB"
    assert progress[-1][0] == pytest.approx(1.0)
    qtbot.waitUntil(lambda: widget(panel).state() == "cached", timeout=TIMEOUT_MS)
    settle(qtbot, panel)
    assert widget(panel).status.text().startswith("cached (revision ")
    assert widget(panel).button.isHidden() and widget(panel).progress.isHidden()
    assert not [i for i in panel.issues() if i["level"] == "error"]  # the diagram validated again
    assert panel.summary() is not None


def test_cancel_stops_the_download(qtbot, make_panel, hub):
    hub.add_repo(REPO, None, {**hub.repos[REPO]["files"], "padding.safetensors": bytes(2 << 20)})
    hub.rate = 256 << 10  # 256 KiB/s: the 2 MiB file takes 8 seconds
    panel = make_panel()
    show_model(qtbot, panel, REPO)
    qtbot.waitUntil(lambda: widget(panel).state() == "missing", timeout=TIMEOUT_MS)
    qtbot.mouseClick(widget(panel).button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: " of " in widget(panel).progress_text.text(), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(panel._pretrained.download_finished, timeout=TIMEOUT_MS) as finished:
        qtbot.mouseClick(widget(panel).button, Qt.MouseButton.LeftButton)  # Cancel
    assert finished.args == ["text_encoder", False, "cancelled"]
    assert not widget(panel).is_downloading()
    qtbot.waitUntil(lambda: widget(panel).state() == "missing", timeout=TIMEOUT_MS)
    assert widget(panel).button.text() == "Download" and widget(panel).button.isEnabled()


def test_a_failed_download_is_one_sentence_in_the_message_bar(qtbot, make_panel, hub):
    panel = make_panel()
    show_model(qtbot, panel, "tiny-org/absent")
    qtbot.waitUntil(lambda: widget(panel).state() == "missing", timeout=TIMEOUT_MS)
    with qtbot.waitSignal(panel._pretrained.download_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(widget(panel).button, Qt.MouseButton.LeftButton)
    text = panel._message.label.text()
    assert text.startswith("Could not download tiny-org/absent: there is no model tiny-org/absent")
    assert "\n" not in text and "Traceback" not in text


def test_a_frozen_encoder_says_frozen_and_trains_nothing(qtbot, make_panel, tiny_bert_dir):
    panel = make_panel()
    show_model(qtbot, panel, str(tiny_bert_dir), "frozen")
    summary = panel.summary()
    encoder = next(b for b in summary["blocks"] if b["name"] == "text_encoder")
    assert encoder["params"] > 0 and encoder["trainable_params"] == 0
    assert summary["trainable_params"] == summary["total_params"] - encoder["params"]
    frozen_memory = summary["memory"]
    text = panel.diagram.block_text("text_encoder").splitlines()
    assert "frozen" in text
    assert any(line.endswith("(0 trainable)") for line in text)
    show_model(qtbot, panel, str(tiny_bert_dir), "top:1")
    summary = panel.summary()
    encoder = next(b for b in summary["blocks"] if b["name"] == "text_encoder")
    assert 0 < encoder["trainable_params"] < encoder["params"]
    assert "the top block trains, the rest frozen" in panel.diagram.block_text("text_encoder")
    # Frozen parameters need no gradients, no optimizer state, and keep no activations.
    assert summary["memory"]["grads"] > frozen_memory["grads"]
    assert summary["memory"]["activations"] > frozen_memory["activations"]


def test_a_torchvision_encoder_with_pretrained_weights_says_whether_they_are_here(
    qtbot, make_panel, tmp_path, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    panel = make_panel()
    image = panel.section("image_encoder").pretrained
    spec = {**panel.spec(), "image_encoder": {"name": "resnet18", "pretrained": False}}
    panel.set_spec(spec)
    settle(qtbot, panel)
    assert image.isHidden()  # from scratch: nothing to fetch
    panel.set_spec({**spec, "image_encoder": {"name": "resnet18", "pretrained": True}})
    qtbot.waitUntil(lambda: image.state() == "missing", timeout=TIMEOUT_MS)
    assert not image.isHidden() and image.combo.isHidden()  # the encoder is the model: no list
    assert (
        image.status.text() == "ImageNet weights not on this machine: about 47 MB to download (BSD-3-Clause)"
    )
    assert not image.button.isHidden() and image.button.isEnabled()
    assert panel.pretrained_ref("image_encoder") == "torchvision:resnet18"


def test_a_model_not_here_is_explained_with_the_pages_download_button(qtbot, make_panel, hub, tmp_path):
    """The validation message under the encoder names the Download button above it, not the command
    line's `mmstudio models pull` (which `train --check` and the CLI still name)."""
    panel = make_panel()
    show_model(qtbot, panel, MINILM)
    qtbot.waitUntil(lambda: widget(panel).state() == "missing", timeout=TIMEOUT_MS)
    [issue] = [i for i in panel.issues() if i["component"] == "text_encoder" and i["level"] == "error"]
    assert (
        f"model {MINILM} is not on this machine: download it with the Download button above"
        in issue["message"]
    )
    assert "mmstudio models pull" not in issue["message"]
    shown = panel.section("text_encoder").issues
    assert any("Download button above" in label.text() for label in shown.findChildren(QLabel))
    panel.grab().save(str(tmp_path / "model-not-here.png"))

    # a torchvision encoder's ImageNet weights, too
    spec = {
        **panel.spec(),
        "image_encoder": {"name": "resnet18", "pretrained": True},
        "fusion": {"name": "concat"},
    }
    panel.set_spec(spec)
    settle(qtbot, panel)
    [image_issue] = [i for i in panel.issues() if i["component"] == "image_encoder" and i["level"] == "error"]
    assert "download them with the Download button above" in image_issue["message"]
    assert "mmstudio models pull" not in image_issue["message"]


def test_the_command_line_still_names_the_pull():
    from mmstudio.models.fetch import ModelNotCached
    from mmstudio.models.suggested import page_message

    message = str(ModelNotCached(MINILM))
    assert f"'mmstudio models pull {MINILM}'" in message
    assert page_message(message) == (
        f"model {MINILM} is not on this machine: download it with the Download button above, or on a machine "
        "with no network copy its folder here and run 'mmstudio models import FOLDER'"
    )
