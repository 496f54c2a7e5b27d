"""Augmentation: the image and text levels, their seeding, and that only training batches get them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmstudio.data.hf_tokenizer import HFTokenizer
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.text import PAD_ID, UNK_ID
from mmstudio.store import Store
from mmstudio.training import augment
from mmstudio.training.augment import Augmenter, TextIds, augment_text, augmented_views, image_transform
from mmstudio.training.data import PreparedData
from mmstudio.training.runner import run_job
from mmstudio.training.spec import TrainSpec, describe_augmentation
from mmstudio.training.trainer import Trainer

CPU = torch.device("cpu")


def gradient_images(n: int = 8, size: int = 16) -> torch.Tensor:
    """``n`` copies of one image that is neither symmetric left-right nor flat: a horizontal ramp in
    red, a vertical one in green."""
    ramp = torch.linspace(0, 255, size).round().to(torch.uint8)
    image = torch.stack(
        [
            ramp.expand(size, size),
            ramp.view(-1, 1).expand(size, size),
            torch.full((size, size), 90, dtype=torch.uint8),
        ]
    )
    return image.unsqueeze(0).repeat(n, 1, 1, 1)


# --- images ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["light", "strong"])
def test_images_keep_shape_dtype_and_device_and_differ_per_item(level):
    pixels = gradient_images(8)
    out = Augmenter(image=level).images(pixels, 0, 0)
    assert out.shape == pixels.shape and out.dtype == torch.uint8 and out.device == pixels.device
    assert not torch.equal(out, pixels)
    # Each item draws its own crop: eight copies of one image come out as (mostly) different images.
    assert len({bytes(x.numpy()) for x in out}) >= 6


def test_image_augmentation_is_seeded_by_seed_epoch_and_step_and_leaves_the_global_rng():
    pixels = gradient_images(6)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = Augmenter(image="strong", seed=5)
    first = a.images(pixels, 2, 7)
    assert torch.equal(torch.rand(3), expected_next)  # the global stream is untouched
    assert torch.equal(Augmenter(image="strong", seed=5).images(pixels, 2, 7), first)
    assert not torch.equal(a.images(pixels, 2, 8), first)
    assert not torch.equal(a.images(pixels, 3, 7), first)
    assert not torch.equal(Augmenter(image="strong", seed=6).images(pixels, 2, 7), first)


def test_no_flip_when_flips_are_forbidden(monkeypatch):
    # With a crop that keeps the whole image, the only change left at the light level is the flip.
    monkeypatch.setitem(augment.CROP_SCALE, "light", (1.0, 1.0))
    monkeypatch.setattr(augment, "CROP_RATIO", (1.0, 1.0))
    pixels = gradient_images(16)
    mirrored = pixels.flip(-1)
    flipped = Augmenter(image="light", flip=True).images(pixels, 0, 0)
    assert any(torch.equal(x, m) for x, m in zip(flipped, mirrored, strict=True))
    kept = Augmenter(image="light", flip=False).images(pixels, 0, 0)
    assert torch.equal(kept, pixels)
    names = [type(t).__name__ for t in image_transform("strong", (16, 16), flip=False).transforms]
    assert "RandomHorizontalFlip" not in names
    assert names == ["RandomResizedCrop", "ColorJitter", "TrivialAugmentWide"]


def test_augmented_views_for_the_gallery():
    image = gradient_images(1, 24)[0].permute(1, 2, 0).numpy().copy()
    views = augmented_views(image, "strong", count=4, seed=1)
    assert len(views) == 4 and all(v.shape == image.shape and v.dtype == np.uint8 for v in views)
    again = augmented_views(image, "strong", count=4, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(views, again, strict=True))
    assert not np.array_equal(views[0], augmented_views(image, "strong", count=4, seed=2)[0])
    assert all(np.array_equal(v, image) for v in augmented_views(image, "none", count=2))
    with pytest.raises(ValueError, match="uint8"):
        augmented_views(image.astype(np.float32), "light")


def test_descriptions():
    assert describe_augmentation() == "none"
    assert describe_augmentation("light", True, "none") == "images light (crop, flip)"
    assert (
        TrainSpec(augment_image="strong", augment_flip=False, augment_text="strong").describe_augmentation()
        == "images strong (crop, colour jitter, TrivialAugment) and text strong (token dropout, span masking)"
    )


# --- text -----------------------------------------------------------------------------------------

BERT_LIKE = TextIds(pad=0, protected=(0, 101, 102), mask=103)


def random_texts(n: int = 64, width: int = 20, *, specials: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n, width), dtype=np.int64)
    lengths = rng.integers(1, width + 1, size=n)
    for row, length in enumerate(lengths):
        words = rng.integers(200, 300, size=length)
        if specials:
            words[0], words[length - 1] = 101, 102
            if length == 1:
                words[0] = 101
        tokens[row, :length] = words
    return torch.from_numpy(tokens), torch.from_numpy(lengths)


def is_subsequence(short: list[int], long: list[int]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


@pytest.mark.parametrize("level", ["light", "strong"])
@pytest.mark.parametrize("specials", [False, True])
def test_text_keeps_specials_order_and_valid_lengths(level, specials):
    ids = BERT_LIKE if specials else TextIds()
    tokens, lengths = random_texts(specials=specials)
    out, out_lengths = augment_text(tokens, lengths, level, ids, torch.Generator().manual_seed(0))
    assert out.shape == tokens.shape and out.dtype == tokens.dtype and out_lengths.dtype == lengths.dtype
    assert bool((out_lengths >= 1).all()) and bool((out_lengths <= lengths).all())
    changed = 0
    for row in range(len(tokens)):
        before = tokens[row, : lengths[row]].tolist()
        after = out[row, : out_lengths[row]].tolist()
        assert out[row, out_lengths[row] :].eq(ids.pad).all()
        # Special ids are all kept, where they were relative to the words.
        assert [t for t in after if t in ids.protected] == [t for t in before if t in ids.protected]
        words_before = [t for t in before if t not in ids.protected]
        words_after = [t for t in after if t not in ids.protected]
        if words_before:
            assert words_after, "a text keeps at least one word"
        unmasked = [t for t in words_after if t != ids.mask]
        assert is_subsequence(unmasked, words_before)
        changed += after != before
    assert changed > len(tokens) // 4
    if level == "strong":
        assert bool((out == ids.mask).any())
    else:
        assert not bool((out == ids.mask).any())


def test_span_masking_removes_the_span_when_the_tokenizer_has_no_mask():
    ids = TextIds(pad=0, protected=(0, 101, 102), mask=None)
    tokens, lengths = random_texts(specials=True, seed=3)
    out, out_lengths = augment_text(tokens, lengths, "strong", ids, torch.Generator().manual_seed(0))
    assert bool((out_lengths < lengths).any()) and bool((out_lengths >= 1).all())
    for row in range(len(tokens)):
        after = out[row, : out_lengths[row]].tolist()
        assert is_subsequence(after, tokens[row, : lengths[row]].tolist())


def test_text_augmentation_is_seeded():
    tokens, lengths = random_texts(specials=False)
    a = Augmenter(text="strong", seed=3)
    first = a.text(tokens, lengths, 1, 4)
    again = Augmenter(text="strong", seed=3).text(tokens, lengths, 1, 4)
    assert all(torch.equal(x, y) for x, y in zip(first, again, strict=True))
    assert not torch.equal(a.text(tokens, lengths, 1, 5)[0], first[0])


def test_word_tokenizer_ids_and_a_pretrained_tokenizers(tiny_bert_dir):
    assert TextIds.of(object()) == TextIds(PAD_ID, (PAD_ID,), UNK_ID)
    tokenizer = HFTokenizer(tiny_bert_dir)
    ids = TextIds.of(tokenizer)
    inner = tokenizer._tokenizer
    assert {inner.cls_token_id, inner.sep_token_id, inner.pad_token_id} <= set(ids.protected)
    assert ids.mask == inner.mask_token_id and ids.mask not in ids.protected
    encoded = torch.tensor([tokenizer.encode("a red bicycle for sale in the park today", 16)])
    lengths = torch.tensor([encoded.shape[1]])
    out, out_lengths = augment_text(encoded, lengths, "strong", ids, torch.Generator().manual_seed(0))
    row = out[0, : out_lengths[0]].tolist()
    assert row[0] == inner.cls_token_id and row[-1] == inner.sep_token_id


# --- in training, and only there ------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(small_demo):
    return DatasetSpec(str(small_demo), check_images="header").load()


@pytest.fixture(scope="module")
def prepared(dataset, tmp_path_factory):
    spec = TrainSpec(image_size=32, max_len=16, batch_size=16, augment_image="strong", augment_text="strong")
    return PreparedData(dataset, spec, "classification", cache_root=tmp_path_factory.mktemp("cache"))


def test_training_batches_are_augmented_and_other_splits_refuse_it(prepared):
    a = Augmenter.for_run(prepared.train, prepared.tokenizer)
    plain = next(prepared.batches("train", 16, shuffle=True, epoch=1))
    augmented = next(prepared.batches("train", 16, shuffle=True, epoch=1, augment=a))
    assert torch.equal(plain["index"], augmented["index"]) and torch.equal(
        plain["target"], augmented["target"]
    )
    assert augmented["image"].shape == plain["image"].shape and augmented["image"].dtype == torch.float32
    assert not torch.equal(plain["image"], augmented["image"])
    assert not torch.equal(plain["tokens"], augmented["tokens"])
    assert bool((augmented["lengths"] >= 1).all())
    # The same epoch and step give the same batch; a resumed epoch (start_step) gets the ones it left.
    again = list(prepared.batches("train", 16, shuffle=True, epoch=1, augment=a))
    resumed = list(prepared.batches("train", 16, shuffle=True, epoch=1, augment=a, start_step=2))
    assert torch.equal(again[0]["image"], augmented["image"])
    assert all(torch.equal(x["image"], y["image"]) for x, y in zip(again[2:], resumed, strict=True))
    for split in ("val", "test"):
        with pytest.raises(ValueError, match="only training batches"):
            next(prepared.batches(split, 16, augment=a))
    assert Augmenter.for_run(TrainSpec()) is None


def test_the_trainer_augments_training_batches_only(prepared, tiny_model, monkeypatch):
    from mmstudio.models.context import ModelContext
    from mmstudio.models.model import build_model
    from mmstudio.training.device import resolve_precision

    calls: list[tuple[str, int]] = []
    for name in ("images", "text"):
        original = getattr(Augmenter, name)

        def spy(self, *args, _original=original, _name=name):
            calls.append((_name, args[0].shape[0]))
            return _original(self, *args)

        monkeypatch.setattr(Augmenter, name, spy)
    spec = TrainSpec(**{**prepared.train.to_dict(), "epochs": 1, "device": "cpu"})
    model = build_model(tiny_model, ModelContext(**prepared.context()))
    trainer = Trainer(model, prepared, spec, device=CPU, precision=resolve_precision("fp32", CPU))
    trainer.fit()
    batches = prepared.num_batches("train", spec.batch_size)
    assert sorted(calls) == sorted(
        [("images", n) for n in _sizes(prepared, 16)] + [("text", n) for n in _sizes(prepared, 16)]
    )
    assert len(calls) == 2 * batches
    calls.clear()
    trainer.evaluate("val")
    trainer.evaluate("test", ablation="text_masked")
    assert calls == []


def _sizes(prepared, batch_size):
    n = prepared.split_sizes()["train"]
    return [min(batch_size, n - start) for start in range(0, n, batch_size)]


def test_a_run_with_augmentation_trains_and_records_it(tmp_path, make_job):
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    seen = []
    result = run_job(
        make_job(db_url, augment_image="light", augment_flip=False, augment_text="strong"),
        on_event=seen.append,
    )
    assert result.status == "completed", result.message
    with Store.open(db_url) as store:
        stored = store.get_run(result.run_id).train_spec
    assert (stored["augment_image"], stored["augment_flip"], stored["augment_text"]) == (
        "light",
        False,
        "strong",
    )
    lines = [getattr(e, "message", "") for e in seen]
    assert any(
        "training batches augmented: images light (crop) and text strong (token dropout, span masking)"
        in line
        for line in lines
    )


def test_previews_of_a_dataset_image_as_training_reads_it(tmp_path):
    from PIL import Image

    from mmstudio.training.augment import PREVIEW_SIZE, augmented_previews

    path = tmp_path / "wide.png"
    Image.linear_gradient("L").resize((90, 60)).convert("RGB").save(path)
    image, views = augmented_previews(path, "light", count=3, seed=4)
    assert image.shape == (PREVIEW_SIZE, PREVIEW_SIZE, 3) and len(views) == 3
    assert all(v.shape == image.shape and not np.array_equal(v, image) for v in views)


def test_the_vectorised_crop_is_v2s_resized_crop():
    """Each item's crop box is drawn by v2's RandomResizedCrop and resampled by roi_align for the whole
    batch at once: the same pixels as v2's own resized_crop of that box, up to rounding (and, on the
    box's edge, bilinear weights that reach the pixels just outside it)."""
    from torchvision.transforms.v2 import functional as F

    generator = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (4, 3, 48, 48), generator=generator).float()
    pixels = torch.nn.functional.avg_pool2d(noise, 5, 1, 2).round().to(torch.uint8)  # smooth
    augmentation = augment.ImageAugmentation("light", (48, 48), flip=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        boxes = [augmentation._crop.make_params([pixels[k]]) for k in range(4)]
    out = augment.augment_images(pixels, augmentation, 3)
    for k, box in enumerate(boxes):
        expected = F.resized_crop(pixels[k], box["top"], box["left"], box["height"], box["width"], [48, 48])
        difference = (out[k].int() - expected.int()).abs()
        assert difference[:, 2:-2, 2:-2].max() <= 1 and difference.float().mean() < 0.5


def test_a_text_always_keeps_one_word(monkeypatch):
    monkeypatch.setattr(augment, "TOKEN_DROPOUT", 1.0)  # every word drawn for dropping
    tokens, lengths = random_texts(specials=True, seed=5)
    out, out_lengths = augment_text(tokens, lengths, "light", BERT_LIKE, torch.Generator().manual_seed(0))
    for row in range(len(tokens)):
        words = [t for t in tokens[row, : lengths[row]].tolist() if t not in BERT_LIKE.protected]
        kept = [t for t in out[row, : out_lengths[row]].tolist() if t not in BERT_LIKE.protected]
        assert len(kept) == min(1, len(words)) and set(kept) <= set(words)


def test_the_vectorised_colour_jitter_is_v2s():
    """Each item's factors and order drawn by v2's ColorJitter.make_params, applied to the batch at
    once: v2's own ColorJitter of each item with those parameters, up to float rounding."""
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (16, 3, 12, 12), generator=generator, dtype=torch.uint8)
    jitter = augment._jitter()
    params = [jitter.make_params([image]) for image in pixels]
    out = augment._colour_jitter(pixels, params)
    for k, image in enumerate(pixels):
        expected = jitter.transform(image, params[k])
        assert (out[k].int() - expected.int()).abs().max() <= 1
    assert out.dtype == torch.uint8 and not torch.equal(out, pixels)


