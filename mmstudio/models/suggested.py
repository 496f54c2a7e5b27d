"""Pretrained models worth trying, and where a chosen one stands on this machine.

:data:`SUGGESTED` is a short curated list of Hugging Face encoders that work with the ``hf`` text and
image encoders (safetensors weights, no remote code), with what a user weighs before fetching one:
the parameters the encoder brings, about how much a pull downloads, the licence and a one-line note.
:data:`TORCHVISION` says the same of the registered torchvision image encoders' ImageNet weights.
The sizes are approximate (what ``mmstudio models pull`` fetches: the safetensors weights, configs and
tokenizer files), so they are always shown with "about".

:func:`model_status` says whether a model reference is here (``cached``, ``local``, ``imported``),
missing and fetchable (``missing``), or wrong (``error``); it may hash a local folder's weights or
scan the cache, so the GUI calls it in its thread pool. :class:`DownloadMeter` turns the byte counts
of :func:`mmstudio.models.fetch.pull` into a progress message with the speed.

Qt-free; imports neither torch nor huggingface_hub at module level.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

MB = 1_000_000
_REPO_ID = re.compile(r"^(?:[\w\-.]{1,96}/)?[\w\-.]{1,96}$")  # as fetch checks a Hugging Face id


@dataclass(frozen=True)
class SuggestedModel:
    """A pretrained model offered by the Model page: ``id`` (a Hugging Face id, or
    ``torchvision:NAME``), ``kind`` (``text`` or ``image``), ``params`` (those of the encoder used: the
    vision tower alone for CLIP / SigLIP), ``download_bytes`` (approximate), ``licence``, ``note``."""

    id: str
    kind: str
    params: int
    download_bytes: int
    licence: str
    note: str

    @property
    def short_name(self) -> str:
        return self.id.rsplit("/", 1)[-1].removeprefix("torchvision:")

    def facts(self) -> str:
        """``22.7 M parameters · about 91 MB · Apache-2.0``."""
        return f"{millions(self.params)} parameters · {about_bytes(self.download_bytes)} · {self.licence}"


SUGGESTED: tuple[SuggestedModel, ...] = (
    SuggestedModel(
        "sentence-transformers/all-MiniLM-L6-v2",
        "text",
        22_700_000,
        91 * MB,
        "Apache-2.0",
        "English sentence embeddings, small and fast: the first model to try on short captions",
    ),
    SuggestedModel(
        "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2",
        "text",
        118_000_000,
        480 * MB,
        "Apache-2.0",
        "Sentence embeddings in 50+ languages (Chinese, German, Spanish, ...)",
    ),
    SuggestedModel(
        "sentence-transformers/all-mpnet-base-v2",
        "text",
        109_000_000,
        440 * MB,
        "Apache-2.0",
        "English sentence embeddings, stronger than MiniLM and five times larger",
    ),
    SuggestedModel(
        "BAAI/bge-small-en-v1.5",
        "text",
        33_400_000,
        134 * MB,
        "MIT",
        "Small English embedding model for retrieval and classification ([CLS] pooling)",
    ),
    SuggestedModel(
        "bert-base-uncased",
        "text",
        110_000_000,
        440 * MB,
        "Apache-2.0",
        "The classic English BERT (lower-cased): fine-tune it (top:N or lora) rather than freeze it",
    ),
    SuggestedModel(
        "distilbert-base-uncased",
        "text",
        66_400_000,
        268 * MB,
        "Apache-2.0",
        "BERT distilled to 6 layers: about 60% faster, most of its accuracy",
    ),
    SuggestedModel(
        "roberta-base",
        "text",
        125_000_000,
        500 * MB,
        "MIT",
        "RoBERTa, cased English, trained longer than BERT on more text",
    ),
    SuggestedModel(
        "google/vit-base-patch16-224-in21k",
        "image",
        86_400_000,
        346 * MB,
        "Apache-2.0",
        "ViT-B/16 pretrained on ImageNet-21k, 224 px",
    ),
    SuggestedModel(
        "facebook/dinov2-small",
        "image",
        22_100_000,
        88 * MB,
        "Apache-2.0",
        "Self-supervised DINOv2 ViT-S/14: strong frozen features, small",
    ),
    SuggestedModel(
        "facebook/convnext-tiny-224",
        "image",
        28_600_000,
        115 * MB,
        "Apache-2.0",
        "ConvNeXt-Tiny on ImageNet-1k, 224 px: a convolutional network, quick on a CPU",
    ),
    SuggestedModel(
        "openai/clip-vit-base-patch32",
        "image",
        87_800_000,
        605 * MB,
        "MIT",
        "CLIP's vision tower (ViT-B/32); the download holds both towers",
    ),
    SuggestedModel(
        "google/siglip-base-patch16-224",
        "image",
        92_900_000,
        813 * MB,
        "Apache-2.0",
        "SigLIP's vision tower (ViT-B/16), 224 px; the download holds both towers",
    ),
)

#: The registered torchvision image encoders' default ImageNet-1k weights (``pretrained`` on).
TORCHVISION: tuple[SuggestedModel, ...] = tuple(
    SuggestedModel(f"torchvision:{name}", "image", params, size, "BSD-3-Clause", note)
    for name, params, size, note in (
        ("resnet18", 11_700_000, 47 * MB, "ResNet-18, ImageNet-1k: small and quick"),
        ("resnet34", 21_800_000, 87 * MB, "ResNet-34, ImageNet-1k"),
        ("resnet50", 25_600_000, 103 * MB, "ResNet-50, ImageNet-1k (V2 weights)"),
        ("mobilenet_v3_small", 2_500_000, 10 * MB, "MobileNetV3-Small, ImageNet-1k: the smallest"),
        ("mobilenet_v3_large", 5_500_000, 22 * MB, "MobileNetV3-Large, ImageNet-1k"),
        ("efficientnet_b0", 5_300_000, 21 * MB, "EfficientNet-B0, ImageNet-1k"),
        ("convnext_tiny", 28_600_000, 114 * MB, "ConvNeXt-Tiny, ImageNet-1k"),
    )
)


def millions(n: int) -> str:
    """A parameter count in millions, as model cards write it: ``22.7 M``, ``118 M``, ``2.5 M``."""
    value = n / 1e6
    if value >= 100:
        return f"{value:.0f} M"
    return f"{value:.1f}".removesuffix(".0") + " M"


def about_bytes(n: int) -> str:
    """``about 91 MB``: an approximate size, to two significant figures, in decimal units."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            text = f"{value:.1f}" if value < 10 else f"{round(value, -1 if value >= 100 else 0):.0f}"
            return f"about {text} {unit}"
    return f"about {n} bytes"


