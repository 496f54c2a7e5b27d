"""Preflight: the checks before training that the Model page and ``mmstudio train --check`` share: the
spec for a dataset, the data's facts and the model's context, the summary, one real batch, the
architecture as text, and the runner refusing what the page would explain."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mmstudio.data.dataset import load_dataset
from mmstudio.data.types import ColumnRoles
from mmstudio.formatting import format_bytes, format_count
from mmstudio.models import ModelContext, ModelSpec, default_spec, preset_spec, summarize
from mmstudio.progress import Cancelled, TaskState
from mmstudio.store import Store
from mmstudio.training.data import PreparedData
from mmstudio.training.preflight import (
    DEFAULT_CLASSES,
    DEFAULT_VOCAB,
    MIN_VOCAB,
    architecture_diagram,
    check_job,
    check_on_batch,
    dataset_facts,
    describe_check,
    describe_context,
    format_shape,
    fusion_reads_tokens,
    job_problems,
    labels_note,
    model_context,
    resolve_model_spec,
    summarize_spec,
)
from mmstudio.training.runner import UNUSABLE_INPUT
from mmstudio.training.spec import TrainSpec

CTX = ModelContext(vocab_size=500, num_outputs=6, image_size=64, max_len=32)
CONTEXT = {"vocab_size": 500, "num_outputs": 6, "image_size": 64, "max_len": 32, "labels": "a, b, c, …"}
SMALL = TrainSpec(batch_size=16, image_size=32, max_len=16)


@pytest.fixture(scope="module")
def demo(small_demo):
    return load_dataset(small_demo)


@pytest.fixture(scope="module")
def text_only(demo):
    """The demo without its image column: a text-only dataset."""
    source = dataclasses.replace(demo.source, columns=ColumnRoles(text="caption", label="label"))
    return dataclasses.replace(demo, source=source)


def data_for(spec: ModelSpec | dict, **kwargs):
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.from_dict(spec)
    summary = summarize(spec, CTX, batch_size=8).to_dict()
    return architecture_diagram(spec.to_dict(), summary, context=CONTEXT, **kwargs), summary


# --- the spec for a dataset --------------------------------------------------------------------------


def test_the_spec_for_a_dataset_is_the_runners_and_the_pages_default(demo, text_only):
    assert resolve_model_spec({}) == default_spec("classification")  # no dataset yet
    assert resolve_model_spec({}, demo) == default_spec("classification")
    spec = resolve_model_spec({}, text_only)
    assert not spec.has_image and spec.fusion["name"] == "none"
    retrieval = dataclasses.replace(demo, source=dataclasses.replace(demo.source, task="retrieval"))
    assert resolve_model_spec({}, retrieval).task == "contrastive"


# --- facts and context -------------------------------------------------------------------------------


@pytest.mark.parametrize("tokenizer", ["word", "bpe"])
def test_the_facts_fit_the_tokenizer_training_fits(demo, tokenizer):
    train = TrainSpec(tokenizer=tokenizer, vocab_max_size=300, image_size=32, max_len=16)
    facts = dataset_facts(demo, train)
    data = PreparedData(demo, train, "classification", need_image=False)
    assert facts.vocab_size == data.vocab_size == facts.tokenizer.vocab_size
    assert facts.tokenizer.to_dict() == data.tokenizer.to_dict()
    assert facts.labels == tuple(data.labels) and facts.items == len(demo.items)
    assert (facts.task, facts.has_text, facts.has_image) == ("classification", True, True)
    assert json.loads(json.dumps(facts.to_dict()))["vocab_size"] == facts.vocab_size


def test_without_a_train_spec_no_tokenizer_is_fit(text_only):
    facts = dataset_facts(text_only)
    assert facts.vocab_size is None and facts.tokenizer is None and not facts.has_image
    assert model_context("classification", SMALL, facts)["vocab_size"] == MIN_VOCAB


def test_reading_the_facts_can_be_cancelled(demo):
    state = TaskState()
    state.cancel()
    with pytest.raises(Cancelled):
        dataset_facts(demo, SMALL, cancel=state)


def test_the_context_of_each_task(demo):
    facts = dataset_facts(demo, SMALL)
    ctx = model_context("classification", SMALL, facts)
    assert ctx == {
        "vocab_size": facts.vocab_size,
        "num_outputs": len(facts.labels),
        "image_size": 32,
        "max_len": 16,
        "has_text": True,
        "has_image": True,
        "unimodal_heads": True,
    }
    assert model_context("multilabel", SMALL, facts)["num_outputs"] == len(facts.multilabels)
    assert model_context("regression", SMALL, facts)["num_outputs"] == 1
    assert model_context("contrastive", SMALL, facts)["num_outputs"] == 0
    ModelContext(**ctx)  # the fields of a ModelContext, nothing else
    without = model_context("classification", SMALL, has_text=True, has_image=False)
    assert (without["vocab_size"], without["num_outputs"]) == (DEFAULT_VOCAB, DEFAULT_CLASSES)
    assert (without["has_text"], without["has_image"]) == (True, False)


def test_the_data_in_words(demo):
    facts = dataset_facts(demo, SMALL)
    assert describe_context(SMALL).startswith("No dataset loaded: shapes assume a 10,000-word vocabulary")
    assert describe_context(SMALL, None, "demo") == "Reading the vocabulary and labels of demo…"
    text = describe_context(SMALL, facts)
    assert f"{len(demo.items):,} pairs" in text and f"a vocabulary of {facts.vocab_size:,} tokens" in text
    assert "32 px images, texts of 16 tokens, batch size 16" in text
    assert labels_note(facts, "classification") == ", ".join(facts.labels[:4]) + ", …"
    assert labels_note(None, "classification") == ""


# --- validation and the summary ----------------------------------------------------------------------


def test_a_valid_spec_is_summarised_and_an_invalid_one_explained():
    context = {**CONTEXT, "has_text": None, "has_image": None}
    del context["labels"]
    found = summarize_spec(preset_spec("gated").to_dict(), context, 8)
    assert found["issues"] == [] and found["error"] is None
    assert found["summary"] == summarize(preset_spec("gated"), CTX, batch_size=8).to_dict()
    bad = {**preset_spec("cross_attention").to_dict()}
    bad["fusion"] = {**bad["fusion"], "heads": 3}
    found = summarize_spec(bad, context, 8)
    assert found["summary"] is None
    assert found["issues"] == [
        {
            "level": "error",
            "component": "fusion",
            "message": "cross_attention: dim 128 must be divisible by heads 3",
        }
    ]
    shapeless = summarize_spec({"text_encoder": "bag"}, context, 8)  # no task: structure, not values
    assert shapeless["summary"] is None and "needs a task" in shapeless["issues"][0]["message"]


# --- one real batch ----------------------------------------------------------------------------------


def test_a_batch_goes_forward_and_backward(demo):
    messages: list[str] = []
    state = TaskState(lambda _fraction, message: messages.append(message))
    result = check_on_batch(preset_spec("gated").to_dict(), demo, SMALL, state=state)  # facts found here
    assert result["batch_size"] == 16 and result["outputs"]["logits"] == [16, 6]
    assert result["finite"] and 0 < result["loss"] < 10 and result["backward_s"] is not None
    assert "Forward pass…" in messages
    level, text = describe_check(result)
    assert level == "info" and "logits [B, 6]" in text and f"loss {result['loss']:.4g}" in text
    level, text = describe_check({**result, "finite": False})
    assert level == "warning" and text.endswith("training would diverge from the first step.")


def test_a_check_can_be_cancelled(demo):
    state = TaskState()
    facts = dataset_facts(demo, SMALL)
    state.cancel()
    with pytest.raises(Cancelled):
        check_on_batch(preset_spec("text_only").to_dict(), demo, SMALL, facts, state=state)


# --- the architecture as text (drawn by the page, printed by train --check) --------------------------
def test_formatting():
    assert format_count(999) == "999"
    assert format_count(738_496) == "738.5 K"
    assert format_count(25_557_032) == "25.56 M"
    assert format_bytes(512) == "512 bytes"
    assert format_bytes(48_033_504) == "45.8 MiB"
    assert format_shape([8, 192]) == "[B, 192]"


def test_a_bimodal_spec_has_both_branches_fusion_and_head():
    data, summary = data_for(preset_spec("early_concat"))
    assert [b.key for b in data.text] == ["text_input", "text_encoder"]
    assert [b.key for b in data.image] == ["image_input", "image_encoder"]
    assert [b.key for b in data.trunk] == ["fusion", "head"]
    text = data.blocks["text_encoder"].text()
    params = summary["blocks"][0]["params"]
    assert "textcnn" in text and "→ [B, 192]" in text and f"{format_count(params)} parameters" in text
    assert "tokens [B, 32]" in data.blocks["text_input"].text()
    assert "vocabulary 500" in data.blocks["text_input"].text()
    assert "[B, 3, 64, 64]" in data.blocks["image_input"].text()
    assert "→ [B, 320]" in data.blocks["fusion"].text()  # 192 + 128
    assert "→ logits [B, 6]" in data.blocks["head"].text()
    assert data.output == "6 classes: a, b, c, …"
    assert data.footer[0] == f"Total: {format_count(summary['total_params'])} parameters"
    assert data.footer[1].startswith(
        f"Training memory ≈ {format_bytes(summary['memory_bytes'])} at batch size 8"
    )


def test_a_unimodal_spec_shows_one_branch_and_no_fusion():
    data, _ = data_for(preset_spec("text_only"))
    assert data.image == () and [b.key for b in data.trunk] == ["head"]
    data, _ = data_for(preset_spec("image_only"))
    assert data.text == () and [b.key for b in data.trunk] == ["head"]


def test_token_shapes_show_when_the_fusion_reads_tokens_and_late_fusion_lists_its_streams():
    data, _ = data_for(preset_spec("cross_attention"), needs_tokens=True)
    assert "tokens [B, 32, 128]" in data.blocks["text_encoder"].text()
    data, _ = data_for(preset_spec("late_fusion"))
    assert "text [B, 192]" in data.blocks["fusion"].text()
    assert "image [B, 128]" in data.blocks["fusion"].text()
    assert "one head per modality" in data.blocks["head"].text()


def test_contrastive_has_no_fusion_and_outputs_embeddings():
    spec = ModelSpec.from_dict({"task": "contrastive", "text_encoder": "bag", "image_encoder": "small_cnn"})
    data, _ = data_for(spec)
    assert [b.key for b in data.trunk] == ["head"]
    head = data.blocks["head"].text()
    assert "text_embedding [B, 128]" in head and "image_embedding [B, 128]" in head
    assert "logit_scale" not in head


def test_without_a_summary_blocks_have_names_and_issues_colour_them():
    spec = preset_spec("cross_attention").to_dict()
    issues = [{"level": "error", "component": "fusion", "message": "dim 128 must be divisible by heads 3"}]
    data = architecture_diagram(spec, None, context=CONTEXT, issues=issues)
    assert data.blocks["fusion"].level == "error"
    assert "divisible by heads 3" in data.blocks["fusion"].tooltip
    assert data.blocks["text_encoder"].lines == ("—",)
    assert data.footer == (
        "1 error to fix, explained beside each choice; shapes and parameter counts follow",
    )
    pending = architecture_diagram(spec, None, context=CONTEXT, pending=True)
    assert pending.footer == ("Computing shapes and parameter counts…",)


def test_the_diagram_as_text_lines():
    data, _ = data_for(preset_spec("early_concat"))
    lines = data.text_lines()
    assert lines[0].split() == ["Input", "Text", "tokens", "[B,", "32];", "vocabulary", "500"]
    encoder = next(line for line in lines if line.startswith("Text encoder"))
    assert "textcnn" in encoder and "→ [B, 192]" in encoder and "parameters" in encoder
    assert "Output         6 classes: a, b, c, …" in lines
    assert lines[-3:] == list(data.footer) and lines[-3].startswith("Total: ")
    assert fusion_reads_tokens(preset_spec("cross_attention").to_dict())
    assert not fusion_reads_tokens(preset_spec("gated").to_dict())


# --- the whole preflight of a job, and the runner's own check ----------------------------------------


def test_check_job_finds_everything_and_records_nothing(demo):
    report = check_job(demo, {"preset": "gated"}, SMALL)
    assert report.ok and report.errors == [] and report.spec["fusion"]["name"] == "gated"
    assert report.check["outputs"]["logits"] == [16, 6]
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["ok"] and doc["dataset"]["vocab_size"] == report.facts.vocab_size
    assert doc["summary"]["total_params"] > 0 and doc["check"]["finite"]
    text = "\n".join(report.text_lines())
    assert "Fusion" in text and "gated" in text and "Training memory ≈" in text and "went through" in text
    with Store.open() as store:
        assert store.list_runs() == []


def test_check_job_stops_at_the_errors(text_only):
    report = check_job(text_only, {"image_encoder": "small_cnn"}, SMALL)
    assert not report.ok and report.check is None and report.summary is None
    assert report.errors[0]["message"].startswith("the dataset has no images, so the small_cnn encoder")
    lines = report.text_lines()  # the data, the settings it chose (train_for_data), a blank line, errors
    assert lines[1].startswith("best checkpoint by val/accuracy (max)")
    assert lines[lines.index("") + 1].startswith("error: image_encoder: the dataset has no images")
    with pytest.raises(ValueError, match="unknown model spec key"):
        check_job(text_only, {"encoder": "x"}, SMALL)


def test_the_runner_checks_a_spec_against_the_pages_context(text_only):
    """The runner refuses, before any run exists, what the page and train --check explain: it checks
    against the same context (:func:`model_context`), before the tokenizer is fit."""
    from mmstudio.training.runner import _check_spec
    from mmstudio.training.trainer import TrainingFailed

    with pytest.raises(TrainingFailed) as info:
        _check_spec(default_spec("classification"), text_only, SMALL)
    assert info.value.kind == UNUSABLE_INPUT
    assert f"{text_only.root.name} has no images, so the image encoder (small_cnn) has nothing" in str(
        info.value
    )
    gated = resolve_model_spec({"image_encoder": "none", "fusion": "gated"}, text_only)
    with pytest.raises(TrainingFailed) as info:
        _check_spec(gated, text_only, SMALL)
    assert info.value.kind == UNUSABLE_INPUT
    # A sentence for people, the part of the model named in words (not "- fusion: ...").
    assert str(info.value).startswith(
        "the model cannot be built as specified: the fusion: gated fusion combines text with images"
    )
    _check_spec(resolve_model_spec({}, text_only), text_only, SMALL)  # the default for it passes


def _relabelled(dataset, label=None, split=None):
    items = [
        dataclasses.replace(item, **{k: v for k, v in (("label", label), ("split", split)) if v is not None})
        for item in dataset.items
    ]
    return dataclasses.replace(dataset, items=items)


def test_job_problems_say_what_the_data_cannot_train_whatever_the_model(demo, text_only):
    name = demo.root.name
    assert job_problems(demo) == job_problems(demo, resolve_model_spec({}, demo).to_dict()) == []
    assert job_problems(text_only) == []  # its default model reads texts only
    one_label = _relabelled(demo, label="cat")
    assert job_problems(one_label) == [
        f"{name} has a single label ('cat'), and a classification model needs at least two to tell apart: "
        "add items of another label, or open a dataset with two labels or more"
    ]
    assert job_problems(one_label, {"task": "multilabel"}) == []  # one yes/no label is a multilabel task
    [held_out] = job_problems(_relabelled(demo, split="test"))
    assert held_out.startswith(f"{name} has no items in the training split (0 validation and 240 test")
    [numbers] = job_problems(demo, {"task": "regression"})
    assert (
        numbers.startswith(f"the labels of {name} are not numbers (")
        and "choose the classification" in numbers
    )
    assert job_problems(_relabelled(demo, label="2.5"), {"task": "regression"}) == []
    [unlabelled] = job_problems(_relabelled(demo, label=""))
    assert unlabelled.startswith(f"{name} has no labels, so it cannot train a classification model")
    [contrastive] = job_problems(text_only, {"task": "contrastive"})
    assert contrastive == f"a contrastive model matches texts with images, and {name} has no images"
    [encoder] = job_problems(text_only, {"image_encoder": {"name": "resnet18"}})
    assert encoder.startswith(f"{name} has no images, so the image encoder (resnet18) has nothing to read")
    assert job_problems(text_only, {"image_encoder": "none"}) == []


def test_the_runner_refuses_a_job_the_data_cannot_train_before_a_run_is_recorded(
    single_label_demo, tmp_path, make_job
):
    """A single-label dataset: the job is refused with the sentence the Train page shows, no run made."""
    from mmstudio.training.runner import run_job

    db_url = f"sqlite:///{tmp_path / 'runs.db'}"
    result = run_job(make_job(db_url, data=single_label_demo))
    assert result.status == "failed" and result.kind == UNUSABLE_INPUT and result.run_id is None
    assert result.message.startswith(
        f"{single_label_demo.name} has a single label ('cat'), and a classification"
    )
    with Store.open(db_url) as store:
        assert store.list_runs() == []


def test_one_of_a_thing_is_spoken_of_as_one():
    """Issue 12 #19: "1 labels", "1 classes", "1 epochs" read as slips."""
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.preflight import _output_text
    from mmstudio.training.spec import RunJob, TrainSpec

    assert _output_text("multilabel", {"num_outputs": 1}) == "1 label, each yes or no"
    assert _output_text("classification", {"num_outputs": 1}) == "1 class"
    job = RunJob(DatasetSpec(path="data"), model={}, train=TrainSpec(epochs=1), name="once")
    assert " · 1 epoch, batch" in job.title
