"""A checkpoint of a model with a frozen pretrained encoder leaves the encoder's weights out: the spec
names the model and its exact revision, and loading rebuilds them from the cached model. Resume, eval
and export give what the trained model gave; checkpoints that hold every weight still load; weights
that differ from those trained with are refused with the pull command to fetch the right ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mmstudio.data.spec import DatasetSpec
from mmstudio.models import ModelSpec, build_model
from mmstudio.models.context import ModelContext
from mmstudio.store import Store
from mmstudio.training import checkpoints
from mmstudio.training import events as ev
from mmstudio.training.checkpoints import CheckpointError, FrozenState, complete_model_state
from mmstudio.training.control import TrainingControl
from mmstudio.training.inference import evaluate_run, export_run, load_run
from mmstudio.training.resume import resume_job
from mmstudio.training.runner import run_job


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def hf_model(bert: Path, finetune: str = "frozen") -> dict:
    return {
        "task": "classification",
        "text_encoder": {"name": "hf", "model": str(bert), "finetune": finetune},
        "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
        "fusion": {"name": "concat"},
        "head": {"name": "mlp", "hidden": 32},
    }


def checkpoint_bytes(manifest: Path) -> int:
    """The size on disk of a checkpoint: its manifest and its tensor file."""
    stem = manifest.name.removesuffix(".json")
    files = [manifest, *manifest.parent.glob(f"{stem}.*.safetensors")]
    return sum(f.stat().st_size for f in files)


def test_a_frozen_encoders_weights_are_left_out_and_rebuilt_identically(
    db_url, make_job, tiny_bert_dir, small_demo
):
    result = run_job(make_job(db_url, model=hf_model(tiny_bert_dir), epochs=1))
    assert result.status == "completed", result.message
    with Store.open(db_url) as store:
        folder = store.run_dir(result.run_id)
        loaded = load_run(store, result.run_id)
    bert_tensors = {k for k in loaded.model.state_dict() if k.startswith("text_encoder.model.")}
    assert bert_tensors
    for stem in ("best", "last"):
        checkpoint = checkpoints.load_checkpoint(folder / stem)
        assert not bert_tensors & set(checkpoint.model_state), stem  # left out
        assert "image_encoder.features.1.running_mean" in checkpoint.model_state  # buffers that train stay
        frozen = checkpoint.meta["frozen_state"]
        assert set(frozen["keys"]) == bert_tensors and len(frozen["sha256"]) == 64
        state = loaded.model.state_dict()
        assert frozen["bytes"] == sum(state[k].numel() * state[k].element_size() for k in bert_tensors)

    # eval rebuilds the frozen part from the model folder: the same predictions, bit for bit, as the
    # run's final evaluation made with the model it trained (the best weights)
    dataset = DatasetSpec(str(small_demo), check_images="header").load()
    evaluate_run(result.run_id, dataset, split="test", db_url=db_url)
    with Store.open(db_url) as store:
        plain = [e for e in store.list_evaluations(result.run_id) if e.ablation is None and e.split == "test"]
        final, again = plain[0], plain[-1]
        first = store.list_predictions(result.run_id, evaluation_id=final.id)
        second = store.list_predictions(result.run_id, evaluation_id=again.id)
    assert [p.item_index for p in first] == [p.item_index for p in second] and first
    assert [p.probabilities for p in first] == [p.probabilities for p in second]


def test_checkpoint_size_with_a_frozen_encoder(db_url, make_job, tiny_bert_dir, tmp_path):
    """The frozen BERT is what leaves: the best checkpoint is smaller than the same weights saved
    whole (as before) by the BERT's bytes, less the list of their names in the manifest."""
    frozen = run_job(make_job(db_url, model=hf_model(tiny_bert_dir), epochs=1))
    with Store.open(db_url) as store:
        folder = store.run_dir(frozen.run_id)
        model = load_run(store, frozen.run_id).model
    best = checkpoints.load_checkpoint(folder / "best")
    after = checkpoint_bytes(folder / "best.json")
    left_out = best.meta["frozen_state"]["bytes"]
    bert = sum(p.numel() for p in model.text_encoder.parameters())
    assert left_out == 4 * bert  # float32
    meta = {k: v for k, v in best.meta.items() if k != "frozen_state"}
    whole = checkpoints.save_checkpoint(tmp_path / "whole", model_state=model.state_dict(), meta=meta)
    before = checkpoint_bytes(whole)
    assert before - after > 0.8 * left_out, (before, after, left_out)


def test_a_stopped_run_resumes_from_a_checkpoint_without_the_frozen_weights(db_url, make_job, tiny_bert_dir):
    control = TrainingControl()

    def stop_in_epoch_two(event):
        if isinstance(event, ev.MetricsLogged) and any(p[1] >= 8 for p in event.points):
            control.stop()

    first = run_job(
        make_job(db_url, model=hf_model(tiny_bert_dir), epochs=2), on_event=stop_in_epoch_two, control=control
    )
    assert first.status == "cancelled", first.message
    resumed = run_job(resume_job(first.run_id, db_url=db_url))
    assert resumed.status == "completed" and resumed.run_id == first.run_id, resumed.message


def test_export_rebuilds_the_frozen_part(db_url, make_job, tiny_bert_dir, tmp_path):
    result = run_job(make_job(db_url, model=hf_model(tiny_bert_dir), epochs=1))
    out = export_run(result.run_id, "torchscript", tmp_path / "model.pt", db_url=db_url)
    assert out.is_file() and out.stat().st_size > 0


