"""The hf encoders on tiny, randomly initialised models saved locally (tests/conftest.py builds them):
the ids they read are their own tokenizer's, the fine-tuning modes train what they say, a run records
the model's revision and a changed model is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from mmstudio.data.hf_tokenizer import HFTokenizer
from mmstudio.data.text import tokenizer_from_dict, tokenizer_hash
from mmstudio.models import ModelContext, ModelSpec, SpecError, build_model, resolve_spec, summarize
from mmstudio.models.fetch import ModelNotCached, resolve
from mmstudio.models.pretrained import (
    image_input,
    model_tokenizer,
    parse_finetune,
    pin_revisions,
    sentence_pooling,
)

TEXTS = [
    "Lost: red sticker near the station.",
    "Selling my vintage badge, collect from the market.",
    "hello",  # an unknown word: [UNK]
    "",
]
MAX_LEN = 12


def _text_spec(folder, **params) -> ModelSpec:
    return ModelSpec.from_dict(
        pin_revisions(
            {
                "task": "classification",
                "text_encoder": {"name": "hf", "model": str(folder), **params},
                "image_encoder": {"name": "none"},
                "fusion": {"name": "none"},
                "head": {"name": "linear"},
            }
        )
    )


def _image_spec(folder, **params) -> ModelSpec:
    return ModelSpec.from_dict(
        pin_revisions(
            {
                "task": "classification",
                "text_encoder": {"name": "none"},
                "image_encoder": {"name": "hf", "model": str(folder), **params},
                "fusion": {"name": "none"},
                "head": {"name": "linear"},
            }
        )
    )


def _tokenizer(spec: ModelSpec) -> HFTokenizer:
    tokenizer = tokenizer_from_dict(model_tokenizer(spec))
    assert isinstance(tokenizer, HFTokenizer)
    return tokenizer


def _ctx(vocab: int = 2, image_size: int = 32) -> ModelContext:
    return ModelContext(vocab_size=vocab, num_outputs=3, image_size=image_size, max_len=MAX_LEN)


def _text_batch(tokenizer: HFTokenizer, texts=TEXTS) -> dict[str, torch.Tensor]:
    ids, lengths = tokenizer.encode_batch(texts, MAX_LEN)
    n = len(texts)
    return {
        "tokens": torch.from_numpy(ids).long(),
        "lengths": torch.from_numpy(np.maximum(lengths, 1)).long(),
        "target": torch.arange(n) % 3,
        "index": torch.arange(n),
    }


def _train_steps(model, batch, steps: int = 3, lr: float = 0.05) -> None:
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        loss = model.loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def _changed(model, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


# --- the tokenizer ----------------------------------------------------------------------------------


def test_the_text_encoder_reads_its_own_tokenizers_ids_and_mask(tiny_bert_dir):
    """Today's defect: minilm was fed the word tokenizer's ids. Now the ids and the attention mask
    are exactly what the model's own tokenizer makes."""
    from transformers import AutoTokenizer

    spec = _text_spec(tiny_bert_dir)
    tokenizer = _tokenizer(spec)
    reference = AutoTokenizer.from_pretrained(tiny_bert_dir)(
        TEXTS, padding="max_length", truncation=True, max_length=MAX_LEN
    )
    ids, lengths = tokenizer.encode_batch(TEXTS, MAX_LEN)
    assert ids.dtype == np.int32 and ids.shape == (len(TEXTS), MAX_LEN)
    assert ids.tolist() == reference["input_ids"]
    assert lengths.tolist() == [sum(row) for row in reference["attention_mask"]]
    assert ids[0, 0] == tokenizer._tokenizer.cls_token_id  # [CLS] first, as the model was trained

    model = build_model(spec, _ctx(tokenizer.vocab_size))
    seen = {}
    hook = model.text_encoder.model.register_forward_pre_hook(
        lambda _module, args, kwargs: seen.update(kwargs), with_kwargs=True
    )
    model.eval()
    model(_text_batch(tokenizer))
    hook.remove()
    assert seen["input_ids"].tolist() == reference["input_ids"]
    assert seen["attention_mask"].tolist() == reference["attention_mask"]


