"""Both towers of one CLIP checkpoint in one model: ``text_encoder: hf:CLIP`` takes its text tower
(``CLIPTextModel``, pooled as CLIP pools: the end-of-text token), ``image_encoder: hf:CLIP`` its vision
tower, each with the checkpoint's own weights, the text read with CLIP's own tokenizer; a contrastive run
fine-tunes them and records one model and one revision for both."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from mmstudio.data.text import tokenizer_from_dict
from mmstudio.models import ModelContext, ModelSpec, build_model
from mmstudio.models.fetch import resolve
from mmstudio.models.pretrained import model_tokenizer, pin_revisions


def _pair_spec(folder, **text) -> ModelSpec:
    return ModelSpec.from_dict(
        pin_revisions(
            {
                "task": "contrastive",
                "text_encoder": {"name": "hf", "model": str(folder), **text},
                "image_encoder": {"name": "hf", "model": str(folder)},
            }
        )
    )


def test_both_towers_come_from_one_checkpoint_with_its_tokenizer(tiny_clip_pair_dir):
    import transformers

    spec = _pair_spec(tiny_clip_pair_dir)
    revision = resolve(str(tiny_clip_pair_dir)).revision
    assert spec.text_encoder["revision"] == spec.image_encoder["revision"] == revision
    tokenizer = tokenizer_from_dict(model_tokenizer(spec))
    assert isinstance(tokenizer._tokenizer, transformers.CLIPTokenizer)  # CLIP's own, not a fitted one
    ctx = ModelContext(vocab_size=tokenizer.vocab_size, num_outputs=1, image_size=32, max_len=16)
    assert spec.errors(ctx) == []
    model = build_model(spec, ctx)
    text, image = model.text_encoder, model.image_encoder
    assert type(text.model).__name__ == "CLIPTextModel" and text.pooling == "pooler"
    assert type(image.model).__name__ == "CLIPVisionModel"
    stored = load_file(tiny_clip_pair_dir / "model.safetensors")
    for tower, prefix in ((text.model, "text_model."), (image.model, "vision_model.")):
        for name, param in tower.named_parameters():
            torch.testing.assert_close(param, stored[prefix + name.removeprefix(prefix)])

    # the text tower's pooled output is CLIP's own: the checkpoint's text features before projection
    ids, lengths = tokenizer.encode_batch(["a photo of circle sale", "lost"], 16)
    tokens, lengths = torch.from_numpy(ids).long(), torch.from_numpy(lengths).long()
    full = transformers.CLIPModel.from_pretrained(tiny_clip_pair_dir, use_safetensors=True).eval()
    with torch.no_grad():
        pooled = text.eval()(tokens, lengths).pooled
        mask = (torch.arange(16)[None] < lengths[:, None]).long()
        expected = full.text_model(input_ids=tokens, attention_mask=mask).pooler_output
    torch.testing.assert_close(pooled, expected)


def test_max_len_is_checked_against_the_text_towers_positions(tiny_clip_pair_dir):
    spec = _pair_spec(tiny_clip_pair_dir)
    ctx = ModelContext(vocab_size=514, num_outputs=1, image_size=32, max_len=128)
    assert any("64 positions" in issue.message for issue in spec.errors(ctx))


def test_top_1_trains_the_text_towers_last_block(tiny_clip_pair_dir):
    spec = _pair_spec(tiny_clip_pair_dir, finetune="top:1")
    model = build_model(spec, ModelContext(vocab_size=514, num_outputs=1, image_size=32, max_len=16))
    trainable = {n for n, p in model.text_encoder.named_parameters() if p.requires_grad}
    assert trainable and all(".layers.1." in n or "final_layer_norm" in n for n in trainable)


@pytest.mark.slow
def test_a_contrastive_run_fine_tunes_both_towers_of_the_pair(tiny_clip_pair_dir, make_job, tmp_path):
    from mmstudio.store import Store
    from mmstudio.training.runner import run_job

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    model = {
        "task": "contrastive",
        "text_encoder": {"name": "hf", "model": str(tiny_clip_pair_dir), "finetune": "full"},
        "image_encoder": {"name": "hf", "model": str(tiny_clip_pair_dir), "finetune": "full"},
    }
    result = run_job(make_job(db, model=model, epochs=1, batch_size=32))
    assert result.status == "completed"
    assert any(key.startswith("test/r@1") for key in result.metrics)
    with Store.open(db) as store:
        spec = store.get_run(result.run_id).spec
    revision = resolve(str(tiny_clip_pair_dir)).revision
    assert spec["text_encoder"]["model"] == spec["image_encoder"]["model"] == str(tiny_clip_pair_dir)
    assert spec["text_encoder"]["revision"] == spec["image_encoder"]["revision"] == revision


def test_siglip_towers_build_and_run(tiny_siglip_pair_dir):
    spec = _pair_spec(tiny_siglip_pair_dir)
    model = build_model(spec, ModelContext(vocab_size=514, num_outputs=1, image_size=32, max_len=16))
    assert type(model.text_encoder.model).__name__ == "SiglipTextModel"
    assert type(model.image_encoder.model).__name__ == "SiglipVisionModel"
    assert model.text_encoder.pooling == "pooler"
    batch = {
        "tokens": torch.randint(0, 514, (2, 16)),
        "lengths": torch.tensor([16, 5]),
        "image": torch.randn(2, 3, 32, 32),
        "group": torch.arange(2),
        "index": torch.arange(2),
    }
    outputs = model(batch)
    assert outputs["text_embedding"].shape == outputs["image_embedding"].shape == (2, 128)
    model.loss(outputs, batch).backward()
