"""The fusion guard (issue 14): a fused model is never worse on val than its better modality.

Each modality gets a head of its own, trained with its own loss; when training ends the best weights
are scored on val with the fused prediction and with each modality's head, and the model answers from
the best of the three from then on: in the run's final evaluation, and in every later evaluation,
export or inference of the saved run.
"""

from __future__ import annotations

import csv
import random

import numpy as np
import pytest
import torch
from PIL import Image

from mmstudio.data.spec import DatasetSpec
from mmstudio.models import ModelContext, build_model
from mmstudio.store import Store
from mmstudio.training import checkpoints
from mmstudio.training import events as ev
from mmstudio.training.inference import evaluate_run
from mmstudio.training.runner import run_job
from mmstudio.training.spec import RunJob, TrainSpec

FUSED = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 8, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.1},
}
CTX = {"vocab_size": 50, "num_outputs": 3, "image_size": 16, "max_len": 8}


def _batch(n: int = 4) -> dict[str, torch.Tensor]:
    return {
        "tokens": torch.randint(2, 50, (n, 8)),
        "lengths": torch.full((n,), 8),
        "image": torch.randn(n, 3, 16, 16),
        "target": torch.arange(n) % 3,
    }


def noise_images(root, n: int = 360, seed: int = 0):
    """``n`` items in 3 classes: the caption names the class in 3 of 4 items among filler words, the
    image is uniform noise, a different one per item (nothing to learn, everything to memorise)."""
    rng, noise = random.Random(seed), np.random.default_rng(seed)
    classes, filler = ["alpha", "beta", "gamma"], [f"w{i}" for i in range(40)]
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        label = classes[i % 3]
        words = [*rng.sample(filler, 5), label if rng.random() < 0.75 else rng.choice(classes)]
        rng.shuffle(words)
        path = f"images/{i:04d}.png"
        Image.fromarray(noise.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / path)
        rows.append({"image": path, "caption": " ".join(words), "label": label})
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "caption", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return root


# --- the model ------------------------------------------------------------------------------------


def test_each_modality_gets_a_head_and_a_loss_of_its_own():
    torch.manual_seed(0)
    model = build_model(FUSED, ModelContext(**CTX, unimodal_heads=True))
    batch = _batch()
    outputs = model(batch)
    assert set(outputs) == {"logits", "logits_alone_text", "logits_alone_image"}
    assert outputs["logits_alone_text"].shape == (4, 3)
    from mmstudio.models.heads import task_loss

    fused = task_loss("classification", {"logits": outputs["logits"]}, batch)
    text = task_loss("classification", {"logits": outputs["logits_alone_text"]}, batch)
    image = task_loss("classification", {"logits": outputs["logits_alone_image"]}, batch)
    assert model.loss(outputs, batch).item() == pytest.approx(
        (fused + 0.5 * text + 0.5 * image).item(), rel=1e-6
    )

    model.eval()
    model.answer_from = "text"
    with torch.no_grad():
        answered = model(batch)
        changed = dict(batch, image=torch.randn(4, 3, 16, 16))  # the image no longer matters
        assert torch.equal(model(changed)["logits"], answered["logits"])
    assert torch.equal(answered["logits"], answered["logits_alone_text"])


def test_without_the_guard_or_with_one_modality_the_model_is_as_before():
    plain = build_model(FUSED, ModelContext(**CTX))
    assert plain.unimodal_heads is None and set(plain(_batch())) == {"logits"}
    assert not any(key.startswith("unimodal_heads.") for key in plain.state_dict())
    text_only = {**FUSED, "image_encoder": {"name": "none"}, "fusion": {"name": "none"}}
    assert build_model(text_only, ModelContext(**CTX, unimodal_heads=True)).unimodal_heads is None


def test_a_spec_stored_before_the_guard_resumes_without_it():
    stored = TrainSpec().to_dict()
    del stored["fusion_guard"]
    assert TrainSpec.from_stored(stored).fusion_guard is False
    assert TrainSpec().fusion_guard is True