def test_the_tokenizer_round_trips_through_its_dict_and_hashes_by_model(tiny_bert_dir, tmp_path):
    spec = _text_spec(tiny_bert_dir)
    tokenizer = _tokenizer(spec)
    data = json.loads(json.dumps(tokenizer.to_dict()))
    assert data["kind"] == "hf" and data["revision"] == spec.text_encoder["revision"]
    assert data["model_id"] == str(tiny_bert_dir.resolve())
    again = tokenizer_from_dict(data)
    assert (
        again.encode_batch(TEXTS, MAX_LEN)[0].tolist() == tokenizer.encode_batch(TEXTS, MAX_LEN)[0].tolist()
    )
    assert tokenizer_hash(again) == tokenizer_hash(tokenizer)
    other = HFTokenizer(tiny_bert_dir, model_id="x", revision="sha256:other")
    assert tokenizer_hash(other) != tokenizer_hash(tokenizer)


def test_minilm_is_hf_with_mean_pooling_and_its_own_tokenizer(tiny_bert_dir, monkeypatch):
    monkeypatch.setenv("MMSTUDIO_SENTENCE_MODEL", str(tiny_bert_dir))
    old = ModelSpec.from_dict({"task": "classification", "text_encoder": {"name": "minilm", "freeze": True}})
    assert old.text_encoder["path"] == "" and old.text_encoder["revision"] == ""
    tokenizer = _tokenizer(old)
    model = build_model(old, _ctx(tokenizer.vocab_size, 64))
    encoder = model.text_encoder
    assert encoder.pooling == "mean" and encoder.mode == "frozen"
    assert not any(p.requires_grad for p in encoder.parameters())


# --- pooling ------------------------------------------------------------------------------------------


def test_auto_pooling_follows_a_sentence_transformers_export(tiny_hf, tmp_path, tiny_bert_dir):
    mean = tiny_hf.bert(tmp_path / "st-mean", sentence_transformers=True)
    cls = tiny_hf.bert(tmp_path / "st-cls", sentence_transformers=True, cls_pooling=True, nested=True)
    assert sentence_pooling(mean) == "mean" and sentence_pooling(cls) == "cls"
    assert sentence_pooling(tiny_bert_dir) is None
    for folder, expected in ((mean, "mean"), (cls, "cls"), (tiny_bert_dir, "cls")):
        spec = _text_spec(folder)
        tokenizer = _tokenizer(spec)
        encoder = build_model(spec, _ctx(tokenizer.vocab_size)).text_encoder
        assert encoder.pooling == expected, folder
    # the nested export's tokenizer is the one in 0_Transformer/
    assert _tokenizer(_text_spec(cls)).encode_batch(TEXTS, MAX_LEN)[0].tolist() == (
        _tokenizer(_text_spec(tiny_bert_dir)).encode_batch(TEXTS, MAX_LEN)[0].tolist()
    )


def test_mean_pooling_ignores_padding(tiny_bert_dir):
    spec = _text_spec(tiny_bert_dir, pooling="mean")
    tokenizer = _tokenizer(spec)
    encoder = build_model(spec, _ctx(tokenizer.vocab_size)).text_encoder.eval()
    ids, lengths = tokenizer.encode_batch(TEXTS[:1], MAX_LEN)
    short = encoder(torch.from_numpy(ids[:, : lengths[0]]).long(), torch.from_numpy(lengths).long())
    padded = encoder(torch.from_numpy(ids).long(), torch.from_numpy(lengths).long())
    torch.testing.assert_close(short.pooled, padded.pooled)


# --- fine-tuning ----------------------------------------------------------------------------------


