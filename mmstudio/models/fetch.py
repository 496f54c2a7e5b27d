"""Pretrained models on this machine: fetched on request, listed, removed, imported, resolved.

Nothing here downloads unless :func:`pull` is called; training and evaluation call :func:`resolve`,
which only looks on disk and raises :class:`ModelNotCached` (naming the pull command) when a model is
missing. Three places hold models:

- Hugging Face models in the Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``), where
  ``transformers`` and every other tool finds them too; only the files a model needs (config,
  tokenizer and processor files, safetensors weights) are fetched, never pickled weights.
- torchvision weights in ``$TORCH_HOME/hub/checkpoints`` under the file name torchvision expects, where
  the torchvision image encoders (``models/image.py``) look for them.
- Imported folders (``import_model``, for machines with no network) in ``<data dir>/models/<name>/``
  with a ``mmstudio-model.json`` that records where they came from and the hash of their weights.

``HF_ENDPOINT``, ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE`` and ``TORCH_HOME`` are read when a
function is called, not when a module is imported. huggingface_hub, torch and torchvision are imported
inside the functions that need them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmstudio.paths import data_dir
from mmstudio.progress import Cancelled, check_cancel

DEFAULT_ENDPOINT = "https://huggingface.co"
MODEL_CARD = "mmstudio-model.json"
TORCHVISION_PREFIX = "torchvision:"
CHUNK = 1 << 20  # hashing and copying read 1 MiB at a time

#: The files of a Hugging Face repo that a model needs: configuration, tokenizer and processor files,
#: safetensors weights, sentencepiece models, vocabularies and a sentence-transformers export's modules.
ALLOW_PATTERNS = [
    "*.json",
    "*.txt",
    "*.safetensors",
    "*.model",
    "vocab*",
    "merges.txt",
    "1_Pooling/*",
]
#: Never fetched: pickled or other frameworks' weights, and exports a PyTorch model does not read.
IGNORE_PATTERNS = [
    "*.bin",
    "*.pt",
    "*.pth",
    "*.ckpt",
    "*.pkl",
    "*.pickle",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.onnx",
    "*.onnx_data",
    "*.gguf",
    "*.tflite",
    "*.mlmodel",
    "onnx/*",
    "openvino/*",
    "coreml/*",
    "tf_model*",
    "flax_model*",
    "open_clip_*",
]
#: Weight files that may hold pickled code: refused on import, never fetched.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack")
_REPO_ID = re.compile(r"^(?:[\w\-.]{1,96}/)?[\w\-.]{1,96}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,95}$")

Progress = Callable[[int, int], None]


# --- the contract the encoders rely on ---------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedModel:
    """A model on disk: ``path`` is the folder that ``from_pretrained`` reads; ``revision`` is what a
    run records to rebuild the same network (a commit hash, or ``sha256:<hex>`` of the weight files)."""

    path: Path
    id: str
    revision: str
    source: str  # "huggingface" | "imported" | "local"


class ModelNotCached(FileNotFoundError):
    """The model is neither a local folder, an imported model nor in the Hugging Face cache."""

    def __init__(self, ref: str, detail: str = "") -> None:
        self.ref, self.detail = ref, detail
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"model {ref} is not on this machine{why}: fetch it with 'mmstudio models pull {ref}', or on a "
            f"machine with no network copy its folder here and run 'mmstudio models import FOLDER'"
        )

    def __reduce__(self):  # picklable as itself (a worker process reports it to the GUI)
        return type(self), (self.ref, self.detail)


def resolve(ref: str) -> ResolvedModel:
    """Where ``ref`` is on disk, never downloading.

    ``ref`` is an existing local folder (a ``save_pretrained`` or sentence-transformers layout), the name
    of an imported model, or a Hugging Face id ``org/name`` with an optional ``@revision``; an ``hf:``
    prefix is accepted. Raises :class:`ModelNotCached` when the model is not here, and ValueError when a
    local folder holds no safetensors weights.
    """
    ref = ref.strip()
    if ref.startswith("hf:"):
        ref = ref[3:]
    if not ref:
        raise ValueError("the model reference is empty: give a Hugging Face id or a local folder")
    local = Path(ref).expanduser()
    if local.is_dir():
        folder = local.resolve()
        return ResolvedModel(folder, str(folder), weights_revision(folder), "local")
    if local.is_file():
        raise ValueError(
            f"{local} is a file: a pretrained model is a folder (config.json and .safetensors weights, as "
            "save_pretrained writes it)"
        )
    if _NAME.fullmatch(ref):
        card = imported_dir() / ref / MODEL_CARD
        if card.is_file():
            meta = json.loads(card.read_text(encoding="utf-8"))
            return ResolvedModel(card.parent, ref, meta["revision"], "imported")
    repo_id, revision = split_ref(ref)
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise ModelNotCached(ref, "not a local folder, an imported model or a Hugging Face id")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, IncompleteSnapshotError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=hf_cache_dir(),
            local_files_only=True,
            allow_patterns=ALLOW_PATTERNS,
            ignore_patterns=IGNORE_PATTERNS,
        )
    except IncompleteSnapshotError as exc:
        raise ModelNotCached(ref, "its download was not finished") from exc
    except (LocalEntryNotFoundError, HFValidationError) as exc:
        raise ModelNotCached(ref) from exc
    path = Path(folder)
    if not any(path.rglob("*.safetensors")):
        raise ModelNotCached(ref, f"{path} holds no safetensors weights")
    return ResolvedModel(path, repo_id, path.name, "huggingface")


def is_cached(ref: str) -> bool:
    """Whether :func:`resolve` finds ``ref`` on this machine (for a "cached" mark or a Download button)."""
    try:
        resolve(ref)
    except (ModelNotCached, ValueError):
        return False
    return True


def split_ref(ref: str) -> tuple[str, str | None]:
    """``org/name@rev`` → ``("org/name", "rev")``; no ``@`` → revision None (the default branch)."""
    repo_id, sep, revision = ref.partition("@")
    return repo_id, (revision or None) if sep else None


def weights_revision(folder: Path) -> str:
    """``sha256:<hex>`` over the folder's safetensors files: their sorted relative names and bytes."""
    files = weight_files(folder)
    if not files:
        raise ValueError(
            f"{folder} holds no .safetensors weights; mmstudio loads only safetensors (save the model with "
            "save_pretrained(..., safe_serialization=True))"
        )
    # A run resolves its models a dozen times (validation, the spec, the build, the checkpoint), and the
    # Model page on every edit: the hash is kept while no file changed (name, size, modification time).
    stamp = tuple((rel, *_stat_stamp(folder / rel)) for rel in files)
    key = (str(folder.resolve()), stamp)
    cached = _REVISIONS.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode("utf-8") + b"\0")
        with open(folder / rel, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    revision = _REVISIONS[key] = f"sha256:{digest.hexdigest()}"
    return revision


_REVISIONS: dict[tuple[str, tuple[tuple[Any, ...], ...]], str] = {}


def _stat_stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def weight_files(folder: Path) -> list[str]:
    """The folder's safetensors files, as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.safetensors") if p.is_file())


# --- where things live -------------------------------------------------------------------------------


def hf_home() -> Path:
    home = os.environ.get("HF_HOME")
    if home:
        return Path(os.path.expandvars(home)).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "huggingface"


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub computes it, but read now from the environment."""
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(os.path.expandvars(cache)).expanduser() if cache else hf_home() / "hub"


def hf_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def imported_dir() -> Path:
    """``<data dir>/models``: where ``models import`` puts folders."""
    return data_dir() / "models"


def torch_checkpoints_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (torch's default when unset), where torchvision keeps weights."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


# --- listing, removing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedModel:
    id: str
    source: str  # "huggingface" | "torchvision" | "imported"
    revision: str
    size_bytes: int
    path: Path

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def list_models() -> list[CachedModel]:
    """Every model on this machine: Hugging Face cache, torchvision weights, imported folders."""
    return [*_list_huggingface(), *_list_torchvision(), *_list_imported()]


def _list_huggingface() -> list[CachedModel]:
    cache = hf_cache_dir()
    if not cache.is_dir():
        return []
    from huggingface_hub import scan_cache_dir

    found = []
    for repo in sorted(scan_cache_dir(cache).repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified):
            refs = sorted(rev.refs)  # the branches and tags pulled at this commit
            ident = repo.repo_id if not refs or "main" in refs else f"{repo.repo_id}@{refs[0]}"
            found.append(
                CachedModel(ident, "huggingface", rev.commit_hash, rev.size_on_disk, rev.snapshot_path)
            )
    return found


def _list_torchvision() -> list[CachedModel]:
    folder = _torch_checkpoints_dir_quietly()
    if folder is None or not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".partial"))
    if not files:
        return []
    names = _torchvision_file_names()
    found = []
    for path in files:
        ident = names.get(path.name, path.name)
        match = re.search(r"-([a-f0-9]{6,})\.", path.name)
        revision = f"sha256:{match.group(1)}" if match else ""
        found.append(CachedModel(ident, "torchvision", revision, path.stat().st_size, path))
    return found