def suggestions(kind: str) -> list[SuggestedModel]:
    """The suggested Hugging Face models of ``kind`` (``text`` or ``image``)."""
    return [m for m in SUGGESTED if m.kind == kind]


def suggestion(ref: str) -> SuggestedModel | None:
    """The catalogue's entry for ``ref`` (``org/name``, ``org/name@rev`` or ``torchvision:NAME``)."""
    ref = ref.strip().removeprefix("hf:").partition("@")[0]
    if ref.startswith("torchvision:"):  # named weights are about the size of the default ones
        ref = ref.partition(".")[0]
    for model in (*SUGGESTED, *TORCHVISION):
        if model.id == ref:
            return model
    return None


def slot_kind(slot: str) -> str:
    return "text" if slot == "text_encoder" else "image"


def pretrained_ref(slot: str, component: Mapping[str, Any]) -> str | None:
    """What ``component`` of ``slot`` fetches (for a status and a Download button), or None when it
    fetches nothing: an ``hf`` encoder's ``model``, ``torchvision:NAME`` for a torchvision image
    encoder with ``pretrained`` on and no ``weights_path`` of its own (``torchvision:NAME.WEIGHTS``
    when it names its weights)."""
    name = component.get("name")
    if name == "hf":
        return str(component.get("model") or "").strip()
    fetched = slot == "image_encoder" and component.get("pretrained") and not component.get("weights_path")
    if fetched and any(m.id == f"torchvision:{name}" for m in TORCHVISION):
        weights = component.get("weights") or "DEFAULT"
        return f"torchvision:{name}" + ("" if weights == "DEFAULT" else f".{weights}")
    return None


def cached_choices(kind: str) -> list[str]:
    """The ids of the Hugging Face and imported models on this machine (scans the cache: call it in
    the background). Both kinds are listed: a cached folder does not say whether it reads text."""
    from mmstudio.models import fetch

    del kind
    return [m.id for m in fetch.list_models() if m.source in ("huggingface", "imported")]


@dataclass(frozen=True)
class ModelStatus:
    """Where ``ref`` stands: ``state`` is ``empty``, ``cached``, ``imported``, ``local``, ``missing``
    (not here; ``can_download`` when it can be pulled) or ``error``; ``text`` is the sentence shown."""

    ref: str
    state: str
    text: str
    can_download: bool = False

    @property
    def here(self) -> bool:
        return self.state in ("cached", "imported", "local")


#: How the core's messages tell a user to fetch a pretrained model (``ModelNotCached``, a torchvision
#: encoder's missing weights): the command line's way.
_PULL_ADVICE = re.compile(r"fetch (it|them) with 'mmstudio models pull [^']+'")


def page_message(message: str) -> str:
    """A validation message as the Model page shows it: where the command line is told to run
    ``mmstudio models pull``, the page has a Download button beside the model, so it names that."""
    return _PULL_ADVICE.sub(lambda m: f"download {m.group(1)} with the Download button above", message)