def test_parse_finetune():
    assert parse_finetune("frozen") == ("frozen", 0)
    assert parse_finetune("top:2") == ("top", 2)
    assert parse_finetune("full") == ("full", 0) and parse_finetune("lora") == ("lora", 0)
    for bad in ("top:0", "top:", "top:x", "half", ""):
        with pytest.raises(ValueError, match="frozen, top:N"):
            parse_finetune(bad)


def test_a_frozen_encoder_does_not_change_in_training(tiny_bert_dir):
    spec = _text_spec(tiny_bert_dir)
    assert spec.text_encoder["finetune"] == "frozen"  # the default
    tokenizer = _tokenizer(spec)
    model = build_model(spec, _ctx(tokenizer.vocab_size))
    before = _snapshot(model)
    model.train()
    assert not model.text_encoder.model.training  # dropout stays off: its features never change
    _train_steps(model, _text_batch(tokenizer))
    changed = _changed(model, before)
    assert changed and all(n.startswith("heads.") for n in changed)
    assert all(p.grad is None for p in model.text_encoder.parameters())


def test_top_1_trains_exactly_the_last_block_and_the_head(tiny_bert_dir):
    spec = _text_spec(tiny_bert_dir, finetune="top:1")
    tokenizer = _tokenizer(spec)
    model = build_model(spec, _ctx(tokenizer.vocab_size))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    last = "text_encoder.model.encoder.layer.1."
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith((last, "heads."))}
    before = _snapshot(model)
    model.train()
    assert model.text_encoder.model.encoder.layer[1].training
    assert not model.text_encoder.model.encoder.layer[0].training
    assert not model.text_encoder.model.embeddings.training
    _train_steps(model, _text_batch(tokenizer))
    changed = _changed(model, before)
    assert {n for n in changed if not n.startswith("heads.")} <= trainable
    assert any(n.startswith(last) for n in changed) and all(n.startswith((last, "heads.")) for n in changed)


def test_lora_trains_only_its_adapters(tiny_bert_dir):
    spec = _text_spec(tiny_bert_dir, finetune="lora", lora_r=4)
    tokenizer = _tokenizer(spec)
    model = build_model(spec, _ctx(tokenizer.vocab_size))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    encoder_trainable = {n for n in trainable if n.startswith("text_encoder.")}
    assert encoder_trainable and all(".lora_" in n for n in encoder_trainable)
    assert any(".query.lora_A." in n for n in encoder_trainable)
    assert any(".value.lora_B." in n for n in encoder_trainable)
    before = _snapshot(model)
    _train_steps(model, _text_batch(tokenizer))
    changed = _changed(model, before)
    assert all(".lora_" in n or n.startswith("heads.") for n in changed)
    assert any(".lora_" in n for n in changed)
    assert list(model.text_encoder.backbone_parameters()) == []  # adapters train at the head's rate


def test_full_puts_the_backbone_in_a_group_at_a_fraction_of_the_rate(tiny_bert_dir):
    from mmstudio.training.spec import TrainSpec
    from mmstudio.training.trainer import build_optimizer

    spec = _text_spec(tiny_bert_dir, finetune="full")
    tokenizer = _tokenizer(spec)
    model = build_model(spec, _ctx(tokenizer.vocab_size))
    assert all(p.requires_grad for p in model.parameters())
    train = TrainSpec(lr=1e-3, backbone_lr_scale=0.25)
    optimizer = build_optimizer(model, train, torch.device("cpu"))
    backbone = {id(p) for p in model.text_encoder.model.parameters()}
    head = {id(p) for p in model.heads.parameters()}
    for group in optimizer.param_groups:
        ids = {id(p) for p in group["params"]}
        if ids <= backbone:
            assert group["lr"] == pytest.approx(2.5e-4)
        else:
            assert ids <= head and group["lr"] == pytest.approx(1e-3)
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == backbone | head
    assert TrainSpec().backbone_lr_scale == 0.1


