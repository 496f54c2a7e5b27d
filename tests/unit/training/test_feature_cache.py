"""The frozen-feature cache (issue 14): a frozen encoder runs once per item, across epochs and runs;
its features are keyed by everything they depend on; a damaged file is computed again; the cached
model predicts what the encoder would; augmentation, fine-tuning and the switch turn it off."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mmstudio.data.cache import feature_cache_paths, open_feature_cache
from mmstudio.data.spec import DatasetSpec
from mmstudio.models import ModelContext, ModelSpec, build_model
from mmstudio.models.pretrained import HFImageEncoder, HFTextEncoder, pin_revisions
from mmstudio.training import events as ev
from mmstudio.training.data import PreparedData, mask_batch
from mmstudio.training.device import resolve_precision
from mmstudio.training.features import (
    cache_features,
    describe_plans,
    encoder_is_frozen,
    feature_key,
    plan_features,
)
from mmstudio.training.preflight import model_inputs
from mmstudio.training.runner import run_job
from mmstudio.training.spec import RunJob, TrainSpec
from mmstudio.training.trainer import Trainer

TRAIN = {
    "epochs": 2,
    "batch_size": 32,
    "max_len": 16,
    "device": "cpu",
    "log_every_steps": 5,
    "checkpoint_every_s": 0.0,
    "early_stopping": False,
}


def _spec(bert, vit, *, text_finetune="frozen", fusion="concat") -> dict:
    return pin_revisions(
        {
            "task": "classification",
            "text_encoder": {"name": "hf", "model": str(bert), "finetune": text_finetune},
            "image_encoder": {"name": "hf", "model": str(vit)},
            "fusion": {"name": fusion},
            "head": {"name": "mlp", "hidden": 16, "dropout": 0.1},
        }
    )


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def counted(monkeypatch):
    """How many items each hf encoder's forward has seen (any instance)."""
    seen = {"text": 0, "image": 0}
    text_forward, image_forward = HFTextEncoder.forward, HFImageEncoder.forward

    def text(self, tokens, lengths):
        seen["text"] += tokens.shape[0]
        return text_forward(self, tokens, lengths)

    def image(self, pixels):
        seen["image"] += pixels.shape[0]
        return image_forward(self, pixels)

    monkeypatch.setattr(HFTextEncoder, "forward", text)
    monkeypatch.setattr(HFImageEncoder, "forward", image)
    return seen


def _job(small_demo, db, spec, **train) -> RunJob:
    return RunJob(
        dataset=DatasetSpec(str(small_demo), check_images="header"),
        model=spec,
        train=TrainSpec(**{**TRAIN, **train}),
        db_url=db,
    )


def _run(job):
    logs: list[str] = []

    def listen(event):
        if isinstance(event, ev.LogMessage):
            logs.append(event.message)

    result = run_job(job, on_event=listen)
    assert result.status == "completed", result.message
    return result, logs


def _prepared(small_demo, spec_dict, **train):
    dataset = DatasetSpec(str(small_demo), check_images="header").load()
    spec = ModelSpec.from_dict(spec_dict)
    train_spec, tokenizer, norm = model_inputs(spec, TrainSpec(**{**TRAIN, **train}))
    data = PreparedData(dataset, train_spec, "classification", tokenizer=tokenizer, image_norm=norm)
    torch.manual_seed(0)
    model = build_model(spec, ModelContext(**data.context()))
    return data, model, train_spec


# --- the plan ------------------------------------------------------------------------------------------


def test_the_plan_caches_frozen_encoders_and_says_why_not_otherwise(tiny_bert_dir, tiny_vit_dir):
    spec = _spec(tiny_bert_dir, tiny_vit_dir)
    plans = plan_features(spec, TrainSpec())
    assert plans["text"].cached and plans["image"].cached
    assert describe_plans(plans).startswith(
        f"text features cached from frozen hf:{spec['text_encoder']['model']}"
    )

    off = plan_features(spec, TrainSpec(feature_cache=False))
    assert [p.reason for p in off.values()] == ["feature cache off"] * 2
    augmented = plan_features(spec, TrainSpec(augment_image="light"))
    assert augmented["text"].cached and not augmented["image"].cached
    assert "augmented" in augmented["image"].reason
    tuned = plan_features(_spec(tiny_bert_dir, tiny_vit_dir, text_finetune="top:1"), TrainSpec())
    assert tuned["text"].reason == "fine-tuned" and tuned["image"].cached
    for finetune in ("full", "lora"):
        assert not plan_features(_spec(tiny_bert_dir, tiny_vit_dir, text_finetune=finetune), TrainSpec())[
            "text"
        ].cached
    tokens = plan_features(_spec(tiny_bert_dir, tiny_vit_dir, fusion="cross_attention"), TrainSpec())
    assert not tokens["text"].cached and "reads every token" in tokens["text"].reason
    # encoders trained from scratch are not in the plan; a frozen torchvision backbone is
    scratch = {
        "text_encoder": {"name": "bag"},
        "image_encoder": {"name": "resnet18", "freeze_backbone": True},
    }
    assert list(plan_features({**scratch, "fusion": {"name": "concat"}}, TrainSpec())) == ["image"]


