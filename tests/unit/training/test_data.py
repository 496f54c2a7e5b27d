"""PreparedData: labels, tokenizer, caches, splits, the batch contract, shuffling and masking."""

import threading
import uuid

import pytest
import torch
from PIL import Image

from mmstudio.data.dataset import Dataset
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.text import PAD_ID, UNK_ID, WordTokenizer
from mmstudio.data.types import ColumnRoles, DatasetSource, ImageRef, Item, ValidationReport
from mmstudio.progress import Cancelled
from mmstudio.training.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PreparedData,
    group_ids,
    mask_batch,
    split_multilabel,
)
from mmstudio.training.spec import TrainSpec

SPEC = TrainSpec(image_size=8, max_len=6, vocab_min_freq=1, batch_size=4)
COLOURS = {"cat": (255, 0, 0), "dog": (0, 128, 255), "bird": (10, 200, 30)}


def make_dataset(root, rows) -> Dataset:
    """A validated dataset from ``rows`` of (text, label, split[, group]); each image a solid colour."""
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for n, (text, label, split, *group) in enumerate(rows):
        path = root / f"{n:03d}.png"
        colour = COLOURS.get(str(label).split("|")[0], (n * 7 % 256, 90, 160))
        Image.new("RGB", (12, 10), colour).save(path)
        items.append(
            Item(n, n + 1, "data.csv", ImageRef(path), text, label, split, *(group or [None]), 12, 10)
        )
    source = DatasetSource("manifest", root, "test", ColumnRoles("image", "text", "label"), records=[])
    report = ValidationReport(rows=len(items), valid=len(items), problems=[])
    return Dataset(source, items, report, fingerprint=f"test-{uuid.uuid4().hex[:12]}")


def animals(root, n=12):
    """Train: cat, dog, bird in turn; val and test 2 each, their texts with words unseen in train."""
    labels = ["cat", "dog", "bird"]
    rows = [(f"a photo of a {labels[i % 3]} number {i}", labels[i % 3], "train") for i in range(n)]
    rows += [("zebra crossing at night", "cat", "val"), ("a dog again", "dog", "val")]
    rows += [("unseen giraffe words", "bird", "test"), ("", "cat", "test")]
    return make_dataset(root, rows)


@pytest.fixture
def prepared(tmp_path):
    return PreparedData(animals(tmp_path / "ds"), SPEC, "classification", cache_root=tmp_path / "cache")


def test_labels_splits_and_context(prepared):
    assert prepared.labels == ["bird", "cat", "dog"]
    assert prepared.num_outputs == 3
    assert prepared.split_sizes() == {"train": 12, "val": 2, "test": 2}
    assert prepared.splits["val"].tolist() == [12, 13]
    assert prepared.context() == {
        "vocab_size": prepared.tokenizer.vocab_size,
        "num_outputs": 3,
        "image_size": 8,
        "max_len": 6,
        "class_weights": None,
        "unimodal_heads": True,  # the fusion guard (on by default) gives each modality a head
    }
    assert prepared.targets([0, 1, 2, 12]).tolist() == [1, 2, 0, 1]
    assert prepared.problems == [] and prepared.messages == []


def test_the_tokenizer_is_fit_on_the_training_split_only(prepared):
    vocabulary = set(prepared.tokenizer.tokens)
    assert {"photo", "cat", "number", "11"} <= vocabulary
    assert not {"zebra", "giraffe", "unseen", "night"} & vocabulary


