"""The catalogue of suggested pretrained models and what the Model page says of a model's status."""

from __future__ import annotations

import pytest

from mmstudio.models import suggested
from mmstudio.models.suggested import SUGGESTED, TORCHVISION, DownloadMeter, about_bytes, model_status
from mmstudio.progress import TaskState


def test_the_catalogue_has_text_and_image_models_with_their_facts():
    assert len(SUGGESTED) >= 10 and len({m.id for m in SUGGESTED}) == len(SUGGESTED)
    assert {m.kind for m in SUGGESTED} == {"text", "image"}
    for model in (*SUGGESTED, *TORCHVISION):
        assert model.params > 0 and model.download_bytes > 0 and model.licence and model.note
    assert "sentence-transformers/all-MiniLM-L6-v2" in [m.id for m in suggested.suggestions("text")]
    assert "facebook/dinov2-small" in [m.id for m in suggested.suggestions("image")]
    assert suggested.suggestion("hf:facebook/dinov2-small@main").kind == "image"
    assert suggested.suggestion("torchvision:resnet18").licence == "BSD-3-Clause"


def test_sizes_are_approximate():
    assert about_bytes(91_000_000) == "about 91 MB"
    assert about_bytes(813_000_000) == "about 810 MB"
    assert about_bytes(1_500_000_000) == "about 1.5 GB"
    assert about_bytes(9_800_000) == "about 9.8 MB"
    assert suggested.millions(22_700_000) == "22.7 M" and suggested.millions(118_000_000) == "118 M"
    assert suggested.millions(66_000_000) == "66 M"


def test_what_a_component_fetches():
    assert suggested.pretrained_ref("text_encoder", {"name": "hf", "model": " org/m "}) == "org/m"
    assert suggested.pretrained_ref("text_encoder", {"name": "textcnn"}) is None
    image = {"name": "resnet18", "pretrained": True, "weights_path": ""}
    assert suggested.pretrained_ref("image_encoder", image) == "torchvision:resnet18"
    assert suggested.pretrained_ref("image_encoder", {**image, "pretrained": False}) is None
    assert suggested.pretrained_ref("image_encoder", {**image, "weights_path": "/w.pth"}) is None


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


def test_status_of_a_missing_a_local_and_no_model(empty_cache, tiny_bert_dir, monkeypatch):
    assert model_status("").state == "empty"
    missing = model_status("sentence-transformers/all-MiniLM-L6-v2")
    assert missing.state == "missing" and missing.can_download
    assert missing.text == "not on this machine: about 91 MB to download (Apache-2.0)"
    unknown = model_status("some-org/some-model")
    assert unknown.can_download and "its size shows when it starts" in unknown.text
    local = model_status(str(tiny_bert_dir))
    assert local.state == "local" and local.here and local.text.startswith("local folder (weights sha256:")
    assert model_status("/no/such/folder").state == "error"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = model_status("sentence-transformers/all-MiniLM-L6-v2")
    assert offline.state == "missing" and not offline.can_download and "HF_HUB_OFFLINE" in offline.text


def test_the_download_meter_says_bytes_and_speed():
    sent = []
    state = TaskState(lambda fraction, message: sent.append((fraction, message)))
    clock = iter([100.0, 102.0])
    meter = DownloadMeter(state, clock=lambda: next(clock))
    meter(0, 90_900_000)
    state._last = 0.0  # past the progress throttle
    meter(8_000_000, 90_900_000)
    assert sent[-1] == (pytest.approx(8 / 90.9), "8.0 MB of 90.9 MB · 4.0 MB/s")