def test_a_frozen_pretrained_text_encoder_reads_augmented_ids_with_its_specials_kept(
    tmp_path, make_job, tiny_bert_dir, monkeypatch
):
    """Augmented text cannot come from the feature cache: the frozen encoder runs every step on the
    augmented ids, which keep its tokenizer's [CLS] and [SEP], and masked words become its [MASK]."""
    from mmstudio.models.pretrained import HFTextEncoder
    from mmstudio.training import events as ev

    from .test_feature_cache import _spec

    tokenizer = HFTokenizer(tiny_bert_dir)._tokenizer
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    forward = HFTextEncoder.forward

    def spy(self, tokens, lengths):
        if self.training or torch.is_grad_enabled():
            seen.append((tokens.clone(), lengths.clone()))
        return forward(self, tokens, lengths)

    monkeypatch.setattr(HFTextEncoder, "forward", spy)
    spec = _spec(tiny_bert_dir, tiny_bert_dir)
    spec["image_encoder"] = {"name": "small_cnn", "width": 4, "blocks": 2}
    logs: list[str] = []
    job = make_job(f"sqlite:///{tmp_path / 'store.db'}", model=spec, epochs=1, augment_text="strong")
    result = run_job(job, on_event=lambda e: isinstance(e, ev.LogMessage) and logs.append(e.message))
    assert result.status == "completed", result.message
    text = " ".join(logs)
    assert "text features computed every step" in text and "augmented" in text
    assert seen
    masked = 0
    for tokens, lengths in seen:
        assert bool((lengths >= 1).all())
        for row, length in zip(tokens, lengths, strict=True):
            ids = row[:length].tolist()
            assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
            masked += ids.count(tokenizer.mask_token_id)
    assert masked > 0