def model_status(ref: str) -> ModelStatus:
    """Whether ``ref`` is on this machine, in a sentence; never downloads, but may hash a local
    folder's weights or read the cache (call it off the GUI thread)."""
    return replace(_status(ref.strip().removeprefix("hf:")), ref=ref)


def _status(ref: str) -> ModelStatus:
    from mmstudio.models import fetch

    if not ref:
        return ModelStatus(
            ref, "empty", "Name a model: a Hugging Face id, a suggested one, or a local folder"
        )
    if ref.startswith(fetch.TORCHVISION_PREFIX):
        return _torchvision_status(ref)
    try:
        resolved = fetch.resolve(ref)
    except fetch.ModelNotCached as exc:
        return _missing(ref, exc)
    except (ValueError, OSError) as exc:
        return ModelStatus(ref, "error", str(exc))
    size = _mb(_folder_bytes(resolved.path))
    revision = _short_revision(resolved.revision)
    if resolved.source == "local":
        return ModelStatus(ref, "local", f"local folder (weights {revision}, {size})")
    if resolved.source == "imported":
        return ModelStatus(ref, "imported", f"imported (revision {revision}, {size})")
    return ModelStatus(ref, "cached", f"cached (revision {revision}, {size})")


def _missing(ref: str, exc: Exception) -> ModelStatus:
    from mmstudio.models import fetch

    repo_id, _revision = fetch.split_ref(ref)
    looks_like_path = ref.startswith(("/", "~", ".")) or "\\" in ref or repo_id.count("/") > 1
    if looks_like_path or not _REPO_ID.fullmatch(repo_id):
        return ModelStatus(ref, "error", f"{ref} is neither a folder here nor a Hugging Face id (org/name)")
    known = suggestion(ref)
    size = (
        f"{about_bytes(known.download_bytes)} to download ({known.licence})"
        if known
        else "download it from the Hub (its size shows when it starts)"
    )
    if fetch.hf_offline():
        return ModelStatus(
            ref,
            "missing",
            "not on this machine, and HF_HUB_OFFLINE is set: unset it to download the model, or copy its "
            "folder here and import it ('mmstudio models import FOLDER')",
        )
    detail = getattr(exc, "detail", "")
    why = f" ({detail})" if detail else ""
    return ModelStatus(ref, "missing", f"not on this machine{why}: {size}", can_download=True)


def _download_size(ref: str, unknown: str) -> str:
    """``about 91 MB to download (Apache-2.0)`` for a catalogued model, else ``unknown``."""
    known = suggestion(ref)
    return f"{about_bytes(known.download_bytes)} to download ({known.licence})" if known else unknown


def _torchvision_status(ref: str) -> ModelStatus:
    from mmstudio.models import image

    name, _, weights = ref.removeprefix("torchvision:").partition(".")
    try:
        path = image.find_pretrained_file(name, weights=weights or image.DEFAULT_WEIGHTS)
    except FileNotFoundError:
        known = suggestion(ref)
        size = (
            f"{about_bytes(known.download_bytes)} to download ({known.licence})" if known else "download it"
        )
        return ModelStatus(ref, "missing", f"ImageNet weights not on this machine: {size}", can_download=True)
    except (ValueError, ImportError) as exc:
        return ModelStatus(ref, "error", str(exc))
    return ModelStatus(ref, "cached", f"ImageNet weights cached ({path.name}, {_mb(path.stat().st_size)})")


def _short_revision(revision: str) -> str:
    if revision.startswith("sha256:"):
        return revision[:19]
    return revision[:7]


def _folder_bytes(folder: Path) -> int:
    """The size of a model's files (following the Hugging Face cache's links to its blobs)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


class DownloadMeter:
    """A ``progress(done, total)`` for :func:`~mmstudio.models.fetch.pull` that forwards to ``state``
    (a :class:`~mmstudio.progress.TaskState`) with the message ``12.3 MB of 90.9 MB · 4.1 MB/s``."""

    def __init__(self, state: Any, clock: Any = time.monotonic) -> None:
        self.state, self.clock = state, clock
        self.start: float | None = None
        self.first = 0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.start is None:
            self.start, self.first = now, done
        elapsed = now - self.start
        speed = (done - self.first) / elapsed if elapsed > 0.2 else 0.0
        text = f"{_mb(done)} of {_mb(total)}"
        if speed > 0:
            text += f" · {_mb(speed)}/s"
        self.state.message = text
        self.state.progress(done, total)


def _mb(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.0f} kB"


def download(state: Any, ref: str) -> Any:
    """Pull ``ref`` reporting progress and obeying cancel through ``state`` (the GUI's task function)."""
    from mmstudio.models import fetch

    state.set_message(f"Connecting to {fetch.hf_endpoint()}…" if not ref.startswith("torchvision:") else "")
    return fetch.pull(ref, progress=DownloadMeter(state), cancel=state)