def _torch_checkpoints_dir_quietly() -> Path | None:
    """The checkpoints folder without importing torch when ``TORCH_HOME`` says where it is."""
    home = os.environ.get("TORCH_HOME")
    if home:
        return Path(os.path.expandvars(home)).expanduser() / "hub" / "checkpoints"
    try:
        return torch_checkpoints_dir()
    except ImportError:
        return None


def _torchvision_file_names() -> dict[str, str]:
    """torchvision's weight file names → ``torchvision:<model>.<WEIGHTS>`` (no download)."""
    try:
        import torchvision.models as tvm
    except ImportError:
        return {}
    names: dict[str, str] = {}
    for model in tvm.list_models():
        try:
            weights = tvm.get_model_weights(model)
        except (ValueError, KeyError):
            continue
        for w in weights:
            names.setdefault(w.url.rsplit("/", 1)[-1], f"{TORCHVISION_PREFIX}{model}.{w.name}")
    return names


def _list_imported() -> list[CachedModel]:
    root = imported_dir()
    if not root.is_dir():
        return []
    found = []
    for card in sorted(root.glob(f"*/{MODEL_CARD}")):
        try:
            meta = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        size = sum(p.stat().st_size for p in card.parent.rglob("*") if p.is_file())
        found.append(
            CachedModel(
                meta.get("id", card.parent.name), "imported", meta.get("revision", ""), size, card.parent
            )
        )
    return found