def test_encoder_is_frozen_only_when_nothing_in_it_trains_or_changes_in_training(tiny_bert_dir):
    from mmstudio.models.image import SmallCNN, build_torchvision

    data_spec = _spec(tiny_bert_dir, tiny_bert_dir)["text_encoder"]
    spec = ModelSpec.from_dict(
        {"task": "classification", "text_encoder": data_spec, "image_encoder": {"name": "none"},
         "fusion": {"name": "none"}, "head": {"name": "linear"}}
    )  # fmt: skip
    ctx = ModelContext(vocab_size=2, num_outputs=3, image_size=32, max_len=8)
    assert encoder_is_frozen(build_model(spec, ctx).text_encoder)
    top = ModelSpec.from_dict({**spec.to_dict(), "text_encoder": {**data_spec, "finetune": "top:1"}})
    assert not encoder_is_frozen(build_model(top, ctx).text_encoder)
    assert encoder_is_frozen(build_torchvision("resnet18", freeze_backbone=True))
    assert not encoder_is_frozen(build_torchvision("resnet18"))
    cnn = SmallCNN(4, 2).requires_grad_(False)  # frozen weights, but BatchNorm learns its statistics
    assert not encoder_is_frozen(cnn)


# --- the key ---------------------------------------------------------------------------------------------


def test_the_key_changes_with_the_data_the_model_its_weights_and_the_preprocessing():
    component = {"name": "hf", "model": "m", "revision": "sha256:a", "pooling": "auto", "finetune": "frozen"}
    text = {"tokenizer": "t", "max_len": 16}
    base = feature_key("text", "fp", 10, component, "w", text)
    assert base == feature_key("text", "fp", 10, dict(component), "w", dict(text))
    assert base == feature_key("text", "fp", 10, {**component, "lora_r": 4}, "w", text)  # no effect frozen
    others = {
        feature_key("text", "fp2", 10, component, "w", text),
        feature_key("text", "fp", 11, component, "w", text),
        feature_key("text", "fp", 10, {**component, "revision": "sha256:b"}, "w", text),
        feature_key("text", "fp", 10, {**component, "model": "other"}, "w", text),
        feature_key("text", "fp", 10, {**component, "pooling": "mean"}, "w", text),
        feature_key("text", "fp", 10, component, "w2", text),
        feature_key("text", "fp", 10, component, "w", {**text, "max_len": 32}),
        feature_key("text", "fp", 10, component, "w", {**text, "tokenizer": "u"}),
        feature_key("image", "fp", 10, component, "w", text),
    }
    assert base not in others and len(others) == 9
    image = {"size": 32, "fit": "crop", "mean": [0.5] * 3, "std": [0.5] * 3}
    image_key = feature_key("image", "fp", 10, component, "w", image)
    assert image_key != feature_key("image", "fp", 10, component, "w", {**image, "fit": "pad"})
    assert image_key != feature_key("image", "fp", 10, component, "w", {**image, "size": 64})
    assert image_key != feature_key("image", "fp", 10, component, "w", {**image, "mean": [0.4] * 3})


def test_the_items_digest_changes_when_other_items_are_loaded():
    from types import SimpleNamespace

    from mmstudio.data.types import Item
    from mmstudio.training.features import items_digest

    def data(*texts):
        items = [Item(n, n + 2, "m.csv", f"{n}.png", t, "a", "train") for n, t in enumerate(texts)]
        return SimpleNamespace(dataset=SimpleNamespace(items=items))

    assert items_digest(data("a", "b"), "text") == items_digest(data("a", "b"), "text")
    assert items_digest(data("a", "b"), "text") != items_digest(data("a", "c"), "text")
    assert items_digest(data("a", "b"), "image") == items_digest(data("a", "c"), "image")  # same images
    assert items_digest(data("a", "b"), "image") != items_digest(data("a", "b", "c"), "image")


