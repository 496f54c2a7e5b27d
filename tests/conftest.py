"""Test-wide set-up: Qt runs offscreen and every test gets its own mmstudio home folder."""

import os

# Before any QApplication exists (pytest-qt creates it lazily).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(autouse=True)
def mmstudio_home(tmp_path_factory, monkeypatch):
    """Relocate the store, caches and settings so no test touches the user's real files."""
    home = tmp_path_factory.mktemp("mmstudio-home")
    monkeypatch.setenv("MMSTUDIO_HOME", str(home))
    monkeypatch.delenv("MMSTUDIO_DB", raising=False)
    # The app's window sets MMSTUDIO_CACHE_DIR from its settings; set-then-delete records it as unset,
    # so the variable is removed again after every test (delenv alone records nothing when unset).
    monkeypatch.setenv("MMSTUDIO_CACHE_DIR", "")
    monkeypatch.delenv("MMSTUDIO_CACHE_DIR")
    monkeypatch.delenv("MMSTUDIO_THEME", raising=False)
    return home


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    """240 demo pairs at 32 px, written once per session: enough to learn from, quick to train on."""
    from mmstudio.data.demo import write_demo

    root = tmp_path_factory.mktemp("small-demo")
    write_demo(root, n_items=240, image_size=32)
    return root


@pytest.fixture(scope="session")
def single_label_demo(small_demo, tmp_path_factory):
    """The small demo with every item labelled 'cat': a dataset no classification model can learn
    from (the Train page's Start and the command line refuse it)."""
    import csv
    import shutil

    root = tmp_path_factory.mktemp("single-label")
    with open(small_demo / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "label": "cat"} for row in rows)
    shutil.copytree(small_demo / "images", root / "images")
    return root


# --- shared builders: the tiny model and the job that trains it in seconds --------------------------

_TINY_MODEL = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.1},
}
_TINY_TRAIN = {
    "epochs": 2,
    "batch_size": 32,
    "image_size": 32,
    "max_len": 16,
    "device": "cpu",
    "log_every_steps": 1,
    "checkpoint_every_s": 0.0,  # a checkpoint every epoch: tests resume from them
}


@pytest.fixture
def fresh_postgres_url() -> str:
    """The test PostgreSQL database (``MMSTUDIO_TEST_POSTGRES_URL``, which ``.ci/run`` sets) with an
    empty ``public`` schema; the test is skipped, saying so, where there is no server."""
    url = os.environ.get("MMSTUDIO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no PostgreSQL server: set MMSTUDIO_TEST_POSTGRES_URL (.ci/run does)")
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture
def tiny_model() -> dict:
    """A fused text + image model spec that trains on the small demo in a second or two (a copy: edit
    it freely)."""
    import copy

    return copy.deepcopy(_TINY_MODEL)


@pytest.fixture
def make_job(small_demo):
    """``make_job(db_url, *, model=None, data=None, name=None, **train)``: a :class:`RunJob` training
    the tiny model on the small demo (or ``data``) for two epochs on the CPU; ``train`` overrides."""
    import copy

    from mmstudio.data.spec import DatasetSpec
    from mmstudio.training.spec import RunJob, TrainSpec

    def make(db_url, *, model=None, data=None, name=None, **train):
        return RunJob(
            dataset=DatasetSpec(str(data or small_demo), check_images="header"),
            model=copy.deepcopy(model or _TINY_MODEL),
            train=TrainSpec(**{**_TINY_TRAIN, **train}),
            name=name,
            db_url=db_url,
        )

    return make


# --- tiny Hugging Face models, randomly initialised and saved locally (no test reaches a hub) -------


def demo_words() -> list[str]:
    """Every word and punctuation mark the demo's captions are written from, lower case, sorted."""
    import re

    from mmstudio.data import demo

    parts = (
        *demo._SALE_TEMPLATES,
        *demo._LOST_TEMPLATES,
        *demo.COLOURS,
        *demo._OBJECTS,
        *demo._ADJECTIVES,
        *demo._PLACES,
        *demo._FILLERS,
    )
    words: set[str] = set()
    for part in parts:
        words.update(re.findall(r"\w+|[^\w\s]", re.sub(r"\{\w+\}", " ", part).lower()))
    return sorted(words)