def remove(ref: str) -> list[CachedModel]:
    """Remove ``ref`` (a Hugging Face id, optionally ``@revision``; an imported name; or
    ``torchvision:<model>[.<WEIGHTS>]``) from this machine; returns what was removed.
    Raises :class:`ModelNotCached` when nothing matches."""
    ref = ref.strip().removeprefix("hf:")
    models = list_models()
    if ref.startswith(TORCHVISION_PREFIX):
        wanted = ref if "." in ref else f"{ref}."
        gone = [m for m in models if m.source == "torchvision" and (m.id == ref or m.id.startswith(wanted))]
    else:
        repo_id, revision = split_ref(ref)
        gone = [m for m in models if m.source == "imported" and m.id == ref]
        if not gone:
            gone = [
                m
                for m in models
                if m.source == "huggingface"
                and split_ref(m.id)[0] == repo_id
                and (revision is None or revision in (m.revision, split_ref(m.id)[1]))
            ]
    if not gone:
        raise ModelNotCached(ref, "nothing to remove; 'mmstudio models list' shows what is here")
    hf = [m for m in gone if m.source == "huggingface"]
    if hf:
        from huggingface_hub import scan_cache_dir

        scan_cache_dir(hf_cache_dir()).delete_revisions(*(m.revision for m in hf)).execute()
    for m in gone:
        if m.source == "imported":
            shutil.rmtree(m.path)
        elif m.source == "torchvision":
            m.path.unlink(missing_ok=True)
    return gone