def test_finetune_checks_are_validation_errors(tiny_bert_dir, tiny_vit_dir):
    tokenizer = _tokenizer(_text_spec(tiny_bert_dir))
    for params, message in (
        ({"finetune": "top:3"}, "more blocks than the model's 2"),
        ({"finetune": "some"}, "not one of frozen, top:N"),
    ):
        errors = _text_spec(tiny_bert_dir, **params).errors(_ctx(tokenizer.vocab_size))
        assert any(message in e.message for e in errors), errors
    errors = _text_spec(tiny_bert_dir).errors(ModelContext(tokenizer.vocab_size, 3, 32, max_len=100))
    assert any("max_len 100 exceeds the model's 64 positions" in e.message for e in errors)
    errors = _image_spec(tiny_vit_dir).errors(_ctx(image_size=64))
    assert any("takes 32 px images, not 64 px" in e.message for e in errors)


# --- resolution and revisions ----------------------------------------------------------------------


def test_a_spec_resolved_for_a_dataset_records_the_model_and_its_revision(tiny_bert_dir):
    spec = resolve_spec(
        {"text_encoder": {"name": "hf", "model": str(tiny_bert_dir)}},
        task="classification",
        has_text=True,
        has_image=False,
    )
    resolved = resolve(str(tiny_bert_dir))
    assert spec.text_encoder["model"] == str(tiny_bert_dir.resolve())
    assert spec.text_encoder["revision"] == resolved.revision and resolved.revision.startswith("sha256:")


def test_hf_colon_model_is_shorthand_in_a_spec(tiny_bert_dir):
    spec = resolve_spec(
        {"text_encoder": f"hf:{tiny_bert_dir}", "image_encoder": "none"},
        task="classification",
        has_text=True,
        has_image=True,
    )
    assert spec.text_encoder["name"] == "hf" and spec.text_encoder["model"] == str(tiny_bert_dir.resolve())
    assert spec.fusion["name"] == "none" and spec.text_encoder["revision"].startswith("sha256:")


def test_a_changed_model_is_refused(tiny_hf, tmp_path):
    folder = tiny_hf.bert(tmp_path / "bert")
    spec = _text_spec(folder)
    tokenizer = _tokenizer(spec)
    build_model(spec, _ctx(tokenizer.vocab_size))
    from safetensors.torch import load_file, save_file

    weights = folder / "model.safetensors"
    state = load_file(weights)
    state["embeddings.word_embeddings.weight"] += 1.0
    save_file(state, weights, metadata={"format": "pt"})
    with pytest.raises(SpecError, match="trained with revision sha256:"):
        build_model(spec, _ctx(tokenizer.vocab_size))
    with pytest.raises(ValueError, match="trained with revision"):
        model_tokenizer(spec)


def test_pickled_weights_and_missing_models_are_refused(tiny_bert_dir, tmp_path):
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_bert_dir, pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    errors = _text_spec(pickled).errors(_ctx())
    assert any("safetensors only" in e.message for e in errors), errors
    with pytest.raises(ModelNotCached, match="mmstudio models pull some-org/some-model"):
        resolve("some-org/some-model")
    errors = _text_spec("some-org/some-model").errors(_ctx())
    assert len(errors) == 1 and "mmstudio models pull some-org/some-model" in errors[0].message
    assert _text_spec("some-org/some-model").text_encoder["revision"] == ""  # not pinned: not found


# --- image encoders -------------------------------------------------------------------------------


def test_a_vit_declares_its_processors_input_and_trains_frozen(tiny_vit_dir):
    spec = _image_spec(tiny_vit_dir)
    assert image_input(spec) == {
        "size": 32,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "source": str(tiny_vit_dir),
    }
    model = build_model(spec, _ctx(image_size=32))
    batch = {"image": torch.randn(4, 3, 32, 32), "target": torch.arange(4) % 3, "index": torch.arange(4)}
    before = _snapshot(model)
    _train_steps(model, batch)
    assert all(n.startswith("heads.") for n in _changed(model, before))
    out = model.image_encoder(batch["image"])
    assert out.pooled.shape == (4, 16) and out.tokens.shape == (4, 17, 16)


