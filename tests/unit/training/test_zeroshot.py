"""The zero-shot baseline (:mod:`mmstudio.training.zeroshot`) on tiny random CLIP / SigLIP pairs
(tests/conftest.py): accuracy is near chance, the point is the pipeline and what the run records."""

from __future__ import annotations

import threading

import pytest

from mmstudio.data.spec import DatasetSpec
from mmstudio.progress import Cancelled
from mmstudio.store import Store
from mmstudio.store.compare import load_comparison
from mmstudio.store.summaries import fetch_records
from mmstudio.training.zeroshot import ZeroShotError, build_prompts, humanize_label, zeroshot


@pytest.fixture(scope="module")
def demo(small_demo):
    return DatasetSpec(path=str(small_demo)).load()


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'runs.db'}"


def test_prompts_are_built_from_humanised_label_names():
    assert humanize_label("circle-sale") == "circle sale"
    assert humanize_label("big_red/dog") == "big red dog"
    assert build_prompts(["circle-sale", "lost"], "a photo of {label}.") == [
        "a photo of circle sale.",
        "a photo of lost.",
    ]
    with pytest.raises(ZeroShotError, match=r"\{label\}"):
        build_prompts(["a"], "a photo")


def test_a_clip_pair_scores_the_test_split_and_records_a_completed_run(tiny_clip_pair_dir, demo, db):
    from mmstudio.models.fetch import resolve

    seen = []
    result = zeroshot(str(tiny_clip_pair_dir), demo, db_url=db, progress=lambda d, t: seen.append((d, t)))
    tested = [n for n, item in enumerate(demo.items) if item.split == "test"]
    assert result["items"] == len(tested) and result["family"] == "clip"
    assert result["prompts"][demo.labels.index("circle-sale")] == "a photo of circle sale"
    assert set(result["metrics"]) == {"test/accuracy", "test/macro_f1"}
    assert 0.0 <= result["metrics"]["test/accuracy"] <= 1.0
    assert seen[-1] == (len(tested), len(tested))

    revision = resolve(str(tiny_clip_pair_dir)).revision
    with Store.open(db) as store:
        run = store.get_run(result["run_id"])
        assert run.status.value == "completed" and run.duration_s is not None
        assert "zeroshot" in run.tags
        assert run.spec["task"] == "classification"
        for slot in ("text_encoder", "image_encoder"):
            assert run.spec[slot] == {"name": "hf", "model": result["model"], "revision": revision}
        assert run.spec["fusion"] == {"name": "zeroshot"}
        assert run.spec["head"]["family"] == "clip" and run.spec["head"]["prompt"] == "a photo of {label}"
        assert run.dataset_spec["path"] and run.dataset_id is not None
        stats = store.metric_stats([run.id])[run.id]
        assert stats["test/accuracy"].last_value == pytest.approx(result["metrics"]["test/accuracy"])
        (evaluation,) = store.list_evaluations(run.id)
        assert evaluation.split == "test" and evaluation.ablation is None
        assert evaluation.labels == demo.labels and len(evaluation.confusion_matrix) == len(demo.labels)
        predictions = store.list_predictions(run.id, evaluation_id=evaluation.id)
        assert [p.item_index for p in predictions] == tested
        assert all(p.true_label == demo.items[p.item_index].label for p in predictions)
        assert all(len(p.probabilities) == len(demo.labels) for p in predictions)
        accuracy = sum(p.correct for p in predictions) / len(predictions)
        assert accuracy == pytest.approx(result["metrics"]["test/accuracy"])
        # the Experiments page's record and the Compare page's comparison read it as any run
        record = fetch_records(store, [run.id])[run.id]
        assert record.metric == "test/accuracy" and record.architecture == "hf + hf · zeroshot"
        comparison = load_comparison(store, [run.id])
        assert len(comparison.predictions[run.id]) == len(tested)


def test_siglip_scores_with_sigmoid_probabilities(tiny_siglip_pair_dir, demo, db):
    result = zeroshot(str(tiny_siglip_pair_dir), demo, db_url=db, split="all", use_text=True)
    assert result["family"] == "siglip" and result["items"] == len(demo.items)
    with Store.open(db) as store:
        predictions = store.list_predictions(result["run_id"])
    probabilities = predictions[0].probabilities
    assert all(0.0 < p < 1.0 for p in probabilities) and predictions[0].score == max(probabilities)
    assert sum(probabilities) != pytest.approx(1.0)  # one sigmoid per label, not a softmax


def test_a_pickle_only_folder_is_refused_and_nothing_is_recorded(tiny_clip_pair_dir, tmp_path, demo, db):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for path in tiny_clip_pair_dir.iterdir():
        if path.suffix != ".safetensors":
            (folder / path.name).write_bytes(path.read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ZeroShotError, match="pickled weights"):
        zeroshot(str(folder), demo, db_url=db)
    with Store.open(db) as store:
        assert store.count_runs() == 0


def test_a_model_that_is_not_a_pair_says_so(tiny_bert_dir, demo, db):
    with pytest.raises(ZeroShotError, match="bert model, not a CLIP or SigLIP pair"):
        zeroshot(str(tiny_bert_dir), demo, db_url=db)


def test_a_dataset_without_the_split_or_the_text_asked_for_is_refused(tiny_clip_pair_dir, demo, db):
    import dataclasses

    training_only = dataclasses.replace(demo, items=[i for i in demo.items if i.split == "train"])
    with pytest.raises(ZeroShotError, match="no labelled test items"):
        zeroshot(str(tiny_clip_pair_dir), training_only, db_url=db)


def test_a_cancelled_scoring_is_recorded_stopped(tiny_clip_pair_dir, demo, db):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        zeroshot(str(tiny_clip_pair_dir), demo, db_url=db, cancel=cancel)
    with Store.open(db) as store:
        assert store.count_runs() == 0  # cancelled while loading: before the run was recorded
    cancel.clear()

    def stop_after_first(done, total):
        cancel.set()

    with pytest.raises(Cancelled):
        zeroshot(
            str(tiny_clip_pair_dir),
            demo,
            db_url=db,
            split="all",
            batch_size=16,
            cancel=cancel,
            progress=stop_after_first,
        )
    with Store.open(db) as store:
        (run,) = store.list_runs()
        assert run.status.value == "cancelled"


def test_an_image_that_cannot_be_read_fails_the_run_in_one_sentence(
    tiny_clip_pair_dir, small_demo, tmp_path, db
):
    import shutil

    copy = shutil.copytree(small_demo, tmp_path / "demo")
    dataset = DatasetSpec(path=str(copy)).load()
    item = next(i for i in dataset.items if i.split == "test")
    item.image.path.write_bytes(b"no longer a picture")
    with pytest.raises(ZeroShotError, match=f"the image of row {item.row} .* could not be read"):
        zeroshot(str(tiny_clip_pair_dir), dataset, db_url=db)
    with Store.open(db) as store:
        (run,) = store.list_runs()
        assert run.status.value == "failed"