# --- importing (machines with no network) -----------------------------------------------------------


def import_model(source: str | Path, name: str | None = None) -> CachedModel:
    """Copy a model from a folder or file onto this machine, for use with no network.

    A folder in the ``save_pretrained`` or sentence-transformers layout (``config.json`` or
    ``modules.json``) with safetensors weights is copied to ``<data dir>/models/<name>/`` (only the files
    a model needs; pickled weights are left behind). A single ``.safetensors`` / ``.pth`` file holds
    torchvision weights: ``name`` says for which model (``resnet18`` or ``resnet18.IMAGENET1K_V1``;
    default: guessed from the file name) and it is written to the torch hub cache under the file name
    torchvision expects.
    """
    src = Path(source).expanduser()
    if not src.exists():
        raise FileNotFoundError(f"{src} does not exist; give a model folder or a weights file")
    if src.is_file():
        return _import_torchvision_file(src, name)
    return _import_folder(src.resolve(), name)


def _wanted(rel: str) -> bool:
    return any(fnmatch.fnmatch(rel, p) for p in ALLOW_PATTERNS) and not any(
        fnmatch.fnmatch(rel, p) for p in IGNORE_PATTERNS
    )


def _import_folder(src: Path, name: str | None) -> CachedModel:
    name = name or src.name
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"'{name}' cannot name an imported model: use letters, digits, '.', '_' and '-' (pass --name)"
        )
    if not (src / "config.json").is_file() and not (src / "modules.json").is_file():
        raise ValueError(
            f"{src} is not a model folder: it has neither config.json (save_pretrained) nor modules.json "
            "(sentence-transformers)"
        )
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    if not any(f.endswith(".safetensors") for f in files):
        pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
        hint = (
            f" (it has {', '.join(pickles[:3])}: pickled weights, which mmstudio never loads)"
            if pickles
            else ""
        )
        raise ValueError(
            f"{src} holds no .safetensors weights{hint}; save the model with "
            "save_pretrained(..., safe_serialization=True) and import that folder"
        )
    target = imported_dir() / name
    if target.exists():
        raise FileExistsError(
            f"a model named {name} is already imported ({target}); remove it with "
            f"'mmstudio models rm {name}' or choose another name with --name"
        )
    partial = target.with_name(f".{name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        for rel in (f for f in files if _wanted(f)):
            (partial / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, partial / rel)
        meta = {"id": name, "source": "imported", "revision": weights_revision(partial), "origin": str(src)}
        (partial / MODEL_CARD).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    return CachedModel(name, "imported", meta["revision"], size, target)


def torchvision_weights(ref: str):
    """The weights enum member of ``torchvision:resnet18`` (its DEFAULT) or ``resnet18.IMAGENET1K_V1``."""
    from torchvision.models import get_model_weights

    spec = ref.removeprefix(TORCHVISION_PREFIX)
    model, _, which = spec.partition(".")
    try:
        weights = get_model_weights(model)
    except (ValueError, KeyError):
        raise ValueError(f"torchvision has no model named '{model}' with pretrained weights") from None
    if not which:
        return model, weights.DEFAULT
    try:
        return model, weights[which]
    except KeyError:
        choices = ", ".join(w.name for w in weights)
        raise ValueError(f"torchvision's {model} has no weights {which}; it has {choices}") from None


def _import_torchvision_file(src: Path, name: str | None) -> CachedModel:
    import torch

    suffix = src.suffix.lower()
    if suffix not in (".safetensors", ".pth", ".pt"):
        raise ValueError(f"{src}: a weights file must be .safetensors or .pth / .pt (read with weights_only)")
    if name is None:
        guessed = _torchvision_file_names().get(src.name)
        if guessed is None:
            raise ValueError(
                f"cannot tell which torchvision model {src.name} is for: pass --name (e.g. resnet18 or "
                "resnet18.IMAGENET1K_V1)"
            )
        name = guessed
    model_name, weights = torchvision_weights(name)
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(src))
    else:
        try:
            state = torch.load(src, map_location="cpu", weights_only=True)
        except Exception as exc:  # an unpickler refusal or a corrupt file: say which file, not how
            raise ValueError(f"{src} is not a plain state dict (read with weights_only): {exc}") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{src} does not hold a state dict (a mapping of names to tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    _check_fits(model_name, state, src)
    folder = torch_checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / weights.url.rsplit("/", 1)[-1]
    tmp = target.with_name(target.name + ".partial")
    torch.save(state, tmp)
    os.replace(tmp, target)
    ident = f"{TORCHVISION_PREFIX}{model_name}.{weights.name}"
    return CachedModel(ident, "torchvision", f"sha256:{file_sha256(target)}", target.stat().st_size, target)


def _check_fits(model_name: str, state: dict, src: Path) -> None:
    import torch
    import torchvision

    with torch.device("meta"):
        expected = torchvision.models.get_model(model_name, weights=None).state_dict()
    missing = [k for k in expected if k not in state]
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or wrong or len(state) != len(expected):
        raise ValueError(
            f"{src} does not hold {model_name} weights: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(wrong)} of the wrong shape (e.g. {wrong[:3]}), {len(state)} tensors for {len(expected)}"
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- pulling -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PulledModel:
    id: str
    source: str  # "huggingface" | "torchvision"
    revision: str
    path: Path
    size_bytes: int  # on disk, all of the model's files
    downloaded_bytes: int  # fetched by this pull (less when files were already here)
    seconds: float


def pull(
    ref: str, *, revision: str | None = None, progress: Progress | None = None, cancel: object = None
) -> PulledModel:
    """Fetch ``ref`` (a Hugging Face id ``org/name[@revision]`` or ``torchvision:<model>[.<WEIGHTS>]``).

    ``progress(done_bytes, total_bytes)`` is called as bytes arrive (from download threads); ``cancel``
    (an object with ``is_set()``) stops the transfer at the next chunk with
    :class:`~mmstudio.progress.Cancelled`. A :class:`~mmstudio.progress.TaskState` is both, so the GUI
    runs ``pull(ref, progress=state, cancel=state)`` in its thread pool.
    Files already fetched are kept, so pulling again fetches only what is missing.
    """
    ref = ref.strip().removeprefix("hf:")
    check_cancel(cancel, "the download")
    if ref.startswith(TORCHVISION_PREFIX):
        return _pull_torchvision(ref, progress, cancel)
    repo_id, ref_revision = split_ref(ref)
    return _pull_huggingface(repo_id, revision or ref_revision, progress, cancel)


def _pull_huggingface(repo_id: str, revision: str | None, progress: Progress | None, cancel) -> PulledModel:
    if Path(repo_id).expanduser().exists():
        raise ValueError(
            f"{repo_id} is a local path, not a Hugging Face id: use the folder as it is (hf:{repo_id}) or "
            f"copy it into mmstudio with 'mmstudio models import {repo_id}'"
        )
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise ValueError(f"'{repo_id}' is not a Hugging Face model id (org/name, optionally @revision)")
    if hf_offline():
        raise ConnectionError(
            f"HF_HUB_OFFLINE is set, so {repo_id} cannot be fetched: unset it, or copy the model's folder "
            "here and run 'mmstudio models import FOLDER'"
        )
    import httpx2
    import huggingface_hub.constants as hf_constants
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import filter_repo_objects

    # HF_HUB_OFFLINE is read now, not when huggingface_hub was imported (it is unset: checked above).
    hf_constants.HF_HUB_OFFLINE = False
    # huggingface_hub writes, reports progress and can resume a dropped transfer only at the end of each
    # chunk it reads (10 MiB by default): 1 MiB chunks make progress, Ctrl-C and resuming ten times finer.
    hf_constants.DOWNLOAD_CHUNK_SIZE = min(hf_constants.DOWNLOAD_CHUNK_SIZE, CHUNK)
    endpoint, cache = hf_endpoint(), hf_cache_dir()
    start = time.perf_counter()
    api = HfApi(endpoint=endpoint)
    where = f"{repo_id}@{revision}" if revision else repo_id
    try:
        info = api.repo_info(repo_id, revision=revision)
        sha = info.sha
        files = {
            f.path: f.size
            for f in api.list_repo_tree(repo_id, revision=sha, recursive=True)
            if hasattr(f, "size")
        }
    except RevisionNotFoundError:
        raise ValueError(f"{repo_id} has no revision {revision} on {endpoint}") from None
    except GatedRepoError:
        raise PermissionError(
            f"{repo_id} is gated on {endpoint}: accept its licence on its page and log in (HF_TOKEN)"
        ) from None
    except RepositoryNotFoundError:
        raise ValueError(
            f"there is no model {repo_id} on {endpoint} (or it is private: set HF_TOKEN)"
        ) from None
    except (HfHubHTTPError, OSError, httpx2.HTTPError) as exc:
        raise ConnectionError(f"could not reach {endpoint} to fetch {where}: {_first_line(exc)}") from None
    wanted = list(filter_repo_objects(files, allow_patterns=ALLOW_PATTERNS, ignore_patterns=IGNORE_PATTERNS))
    if not any(f.endswith(".safetensors") for f in wanted):
        pickles = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
        hint = (
            f" (it has {', '.join(pickles[:3])}: pickled weights, which mmstudio never loads)"
            if pickles
            else ""
        )
        raise ValueError(
            f"{where} has no safetensors weights{hint}; choose a model that publishes .safetensors"
        )
    total = sum(files[f] for f in wanted)
    snapshot = cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / sha
    already = sum(files[f] for f in wanted if (snapshot / f).is_file())
    counter = _ByteCounter(total, already, progress, cancel)
    if progress is not None:
        progress(already, total)
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache,
            endpoint=endpoint,
            allow_patterns=ALLOW_PATTERNS,
            ignore_patterns=IGNORE_PATTERNS,
            tqdm_class=counter.tqdm_class(),
            max_workers=4,
        )
    except Cancelled:
        raise
    except (HfHubHTTPError, OSError, httpx2.HTTPError) as exc:
        check_cancel(cancel, "the download")
        raise ConnectionError(
            f"the download of {where} from {endpoint} failed: {_first_line(exc)}; run the same pull again to "
            "fetch what is missing"
        ) from None
    if progress is not None and counter.reported < total:
        progress(total, total)
    path = Path(folder)
    return PulledModel(
        repo_id, "huggingface", path.name, path, total, counter.fetched(), time.perf_counter() - start
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _ByteCounter:
    """Turns huggingface_hub's progress bars into ``progress(done, total)`` and a cancel check.

    snapshot_download drives a files bar and byte bars through ``tqdm_class``; the byte bars (unit
    ``B``) all count the same bytes, so the largest count is the progress. Every update checks
    ``cancel``: raising there stops each download thread at its next chunk.
    """

    def __init__(self, total: int, already: int, progress: Progress | None, cancel) -> None:
        self.total, self.already = total, already
        self.progress, self.cancel = progress, cancel
        self.lock = threading.Lock()
        self.counts: list[list[int]] = []
        self.last = 0.0
        self.reported = already  # the last ``done`` passed on

    def fetched(self) -> int:
        with self.lock:
            return max((c[0] for c in self.counts), default=0)

    def update(self, cell: list[int] | None, n: float | None) -> None:
        check_cancel(self.cancel, "the download")
        if cell is None:  # the files bar
            return
        with self.lock:
            cell[0] += int(n or 0)
            done = min(self.total, self.already + max(c[0] for c in self.counts))
        if self.progress is None:
            return
        now = time.monotonic()
        if done != self.reported and (now - self.last >= 0.05 or done >= self.total):
            self.last, self.reported = now, done
            self.progress(done, self.total)

    def tqdm_class(self):
        counter = self

        class _Bar:
            """Enough of tqdm's interface for snapshot_download; draws nothing."""

            _lock = threading.RLock()

            def __init__(self, iterable: Iterable | None = None, *args, **kwargs) -> None:
                self.iterable = iterable
                self.total = kwargs.get("total")
                self.n = kwargs.get("initial", 0) or 0
                self.format_dict: dict = {}
                self._cell: list[int] | None = None
                if kwargs.get("unit") == "B":
                    self._cell = [0]
                    with counter.lock:
                        counter.counts.append(self._cell)

            def __iter__(self):
                for item in self.iterable or ():
                    yield item
                    self.update(1)

            def __enter__(self):
                return self

            def __exit__(self, *exc) -> None:
                self.close()

            def update(self, n: float | None = 1) -> None:
                self.n += n or 0
                counter.update(self._cell, n)

            def close(self) -> None:
                pass

            def refresh(self, *args, **kwargs) -> None:
                pass

            def set_description(self, *args, **kwargs) -> None:
                pass

            set_description_str = set_postfix_str = set_postfix = set_description

            @classmethod
            def get_lock(cls):
                return cls._lock

            @classmethod
            def set_lock(cls, lock) -> None:
                cls._lock = lock

        return _Bar


def _pull_torchvision(ref: str, progress: Progress | None, cancel) -> PulledModel:
    """Fetch a torchvision weights file into ``$TORCH_HOME/hub/checkpoints`` under torchvision's own name,
    checked against the hash prefix in that name as ``torch.hub.load_state_dict_from_url(check_hash=True)``
    checks it. Byte-level resume: a ``.partial`` file left by an interrupted pull is continued."""
    import http.client
    import urllib.error
    import urllib.request

    model_name, weights = torchvision_weights(ref)
    ident = f"{TORCHVISION_PREFIX}{model_name}.{weights.name}"
    url = weights.url
    folder = torch_checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / url.rsplit("/", 1)[-1]
    start = time.perf_counter()
    if target.is_file():
        size = target.stat().st_size
        if progress is not None:
            progress(size, size)
        return PulledModel(
            ident, "torchvision", _hash_prefix(target), target, size, 0, time.perf_counter() - start
        )
    partial = target.with_name(target.name + ".partial")
    have = partial.stat().st_size if partial.is_file() else 0
    headers = {"User-Agent": "torch.hub"}  # as torch.hub.download_url_to_file asks
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    fetched = 0
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            if have and response.status != 206:  # the server ignored the range: start again
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length else 0
            with open(partial, "ab" if have else "wb") as f:
                while chunk := response.read(CHUNK):
                    check_cancel(cancel, "the download")
                    f.write(chunk)
                    fetched += len(chunk)
                    if progress is not None:
                        progress(have + fetched, max(total, have + fetched))
        if total and have + fetched < total:
            raise http.client.IncompleteRead(b"", total - have - fetched)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already complete
            pass
        else:
            raise ConnectionError(
                f"could not fetch {ident} from {url}: HTTP {exc.code} {exc.reason}"
            ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise ConnectionError(
            f"the download of {ident} from {url} stopped ({reason}); run the same pull again to resume it"
        ) from None
    expected = re.search(r"-([a-f0-9]+)\.", target.name)
    digest = file_sha256(partial)
    if expected and not digest.startswith(expected.group(1)):
        partial.unlink(missing_ok=True)
        raise ValueError(
            f"the file fetched from {url} does not match the hash in its name ({expected.group(1)}): it was "
            "removed; pull again"
        )
    os.replace(partial, target)
    size = target.stat().st_size
    return PulledModel(
        ident, "torchvision", f"sha256:{digest}", target, size, fetched, time.perf_counter() - start
    )


def _hash_prefix(path: Path) -> str:
    match = re.search(r"-([a-f0-9]{6,})\.", path.name)
    return f"sha256:{match.group(1)}" if match else ""