def test_the_vision_tower_of_a_clip_checkpoint(tiny_clip_dir):
    spec = _image_spec(tiny_clip_dir, finetune="top:1")
    wanted = image_input(spec)
    assert wanted["size"] == 32 and wanted["mean"][0] == pytest.approx(0.48145466)  # CLIP's own
    model = build_model(spec, _ctx(image_size=32))
    encoder = model.image_encoder
    assert type(encoder.model).__name__ == "CLIPVisionModel"
    from safetensors.torch import load_file

    stored = load_file(tiny_clip_dir / "model.safetensors")
    own = dict(encoder.model.named_parameters())
    patch = next(k for k in own if k.endswith("patch_embedding.weight"))
    torch.testing.assert_close(own[patch], stored["vision_model.embeddings.patch_embedding.weight"])
    trainable = {n for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable and all(".layers.1." in n or "post_layernorm" in n for n in trainable)
    batch = {"image": torch.randn(2, 3, 32, 32), "target": torch.tensor([0, 1]), "index": torch.arange(2)}
    _train_steps(model, batch, steps=1)


def test_summaries_are_built_on_the_meta_device(tiny_bert_dir, tiny_vit_dir):
    spec = ModelSpec.from_dict(
        pin_revisions(
            {
                "task": "classification",
                "text_encoder": {"name": "hf", "model": str(tiny_bert_dir), "finetune": "lora"},
                "image_encoder": {"name": "hf", "model": str(tiny_vit_dir), "finetune": "top:1"},
                "fusion": {"name": "concat"},
                "head": {"name": "mlp"},
            }
        )
    )
    summary = summarize(spec, _ctx(vocab=123, image_size=32))
    text, image = summary.blocks[0], summary.blocks[1]
    assert 0 < text.trainable_params < text.params and 0 < image.trainable_params < image.params


def test_gradient_checkpointing_for_the_trained_blocks(tiny_bert_dir):
    tokenizer = _tokenizer(_text_spec(tiny_bert_dir))
    frozen = build_model(_text_spec(tiny_bert_dir), _ctx(tokenizer.vocab_size))
    assert frozen.text_encoder.enable_gradient_checkpointing() is False  # nothing of it trains
    model = build_model(_text_spec(tiny_bert_dir, finetune="full"), _ctx(tokenizer.vocab_size))
    reference = build_model(_text_spec(tiny_bert_dir, finetune="full"), _ctx(tokenizer.vocab_size))
    reference.load_state_dict(model.state_dict())
    assert model.text_encoder.enable_gradient_checkpointing() is True
    assert model.text_encoder.model.is_activation_checkpointing
    batch = _text_batch(tokenizer)
    for m in (model, reference):
        m.eval()  # no dropout: the two must agree exactly
        m.loss(m(batch), batch).backward()
    name = "text_encoder.model.encoder.layer.0.attention.self.query.weight"
    grads = {n: p.grad for n, p in model.named_parameters()}
    torch.testing.assert_close(grads[name], dict(reference.named_parameters())[name].grad)


def test_text_masking_feeds_the_empty_text_as_the_tokenizer_writes_it(tiny_bert_dir):
    from mmstudio.training.data import mask_batch

    tokenizer = _tokenizer(_text_spec(tiny_bert_dir))
    batch = _text_batch(tokenizer)
    empty = (tokenizer.encode(""), tokenizer.pad_id)
    assert empty == ([2, 3], 0)  # [CLS] [SEP]
    masked = mask_batch(batch, "text", empty_text=empty)
    assert masked["tokens"][:, :3].tolist() == [[2, 3, 0]] * len(TEXTS)
    assert masked["lengths"].tolist() == [2] * len(TEXTS)


def _save_vision(kind: str, folder):
    """A tiny DINOv2, ConvNeXt or (whole, two-tower) SigLIP checkpoint with its image processor."""
    import transformers as tf

    if kind == "dinov2":
        config = tf.Dinov2Config(
            image_size=32,
            patch_size=8,
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_ratio=2,
        )
        model, processor = (
            tf.Dinov2Model(config),
            tf.BitImageProcessor(
                size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}, do_center_crop=True
            ),
        )
    elif kind == "convnext":
        config = tf.ConvNextConfig(hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1], image_size=32)
        model, processor = tf.ConvNextModel(config), tf.ConvNextImageProcessor(size={"shortest_edge": 32})
    else:
        tiny = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}
        config = tf.SiglipConfig(
            text_config={"vocab_size": 100, **tiny},
            vision_config={"image_size": 32, "patch_size": 8, **tiny},
        )
        model, processor = tf.SiglipModel(config), tf.SiglipImageProcessor(size={"height": 32, "width": 32})
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["dinov2", "convnext", "siglip"])
@pytest.mark.parametrize("finetune", ["frozen", "top:1", "lora"])
def test_other_vision_models(kind, finetune, tmp_path):
    folder = _save_vision(kind, tmp_path / kind)
    spec = _image_spec(folder, finetune=finetune)
    assert image_input(spec)["size"] == 32
    errors = spec.errors(_ctx(image_size=32))
    if kind == "convnext" and finetune == "lora":
        assert any("no attention projections" in e.message for e in errors)
        return
    assert errors == []
    model = build_model(spec, _ctx(image_size=32))
    batch = {"image": torch.randn(2, 3, 32, 32), "target": torch.tensor([0, 1]), "index": torch.arange(2)}
    before = _snapshot(model)
    _train_steps(model, batch, steps=2)
    changed = {n for n in _changed(model, before) if not n.startswith("heads.")}
    if finetune == "frozen":
        assert changed == set()
    elif finetune == "lora":
        assert changed and all(".lora_" in n for n in changed)
    else:
        trainable = {n for n, p in model.named_parameters() if p.requires_grad and not n.startswith("heads.")}
        assert changed and changed <= trainable
        blocks = ".stages.3." if kind == "convnext" else (".layer.1." if kind == "dinov2" else ".layers.1.")
        after = ("layernorm", "post_layernorm", "head.")
        assert all(blocks in n or n.split("model.", 1)[1].startswith(after) for n in trainable), trainable