def write_tiny_bert(
    folder, *, sentence_transformers: bool = False, cls_pooling: bool = False, nested: bool = False
):
    """A 2-layer, 16-wide BERT with a WordPiece vocabulary of the demo's words, saved with its fast
    tokenizer (safetensors). ``sentence_transformers``: in the layout such an export has (modules.json,
    ``1_Pooling/config.json`` saying mean, or [CLS] with ``cls_pooling``; the model itself in
    ``0_Transformer/`` with ``nested``, as older exports have it)."""
    import json
    from pathlib import Path

    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    root = Path(folder)
    folder = root / "0_Transformer" if nested else root
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *demo_words()]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    if sentence_transformers:
        transformer = "0_Transformer" if nested else ""
        modules = [
            {"idx": 0, "name": "0", "path": transformer, "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        ]
        (root / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
        (root / "1_Pooling").mkdir(exist_ok=True)
        pooling = {"word_embedding_dimension": 16, "pooling_mode_cls_token": cls_pooling}
        pooling["pooling_mode_mean_tokens"] = not cls_pooling
        (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    return root


def write_tiny_vit(folder):
    """A 2-layer, 16-wide ViT on 32 px images (8 px patches), with its image processor."""
    from pathlib import Path

    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    folder = Path(folder)
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    ViTModel(config).save_pretrained(folder, safe_serialization=True)
    processor = ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.5, 0.5, 0.5], image_std=[0.5] * 3
    )
    processor.save_pretrained(folder)
    return folder


def write_tiny_clip(folder):
    """A whole (two-tower) CLIP checkpoint, tiny, with a 32 px image processor (CLIP's mean and std)."""
    from pathlib import Path

    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = Path(folder)
    config = CLIPConfig(
        text_config={
            "vocab_size": 100,
            "hidden_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 32,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 32,
        },
        projection_dim=8,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder, safe_serialization=True)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder
    )
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    """A tiny BERT folder as ``save_pretrained`` writes it (see :func:`write_tiny_bert`)."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory):
    return write_tiny_vit(tmp_path_factory.mktemp("tiny-vit"))


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_hf():
    """The writers of tiny Hugging Face model folders, for tests that need a variant of one:
    ``tiny_hf.bert(folder, sentence_transformers=..., cls_pooling=..., nested=...)``, ``.vit``, ``.clip``."""
    import types

    return types.SimpleNamespace(bert=write_tiny_bert, vit=write_tiny_vit, clip=write_tiny_clip)


def _byte_characters() -> list[str]:
    """The 256 characters byte-level BPE (GPT-2, CLIP) writes bytes as."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def write_tiny_clip_pair(folder, *, family: str = "clip"):
    """A whole tiny CLIP (or, ``family="siglip"``, SigLIP) checkpoint with both towers, its own
    tokenizer (byte-level BPE with no merges: one token per character, written here, no network) and
    a 32 px image processor: what ``mmstudio zeroshot`` and a two-tower spec load."""
    from pathlib import Path

    import torch
    import transformers

    folder = Path(folder)
    chars = _byte_characters()
    vocab = {c: n for n, c in enumerate(chars)}
    vocab.update({f"{c}</w>": 256 + n for n, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": 512, "<|endoftext|>": 513})
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[])
    text = {
        "vocab_size": len(vocab),
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "max_position_embeddings": 64,
    }
    vision = {
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 32,
    }
    torch.manual_seed(0)
    if family == "siglip":
        config = transformers.SiglipConfig(text_config={**text, "pad_token_id": 513}, vision_config=vision)
        model = transformers.SiglipModel(config)
        processor = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
    else:
        ids = {"bos_token_id": 512, "eos_token_id": 513, "pad_token_id": 513}
        config = transformers.CLIPConfig(text_config={**text, **ids}, vision_config=vision, projection_dim=8)
        model = transformers.CLIPModel(config)
        processor = transformers.CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        )
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_clip_pair_dir(tmp_path_factory):
    """A tiny two-tower CLIP folder with its tokenizer and processor (:func:`write_tiny_clip_pair`)."""
    return write_tiny_clip_pair(tmp_path_factory.mktemp("tiny-clip-pair"))


@pytest.fixture(scope="session")
def tiny_siglip_pair_dir(tmp_path_factory):
    return write_tiny_clip_pair(tmp_path_factory.mktemp("tiny-siglip-pair"), family="siglip")