def test_batches_follow_the_contract(prepared):
    batch = next(prepared.batches("val", 8))
    assert set(batch) == {"tokens", "lengths", "image", "target", "index"}
    assert batch["tokens"].dtype == torch.int64 and batch["tokens"].shape == (2, 6)
    assert batch["lengths"].dtype == torch.int64 and batch["lengths"].tolist() == [4, 3]
    assert batch["image"].dtype == torch.float32 and batch["image"].shape == (2, 3, 8, 8)
    assert batch["image"].is_contiguous()
    assert batch["target"].dtype == torch.int64 and batch["target"].tolist() == [1, 2]
    assert batch["index"].tolist() == [12, 13]
    # "zebra crossing at night": every word unseen in training.
    assert batch["tokens"][0].tolist() == [UNK_ID] * 4 + [PAD_ID] * 2
    # The val cat image is solid (255, 0, 0): normalised with the ImageNet mean and std.
    expected = [(v / 255 - m) / s for v, m, s in zip((255, 0, 0), IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    assert batch["image"][0].mean(dim=(1, 2)).tolist() == pytest.approx(expected, abs=1e-5)
    assert batch["image"][0].std(dim=(1, 2)).max() < 1e-5


def test_an_empty_text_still_has_length_one(prepared):
    batch = prepared.batch([15])
    assert batch["lengths"].tolist() == [1] and batch["tokens"].tolist() == [[PAD_ID] * 6]


def test_shuffling_is_reproducible_per_seed_and_epoch(prepared):
    def order(**kwargs):
        return [b["index"].tolist() for b in prepared.batches("train", 4, shuffle=True, **kwargs)]

    first = order(seed=1, epoch=0)
    assert first == order(seed=1, epoch=0)
    assert first != order(seed=1, epoch=1) and first != order(seed=2, epoch=0)
    assert sorted(i for b in first for i in b) == list(range(12))
    assert all(b == sorted(b) for b in first)  # sorted within a batch: memmap reads in file order
    assert order(seed=1, epoch=0, start_step=2) == first[2:]  # resuming mid-epoch yields what was left
    assert [b["index"].tolist() for b in prepared.batches("train", 5)] == [
        [0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]
    ]  # fmt: skip
    assert len(list(prepared.batches("train", 5, drop_last=True))) == 2
    assert prepared.num_batches("train", 5) == 3 and prepared.num_batches("train", 5, drop_last=True) == 2
    assert order(epoch=3) == order(seed=SPEC.seed, epoch=3)  # the spec's seed by default


def test_unknown_split_and_bad_batch_size(prepared):
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        prepared.order("dev")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        next(prepared.batches("train", 0))


def test_mask_batch_text_and_image(prepared):
    batch = prepared.batch([0, 1])
    text_masked = mask_batch(batch, "text")
    assert text_masked["tokens"].tolist() == [[UNK_ID] + [PAD_ID] * 5] * 2
    assert text_masked["lengths"].tolist() == [1, 1]
    assert text_masked["image"] is batch["image"]
    image_masked = mask_batch(batch, "image")
    assert torch.count_nonzero(image_masked["image"]) == 0 and image_masked["tokens"] is batch["tokens"]
    assert torch.count_nonzero(batch["image"]) > 0 and batch["lengths"].min() > 1  # the input is untouched
    with pytest.raises(ValueError, match="can mask text or image, not 'audio'"):
        mask_batch(batch, "audio")
    with pytest.raises(ValueError, match="no image to mask"):
        mask_batch({"tokens": batch["tokens"], "lengths": batch["lengths"]}, "image")


def test_a_text_only_model_never_builds_the_image_cache(tmp_path):
    data = PreparedData(
        animals(tmp_path / "ds"), SPEC, "classification", need_image=False, cache_root=tmp_path / "c"
    )
    assert "image" not in data.batch([0])
    assert not (tmp_path / "c" / "images").exists()
    image_only = PreparedData(
        animals(tmp_path / "ds2"), SPEC, "classification", need_text=False, cache_root=tmp_path / "c"
    )
    assert set(image_only.batch([0])) == {"image", "target", "index"}
    assert image_only.tokenizer is None and image_only.vocab_size == 0
    with pytest.raises(ValueError, match="need_text and need_image are both False"):
        PreparedData(animals(tmp_path / "ds3"), SPEC, "classification", need_text=False, need_image=False)


def test_items_whose_image_fails_to_decode_are_left_out_and_reported(tmp_path):
    dataset = animals(tmp_path / "ds")
    dataset.items[3].image.path.write_bytes(b"not a png at all")
    dataset.items[12].image.path.unlink()
    progress = []
    data = PreparedData(
        dataset,
        SPEC,
        "classification",
        cache_root=tmp_path / "c",
        progress=lambda d, t: progress.append((d, t)),
    )
    assert 3 not in data.splits["train"] and 12 not in data.splits["val"]
    assert data.split_sizes() == {"train": 11, "val": 1, "test": 2}
    assert sorted(p.row for p in data.problems) == [4, 13] and all(p.skipped for p in data.problems)
    assert {str(p.kind) for p in data.problems} <= {"corrupt_image", "not_an_image", "missing_file"}
    assert len(data.messages) == 1 and "2 items left out" in data.messages[0]
    assert progress[-1] == (16, 16)


def test_cancel_stops_the_preparation(tmp_path):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        PreparedData(
            animals(tmp_path / "ds"), SPEC, "classification", cancel=cancel, cache_root=tmp_path / "c"
        )


def test_labels_and_tokenizer_from_a_checkpoint_are_reused(tmp_path, prepared):
    dataset = make_dataset(
        tmp_path / "new", [("a cat photo", "cat", "train"), ("a fox", "fox", "train"), ("dog", "dog", "val")]
    )
    again = PreparedData(
        dataset,
        SPEC,
        "classification",
        labels=prepared.labels,
        tokenizer=prepared.tokenizer.to_dict(),
        cache_root=tmp_path / "c",
    )
    assert again.labels == ["bird", "cat", "dog"] and isinstance(again.tokenizer, WordTokenizer)
    assert again.tokenizer.tokens == prepared.tokenizer.tokens
    assert again.splits["train"].tolist() == [0]  # "fox" is not a label the model knows
    assert (
        again.problems[0].row == 2 and "'fox' is not one of the model's labels" in again.problems[0].message
    )
    assert "1 item left out with no label the model knows (first: " in again.messages[0]


def test_class_weights_are_inverse_frequency_on_the_training_split(tmp_path):
    rows = [("t", "a", "train")] * 6 + [("t", "b", "train")] * 2 + [("t", "b", "val")] * 5
    data = PreparedData(make_dataset(tmp_path / "ds", rows), SPEC, "classification", need_image=False)
    assert data.class_weights() == pytest.approx([8 / (2 * 6), 8 / (2 * 2)])
    weighted = TrainSpec(**{**SPEC.to_dict(), "class_weights": True})
    data = PreparedData(make_dataset(tmp_path / "ds2", rows), weighted, "classification", need_image=False)
    assert data.context()["class_weights"] == pytest.approx([2 / 3, 2.0])


def test_multilabel_targets_are_multi_hot(tmp_path):
    rows = [("x", "cat|dog", "train"), ("y", "dog, bird", "train"), ("z", "bird", "val")]
    data = PreparedData(make_dataset(tmp_path / "ds", rows), SPEC, "multilabel", cache_root=tmp_path / "c")
    assert data.labels == ["bird", "cat", "dog"]
    target = data.batch([0, 1, 2])["target"]
    assert target.dtype == torch.float32
    assert target.tolist() == [[0, 1, 1], [1, 0, 1], [1, 0, 0]]
    # pos_weight: negatives / positives on the train split (bird 1/1, cat 1/1, dog 0/2).
    assert data.class_weights() == pytest.approx([1.0, 1.0, 0.0])
    assert split_multilabel(" a | b,c,, ") == ["a", "b", "c"]


def test_regression_targets_and_rows_that_are_not_numbers(tmp_path):
    data = PreparedData(
        make_dataset(tmp_path / "ds", [("x", "1.5", "train"), ("y", "-2", "train"), ("z", "3e2", "val")]),
        SPEC,
        "regression",
        need_image=False,
    )
    assert data.num_outputs == 1 and data.labels == []
    target = data.batch([0, 1, 2])["target"]
    assert target.dtype == torch.float32 and target.tolist() == [1.5, -2.0, 300.0]
    bad = make_dataset(tmp_path / "bad", [("x", "1", "train"), ("y", "big", "train"), ("z", "nan", "val")])
    with pytest.raises(
        ValueError, match=r"2 labels are not \(data.csv row 2: 'big'; data.csv row 3: 'nan'\)"
    ):
        PreparedData(bad, SPEC, "regression", need_image=False)


def test_contrastive_batches_carry_groups_not_targets(tmp_path):
    rows = [("a red thing", None, "train", "img1"), ("red again", None, "train", "img1")]
    rows += [("blue", None, "train", "img2"), ("solo", None, "val", None), ("another", None, "val", None)]
    data = PreparedData(make_dataset(tmp_path / "ds", rows), SPEC, "contrastive", cache_root=tmp_path / "c")
    assert data.num_outputs == 0 and data.labels == []
    batch = data.batch(range(5))
    assert "target" not in batch and batch["group"].dtype == torch.int64
    assert batch["group"].tolist() == [0, 0, 1, 2, 3]
    assert data.groups([1, 2]).tolist() == [0, 1]
    with pytest.raises(ValueError, match="has no targets"):
        data.targets([0])
    assert data.class_weights() is None


def test_classification_without_labels_explains_what_to_do(tmp_path):
    dataset = make_dataset(tmp_path / "ds", [("a", None, "train"), ("b", None, "val")])
    with pytest.raises(ValueError, match=r"has no labels.*choose the contrastive task"):
        PreparedData(dataset, SPEC, "classification")


def test_an_empty_training_split_is_refused(tmp_path):
    dataset = make_dataset(tmp_path / "ds", [("a", "x", "val"), ("b", "y", "test")])
    with pytest.raises(ValueError, match="no usable item is in the training split"):
        PreparedData(dataset, SPEC, "classification", need_image=False)


def test_group_ids_in_order_of_first_appearance(tmp_path):
    dataset = make_dataset(
        tmp_path / "ds", [("a", None, "train", "g2"), ("b", None, "train", None), ("c", None, "train", "g2")]
    )
    assert group_ids(dataset.items).tolist() == [0, 1, 0]


def test_caches_are_reused_across_preparations(tmp_path):
    dataset = animals(tmp_path / "ds")
    PreparedData(dataset, SPEC, "classification", cache_root=tmp_path / "c")
    calls = []
    again = PreparedData(
        dataset, SPEC, "classification", cache_root=tmp_path / "c", progress=lambda d, t: calls.append(d)
    )
    assert calls == []  # nothing decoded the second time
    assert len(list((tmp_path / "c" / "images").glob("*.npy"))) == 1
    assert len(list((tmp_path / "c" / "text").glob("*.npz"))) == 1
    assert again.batch([0])["image"].shape == (1, 3, 8, 8)


def test_a_real_dataset_spec_prepares(tmp_path):
    from mmstudio.data.demo import write_demo

    manifest = write_demo(tmp_path / "demo", n_items=30, image_size=32)
    dataset = DatasetSpec(str(manifest.parent), val_fraction=0.2, test_fraction=0.2).load()
    data = PreparedData(dataset, TrainSpec(image_size=16), "classification", cache_root=tmp_path / "c")
    assert data.num_outputs == 6 and sum(data.split_sizes().values()) == 30
    batches = list(data.batches("train", 8, shuffle=True, epoch=1))
    assert sum(len(b["index"]) for b in batches) == data.split_sizes()["train"]
    assert batches[0]["image"].shape[1:] == (3, 16, 16)