# --- computing, reading, damage --------------------------------------------------------------------------


def test_features_line_up_by_item_and_a_damaged_file_is_computed_again(
    small_demo, tiny_bert_dir, tiny_vit_dir, tmp_path
):
    data, model, train = _prepared(small_demo, _spec(tiny_bert_dir, tiny_vit_dir))
    plans = plan_features(model.spec, train)
    root = tmp_path / "features"
    calls = []
    first = cache_features(model, data, plans, cache_root=root, progress=lambda *a: calls.append(a))
    assert [(r.modality, r.computed) for r in first] == [("text", True), ("image", True)]
    assert calls[-1] == ("image", len(data.dataset.items), len(data.dataset.items))
    assert data.cached_modalities == ("text", "image")
    # row i is item i's feature (items dropped from a split still have their row)
    items = np.array([3, 0, 117])
    with torch.inference_mode():
        model.eval()
        expected = model.text_encoder(**data.encoder_inputs("text", items)).pooled
    assert torch.allclose(data.batch(items)["text_features"], expected, atol=1e-5)

    again, _, _ = _prepared(small_demo, _spec(tiny_bert_dir, tiny_vit_dir))
    assert [r.computed for r in cache_features(model, again, plans, cache_root=root)] == [False, False]

    text_key = first[0].key
    array_path, _ = feature_cache_paths(text_key, root)
    n, dim = len(data.dataset.items), model.text_encoder.out_dim
    raw = bytearray(array_path.read_bytes())
    raw[-8:] = b"\x00\x01\x02\x03\x04\x05\x06\x07"  # silent damage in the last row
    array_path.write_bytes(bytes(raw))
    assert open_feature_cache(text_key, n=n, dim=dim, cache_root=root) is None
    damaged, _, _ = _prepared(small_demo, _spec(tiny_bert_dir, tiny_vit_dir))
    assert [r.computed for r in cache_features(model, damaged, plans, cache_root=root)] == [True, False]
    array_path.write_bytes(array_path.read_bytes()[:1000])  # truncated
    assert open_feature_cache(text_key, n=n, dim=dim, cache_root=root) is None
    assert open_feature_cache(text_key, n=n + 1, dim=dim, cache_root=root) is None  # another dataset size