def test_nothing_is_left_out_when_the_encoder_trains(tiny_bert_dir):
    ctx = ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=7)
    full = build_model(ModelSpec.from_dict(hf_model(tiny_bert_dir, "full")), ctx)
    assert FrozenState.of(full).keys == () and FrozenState.of(full).meta() == {}
    top = build_model(ModelSpec.from_dict(hf_model(tiny_bert_dir, "top:1")), ctx)
    keys = FrozenState.of(top).keys
    assert any(".layer.0." in k for k in keys) and not any(
        ".layer.1." in k for k in keys
    )  # the top block trains
    lora = build_model(ModelSpec.from_dict(hf_model(tiny_bert_dir, "lora")), ctx)
    assert not any("lora_" in k for k in FrozenState.of(lora).keys)  # the adapters train


def _spec_and_model(bert: Path, seed: int):
    spec = ModelSpec.from_dict(hf_model(bert))
    torch.manual_seed(seed)
    return spec, build_model(
        spec, ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=7)
    ).eval()


def test_an_older_checkpoint_holding_every_weight_still_loads(tiny_bert_dir, tmp_path):
    from mmstudio.models import example_batch

    spec, trained = _spec_and_model(tiny_bert_dir, seed=1)
    path = checkpoints.save_checkpoint(
        tmp_path / "old", model_state=trained.state_dict(), meta={"model": spec.to_dict()}
    )
    loaded = checkpoints.load_checkpoint(path)
    _, fresh = _spec_and_model(tiny_bert_dir, seed=2)  # another head: only the checkpoint makes it equal
    state = complete_model_state(fresh, loaded.model_state, loaded.meta, path)
    assert state is loaded.model_state  # nothing to complete
    fresh.load_state_dict(state)
    batch = example_batch(spec, fresh.ctx, batch_size=3)
    with torch.no_grad():
        assert torch.equal(fresh(batch)["logits"], trained(batch)["logits"])


def test_a_new_checkpoint_rebuilds_the_same_outputs(tiny_bert_dir, tmp_path):
    from mmstudio.models import example_batch

    spec, trained = _spec_and_model(tiny_bert_dir, seed=1)
    frozen = FrozenState.of(trained)
    path = checkpoints.save_checkpoint(
        tmp_path / "new",
        model_state=frozen.strip(trained.state_dict()),
        meta={"model": spec.to_dict(), **frozen.meta()},
    )
    loaded = checkpoints.load_checkpoint(path)
    _, fresh = _spec_and_model(tiny_bert_dir, seed=2)
    fresh.load_state_dict(complete_model_state(fresh, loaded.model_state, loaded.meta, path))
    batch = example_batch(spec, fresh.ctx, batch_size=3)
    with torch.no_grad():
        assert torch.equal(fresh(batch)["logits"], trained(batch)["logits"])


def test_other_pretrained_weights_are_refused_naming_the_pull(tiny_bert_dir, tmp_path):
    spec, trained = _spec_and_model(tiny_bert_dir, seed=1)
    frozen = FrozenState.of(trained)
    recorded = spec.to_dict()
    recorded["text_encoder"] = {
        **recorded["text_encoder"],
        "model": "org/bert",
        "revision": "0123456789abcdef",
    }
    meta = {"model": recorded, **frozen.meta()}
    path = checkpoints.save_checkpoint(
        tmp_path / "new", model_state=frozen.strip(trained.state_dict()), meta=meta
    )
    loaded = checkpoints.load_checkpoint(path)
    _, other = _spec_and_model(tiny_bert_dir, seed=2)
    with torch.no_grad():
        other.text_encoder.model.embeddings.word_embeddings.weight.add_(1.0)  # not the weights trained with
    with pytest.raises(CheckpointError) as info:
        complete_model_state(other, loaded.model_state, loaded.meta, path)
    message = str(info.value)
    assert (
        "holds only the trained weights" in message
        and "text encoder org/bert (revision 0123456789ab)" in message
    )
    assert "mmstudio models pull org/bert@0123456789abcdef" in message


def test_a_run_whose_hub_model_is_gone_names_the_pull_of_its_revision(
    db_url, make_job, tiny_bert_dir, small_demo
):
    """The frozen weights are rebuilt from the model the spec names: when it is not on this machine,
    eval says which exact revision to pull (the tokenizer, read first, says the same)."""
    import json

    from mmstudio.data.hf_tokenizer import HFTokenizer
    from mmstudio.models.fetch import ModelNotCached

    result = run_job(make_job(db_url, model=hf_model(tiny_bert_dir), epochs=1))
    with Store.open(db_url) as store:
        manifest = store.run_dir(result.run_id) / "best.json"
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["meta"]["model"]["text_encoder"].update(model="org/tiny-bert", revision="0123abcd" * 5)
    manifest.write_text(json.dumps(document), encoding="utf-8")
    with Store.open(db_url) as store, pytest.raises(ModelNotCached) as info:
        load_run(store, result.run_id)
    assert f"mmstudio models pull org/tiny-bert@{'0123abcd' * 5}" in str(info.value)

    with pytest.raises(FileNotFoundError) as missing:
        HFTokenizer(tiny_bert_dir.parent / "gone", model_id="org/tiny-bert", revision="0123abcd")
    assert "'mmstudio models pull org/tiny-bert@0123abcd'" in str(missing.value)
