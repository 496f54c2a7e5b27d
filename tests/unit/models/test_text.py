"""Text encoder specifics: the pretrained sentence encoder's availability, TextCNN kernels (the hf
encoders, which minilm now builds, are tested in test_pretrained.py)."""

from __future__ import annotations

import pytest
import torch

from mmstudio.models import TEXT_ENCODERS, ModelSpec, describe_registries
from mmstudio.models.text import SENTENCE_MODEL_ENV, parse_int_list


def test_minilm_is_listed_but_unavailable_with_its_reason(monkeypatch, tiny_ctx):
    monkeypatch.delenv(SENTENCE_MODEL_ENV, raising=False)
    entry = TEXT_ENCODERS.get("minilm")
    ok, reason = entry.available()
    assert not ok
    assert SENTENCE_MODEL_ENV in reason and "no local model folder" in reason
    described = next(e for e in describe_registries()["text_encoders"] if e["name"] == "minilm")
    assert described["available"] is False and described["reason"] == reason
    assert "minilm" not in TEXT_ENCODERS.names(available_only=True)

    errors = ModelSpec.from_dict({"task": "classification", "text_encoder": "minilm"}).errors(tiny_ctx)
    assert len(errors) == 1 and errors[0].message.startswith("minilm is not available here: ")


def test_minilm_names_a_folder_that_is_not_a_model(monkeypatch, tmp_path):
    monkeypatch.setenv(SENTENCE_MODEL_ENV, str(tmp_path))
    ok, reason = TEXT_ENCODERS.get("minilm").available()
    assert not ok and f"{tmp_path} holds no config.json" in reason
    ok, reason = TEXT_ENCODERS.get("minilm").available({"path": str(tmp_path / "missing")})
    assert not ok and str(tmp_path / "missing") in reason


def test_parse_int_list():
    assert parse_int_list(" 2, 3 ,5") == [2, 3, 5]
    with pytest.raises(ValueError, match="comma-separated"):
        parse_int_list("3;4")
    with pytest.raises(ValueError, match="comma-separated"):
        parse_int_list(" , ")


def test_textcnn_handles_texts_shorter_than_its_widest_kernel(tiny_ctx):
    encoder = TEXT_ENCODERS.build("textcnn", ctx=tiny_ctx, kernel_sizes="2,5", filters=4)
    out = encoder(torch.tensor([[3, 0, 0], [4, 5, 6]]), torch.tensor([1, 3]))
    assert out.pooled.shape == (2, 8) and out.tokens.shape == (2, 3, 8)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_recurrent_output_size(cell, bidirectional, tiny_ctx):
    encoder = TEXT_ENCODERS.build(cell, ctx=tiny_ctx, hidden=6, layers=2, bidirectional=bidirectional)
    out = encoder(torch.tensor([[3, 4, 0], [5, 6, 7]]), torch.tensor([2, 3]))
    width = 12 if bidirectional else 6
    assert encoder.out_dim == width and out.pooled.shape == (2, width) and out.tokens.shape == (2, 3, width)


def test_transformer_refuses_texts_longer_than_its_positions(tiny_ctx):
    encoder = TEXT_ENCODERS.build("transformer", ctx=tiny_ctx, width=16, heads=2, ff=16)
    too_long = torch.ones(1, tiny_ctx.max_len + 1, dtype=torch.long)
    with pytest.raises(ValueError, match="longer than this encoder's max_len 7"):
        encoder(too_long, torch.tensor([3]))