def test_a_cancelled_computation_leaves_nothing_behind(small_demo, tiny_bert_dir, tiny_vit_dir, tmp_path):
    import threading

    from mmstudio.progress import Cancelled

    data, model, train = _prepared(small_demo, _spec(tiny_bert_dir, tiny_vit_dir))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        cache_features(model, data, plan_features(model.spec, train), cancel=cancel, cache_root=tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    assert data.cached_modalities == ()


def test_predictions_with_cached_features_equal_the_encoders_masked_ones_too(
    small_demo, tiny_bert_dir, tiny_vit_dir, tmp_path
):
    data, model, train = _prepared(small_demo, _spec(tiny_bert_dir, tiny_vit_dir))
    precision = resolve_precision("fp32", torch.device("cpu"))
    trainer = Trainer(model, data, train, device=torch.device("cpu"), precision=precision)
    plain = {a: trainer.evaluate("test", ablation=a) for a in (None, "text_masked", "image_masked")}
    cache_features(model, data, plan_features(model.spec, train), cache_root=tmp_path)
    assert "tokens" not in data.batch([0, 1]) and "image" not in data.batch([0, 1])
    for ablation, reference in plain.items():
        cached = trainer.evaluate("test", ablation=ablation)
        pairs = list(zip(cached.result.predictions, reference.result.predictions, strict=True))
        assert pairs
        for mine, theirs in pairs:
            assert mine["item_index"] == theirs["item_index"]
            assert mine["predicted_label"] == theirs["predicted_label"]
            assert mine["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-5)
        for key, value in reference.metrics.items():
            assert cached.metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-5), (ablation, key)
    # a masked batch holds the masked input's features in every row
    masked = mask_batch(data.batch([4, 9]), "text", masked_features=data.masked_features())
    assert torch.equal(masked["text_features"][0], masked["text_features"][1])


# --- runs ---------------------------------------------------------------------------------------------------


def test_a_frozen_encoder_runs_once_per_item_across_epochs_and_runs(
    small_demo, tiny_bert_dir, tiny_vit_dir, db, counted
):
    spec = _spec(tiny_bert_dir, tiny_vit_dir)
    first, logs = _run(_job(small_demo, db, spec, epochs=3))
    n = 240
    assert counted == {"text": n + 1, "image": n + 1}  # every item once, and the masked input
    assert any(
        line.startswith("text features: cached from frozen hf:") and "computed in" in line for line in logs
    )
    assert "test_text_masked/accuracy" in first.metrics

    # evaluating the saved run rebuilds the model and runs the encoders: the run's own numbers
    from mmstudio.training.inference import evaluate_run

    dataset = DatasetSpec(str(small_demo), check_images="header").load()
    scored = evaluate_run(first.run_id, dataset, split="test", device="cpu", db_url=db)["metrics"]
    assert counted["text"] > n + 1
    for ablation in ("", "text_masked/", "image_masked/"):
        for metric in ("accuracy", "loss"):
            recorded = first.metrics[f"test{'_' + ablation[:-1] if ablation else ''}/{metric}"]
            assert scored[f"{ablation}{metric}"] == pytest.approx(recorded, rel=1e-4, abs=1e-5)

    from mmstudio.data.cache import cache_entries

    assert [e.kind for e in cache_entries()].count("features") == 2  # `data cache` lists them

    counted.update(text=0, image=0)
    _, logs = _run(_job(small_demo, db, spec, epochs=1))
    assert counted == {"text": 0, "image": 0}  # the second run reads the cache
    assert any("features: cached from frozen" in line and "read from the cache" in line for line in logs)


def test_cached_training_gives_the_results_of_uncached_training(
    small_demo, tiny_bert_dir, tiny_vit_dir, db, counted
):
    spec = _spec(tiny_bert_dir, tiny_vit_dir)
    cached, _ = _run(_job(small_demo, db, spec))
    plain, logs = _run(_job(small_demo, db, spec, feature_cache=False))
    assert "text features computed every step by hf:" in " ".join(logs) and "(feature cache off)" in " ".join(
        logs
    )
    assert counted["text"] > 2 * 240  # the uncached run encoded every batch
    assert cached.metrics.keys() == plain.metrics.keys()
    for key, value in plain.metrics.items():
        assert cached.metrics[key] == pytest.approx(value, rel=1e-3, abs=1e-4), key


def test_augmentation_or_fine_tuning_keeps_the_encoder_in_the_loop(
    small_demo, tiny_bert_dir, tiny_vit_dir, db, counted
):
    spec = _spec(tiny_bert_dir, tiny_vit_dir, text_finetune="top:1")
    _, logs = _run(_job(small_demo, db, spec, epochs=1, augment_image="light"))
    text = " ".join(logs)
    assert "text features computed every step by hf:" in text and "(fine-tuned)" in text
    assert "image features computed every step" in text and "augmented" in text
    assert counted["text"] >= 240 and counted["image"] >= 240
    assert "cached from frozen" not in text


def test_the_command_line_turns_the_cache_off(small_demo):
    import argparse

    from mmstudio.cli import train as cli_train

    parser = argparse.ArgumentParser()
    cli_train.add_parsers(parser.add_subparsers())
    args = parser.parse_args(["train", "--data", str(small_demo), "--no-feature-cache"])
    assert cli_train.build_job(args).train.feature_cache is False
    args = parser.parse_args(["train", "--data", str(small_demo)])
    assert cli_train.build_job(args).train.feature_cache is True
    assert dataclasses.replace(TrainSpec(), feature_cache=False).to_dict()["feature_cache"] is False


def test_stop_while_features_are_computed_cancels_the_run_and_leaves_no_file(
    small_demo, tiny_bert_dir, tiny_vit_dir, db, monkeypatch, mmstudio_home
):
    from mmstudio.training.control import TrainingControl

    control = TrainingControl()
    inputs = PreparedData.encoder_inputs

    def stop_after_the_first_batch(self, modality, indices, device="cpu"):
        control.stop()  # as the Stop button does, while the first batch is encoded
        return inputs(self, modality, indices, device)

    monkeypatch.setattr(PreparedData, "encoder_inputs", stop_after_the_first_batch)
    result = run_job(_job(small_demo, db, _spec(tiny_bert_dir, tiny_vit_dir)), control=control)
    assert result.status == "cancelled" and result.run_id is not None
    features = mmstudio_home / "cache" / "features"
    assert not features.exists() or not any(features.iterdir())