# --- a run ----------------------------------------------------------------------------------------


@pytest.fixture
def noise_run(tmp_path_factory):
    """A fused model trained where the image is noise: the guard's choice, the log and the run."""
    root = noise_images(tmp_path_factory.mktemp("noise"))
    db = f"sqlite:///{root / 'runs.db'}"
    data = DatasetSpec(str(root), val_fraction=0.25, test_fraction=0.15)
    train = TrainSpec(epochs=6, image_size=16, device="cpu", early_stopping=False, log_every_steps=5)
    logs: list[str] = []
    result = run_job(
        RunJob(data, FUSED, train, db_url=db),
        on_event=lambda e: logs.append(e.message) if isinstance(e, ev.LogMessage) else None,
    )
    assert result.status == "completed", result.message
    return root, db, data, result, logs


def _guard_line(logs: list[str]) -> str:
    [line] = [m for m in logs if m.startswith("fusion guard:")]
    return line


def test_the_guard_answers_from_the_informative_modality_when_the_other_is_noise(noise_run):
    _, db, _, result, logs = noise_run
    line = _guard_line(logs)
    assert "the text alone scores better" in line and "ignores the image" in line, line
    # the run's val score is the best of the three the guard compared: never below the text's head
    scores = [float(x) for x in _numbers(line)]
    text_alone, fused = scores[:2]
    assert text_alone > fused and result.metrics["val/accuracy"] == pytest.approx(text_alone, abs=5e-5)
    with Store.open(db) as store:
        best = checkpoints.load_checkpoint(checkpoints.manifest_path(store.run_dir(result.run_id) / "best"))
    assert best.meta["answer_from"] == "text"
    assert any(key.startswith("unimodal_heads.text.") for key in best.model_state)
    # with the image masked, nothing changes: the model no longer reads it
    assert result.metrics["test_image_masked/accuracy"] == pytest.approx(result.metrics["test/accuracy"])


def test_the_saved_run_answers_as_the_guard_chose(noise_run):
    _, db, data, result, _ = noise_run
    dataset = data.load()
    scored = evaluate_run(result.run_id, dataset, split="test", device="cpu", db_url=db)["metrics"]
    assert scored["accuracy"] == pytest.approx(result.metrics["test/accuracy"])
    assert scored["loss"] == pytest.approx(result.metrics["test/loss"], rel=1e-5)


def test_no_fusion_guard_trains_no_extra_heads(tmp_path, make_job):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    logs: list[str] = []
    result = run_job(
        make_job(db, fusion_guard=False),
        on_event=lambda e: logs.append(e.message) if isinstance(e, ev.LogMessage) else None,
    )
    assert result.status == "completed", result.message
    assert not any(m.startswith("fusion guard:") for m in logs)
    with Store.open(db) as store:
        best = checkpoints.load_checkpoint(checkpoints.manifest_path(store.run_dir(result.run_id) / "best"))
    assert not any(key.startswith("unimodal_heads.") for key in best.model_state)
    assert best.meta.get("answer_from") is None


def _numbers(line: str) -> list[str]:
    """The scores of a guard line that chose one modality: its own, then the fusion's."""
    import re

    return re.findall(r"(?<=[ (])(\d+\.\d+|\d+)(?=\))", line)


def test_the_model_page_counts_and_names_the_guards_heads():
    """The diagram's blocks add up to the total, the guard's heads in the head block, named there."""
    from mmstudio.models.summary import summarize

    summary = summarize(FUSED, ModelContext(**CTX, unimodal_heads=True))
    assert sum(block.params for block in summary.blocks) == summary.total_params
    plain = summarize(FUSED, ModelContext(**CTX))
    assert summary.total_params > plain.total_params
    from mmstudio.training.preflight import architecture_diagram

    diagram = architecture_diagram(FUSED, summary.to_dict(), context=CTX)
    [head] = [block for block in diagram.trunk if block.key == "head"]
    assert "+ a head per modality (guard)" in head.lines
    assert "one head per modality, mixed" not in head.lines  # that is late fusion's