@pytest.mark.parametrize("kind", ["distilbert", "roberta"])
def test_other_text_models_top_1_and_lora(kind, tiny_bert_dir, tmp_path):
    """DistilBERT keeps its blocks in transformer.layer and names its projections q_lin...; RoBERTa is
    BERT's layout with another padding id. Both read the (copied) WordPiece tokenizer's ids here."""
    import transformers as tf

    folder = tmp_path / kind
    shutil.copytree(tiny_bert_dir, folder)
    for name in ("config.json", "model.safetensors"):
        (folder / name).unlink()
    tiny = {"vocab_size": 123, "max_position_embeddings": 64}
    if kind == "distilbert":
        config = tf.DistilBertConfig(dim=16, n_layers=2, n_heads=2, hidden_dim=32, **tiny)
        model, last, query = tf.DistilBertModel(config), "transformer.layer.1.", ".q_lin.lora_A."
    else:
        config = tf.RobertaConfig(
            hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, **tiny
        )
        model, last, query = tf.RobertaModel(config), "encoder.layer.1.", ".query.lora_A."
    model.save_pretrained(folder, safe_serialization=True)
    for finetune in ("top:1", "lora"):
        spec = _text_spec(folder, finetune=finetune)
        tokenizer = _tokenizer(spec)
        assert spec.errors(_ctx(tokenizer.vocab_size)) == []
        built = build_model(spec, _ctx(tokenizer.vocab_size))
        trainable = {n for n, p in built.text_encoder.named_parameters() if p.requires_grad}
        if finetune == "top:1":
            assert trainable and all(n.startswith(f"model.{last}") for n in trainable)
        else:
            assert any(query in n for n in trainable) and all(".lora_" in n for n in trainable)
        _train_steps(built, _text_batch(tokenizer), steps=1)
