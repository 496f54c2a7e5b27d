"""Text encoder specifics: the pretrained sentence encoder's availability, TextCNN kernels."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch

from mmstudio.models import TEXT_ENCODERS, ModelContext, ModelSpec, build_model, describe_registries
from mmstudio.models.text import SENTENCE_MODEL_ENV, parse_int_list

HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None


@pytest.mark.skipif(HAS_TRANSFORMERS, reason="transformers is installed here")
def test_minilm_is_listed_but_unavailable_with_its_reason(monkeypatch, tiny_ctx):
    monkeypatch.delenv(SENTENCE_MODEL_ENV, raising=False)
    entry = TEXT_ENCODERS.get("minilm")
    ok, reason = entry.available()
    assert not ok
    assert "transformers package is not installed" in reason
    assert SENTENCE_MODEL_ENV in reason and "never downloads" in reason
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
    assert not ok and "does not exist" in reason


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


class _FakeHFModel(torch.nn.Module):
    """Stands in for a transformers model: what PretrainedSentenceEncoder uses of one."""

    def __init__(self, hidden: int = 6, vocab: int = 50) -> None:
        super().__init__()
        self.config = types.SimpleNamespace(hidden_size=hidden)
        self.embeddings = torch.nn.Embedding(vocab, hidden)
        self.seen_masks: list[torch.Tensor] = []

    def forward(self, input_ids, attention_mask):
        self.seen_masks.append(attention_mask)
        return types.SimpleNamespace(last_hidden_state=self.embeddings(input_ids))


@pytest.fixture
def fake_transformers(monkeypatch, tmp_path):
    """A local model folder and an importable stand-in for ``transformers`` (never the network)."""
    folder = tmp_path / "all-MiniLM-L6-v2"
    folder.mkdir()
    (folder / "config.json").write_text('{"vocab_size": 50, "max_position_embeddings": 16}')
    module = types.ModuleType("transformers")
    module.__spec__ = importlib.machinery.ModuleSpec("transformers", None)
    loaded = []

    class AutoModel:
        @staticmethod
        def from_pretrained(path, local_files_only):
            assert local_files_only
            loaded.append(Path(path))
            return _FakeHFModel()

    module.AutoModel = AutoModel
    module.AutoConfig = object
    monkeypatch.setitem(sys.modules, "transformers", module)
    monkeypatch.setenv(SENTENCE_MODEL_ENV, str(folder))
    return folder, loaded


def test_minilm_builds_from_a_local_folder(fake_transformers, tiny_ctx):
    folder, loaded = fake_transformers
    assert TEXT_ENCODERS.get("minilm").available() == (True, "")
    spec = ModelSpec.from_dict({"task": "classification", "text_encoder": "minilm"})
    ctx = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=7)
    assert spec.errors(ctx) == []
    model = build_model(spec, ctx)
    assert loaded == [folder]
    encoder = model.text_encoder
    assert encoder.out_dim == 6 and not any(p.requires_grad for p in encoder.model.parameters())
    model.train()
    assert not encoder.model.training  # frozen: dropout stays off
    out = encoder(torch.tensor([[3, 4, 0]]), torch.tensor([2]))
    assert encoder.model.seen_masks[-1].tolist() == [[1, 1, 0]]
    expected = encoder.model.embeddings(torch.tensor([[3, 4]])).mean(dim=1)
    torch.testing.assert_close(out.pooled, expected)


def test_minilm_checks_the_vocabulary_and_length_against_its_config(fake_transformers):
    spec = ModelSpec.from_dict({"task": "classification", "text_encoder": "minilm"})
    ctx = ModelContext(vocab_size=900, num_outputs=3, image_size=32, max_len=64)
    errors = [i.message for i in spec.errors(ctx)]
    assert any("vocabulary has 900 ids but the model knows 50" in e for e in errors)
    assert any("max_len 64 exceeds the model's 16 positions" in e for e in errors)
