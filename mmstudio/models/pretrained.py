"""Pretrained Hugging Face encoders: ``hf`` text and image encoders, and how they are fine-tuned.

A text encoder ``{"name": "hf", "model": ID_OR_FOLDER, "pooling": "auto", "finetune": "frozen",
"revision": ""}`` is any encoder-only ``AutoModel`` (BERT, DistilBERT, RoBERTa, MiniLM, a
sentence-transformers export, flat or with ``0_Transformer/``); it reads the ids of the model's own
tokenizer (:func:`model_tokenizer` says which; the data layer's
:class:`~mmstudio.data.hf_tokenizer.HFTokenizer` makes them) and builds its attention mask from the
lengths. The text tower of a CLIP / SigLIP checkpoint serves too, pooled as it was trained (its
``pooler_output``: CLIP's end-of-text token, SigLIP's head), so ``text_encoder: hf:CLIP`` with
``image_encoder: hf:CLIP`` puts both towers of one checkpoint in one model. An image encoder
``{"name": "hf", ...}`` is a ViT, DINOv2, ConvNeXt, or the vision tower of a CLIP / SigLIP
checkpoint; it declares the input its image processor expects (:func:`image_input`:
side, mean, std), so training caches the images at that size and normalises them with that mean and
std.

``finetune`` (:func:`parse_finetune`), applied when the model is built:

- ``frozen``: no parameter trains and the model stays in eval mode (dropout off), so its features
  never change;
- ``top:N``: the last N blocks (transformer layers, or ConvNeXt stages) and the final norm train; the
  rest is frozen and stays in eval mode;
- ``full``: everything trains;
- ``lora``: LoRA adapters (``peft``, rank ``lora_r``) on the attention's query / key / value
  projections train, nothing else of the model.

The pretrained parameters that train (``top:N`` and ``full``) are the encoder's
:meth:`PretrainedEncoder.backbone_parameters`: the trainer gives them ``TrainSpec.backbone_lr_scale``
times the head's learning rate. LoRA's adapters are new weights and train at the head's rate.

The model is found by :func:`mmstudio.models.fetch.resolve` (a local folder, or a model pulled into
the cache: training never downloads). :func:`pin_revisions` writes the exact revision into the spec
when it is resolved for a dataset, so a run records it; a model whose revision has changed since is
refused when the run is rebuilt. Weights load from safetensors only and never with remote code.
``transformers`` and ``peft`` are imported only when an encoder is built.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from mmstudio.models._common import EncoderOutput, building_on_meta, masked_mean, padding_mask
from mmstudio.models.context import ModelContext
from mmstudio.models.image import IMAGE_ENCODERS, ImageEncoder, pin_weights, torchvision_input
from mmstudio.models.registry import Param
from mmstudio.models.text import SENTENCE_MODEL_ENV, TEXT_ENCODERS, TextEncoder

#: The names of the attention's query / key / value projections across BERT, DistilBERT, RoBERTa,
#: ViT, DINOv2 (``query``...), CLIP and SigLIP (``q_proj``...): where LoRA adapters go.
LORA_TARGETS = ("query", "key", "value", "q_lin", "k_lin", "v_lin", "q_proj", "k_proj", "v_proj")
#: Where the blocks of the supported architectures are (``top:N`` trains the last N of them).
_BLOCK_PATHS = (
    "encoder.layer",  # BERT, RoBERTa, MiniLM, ViT, DINOv2
    "transformer.layer",  # DistilBERT
    "vision_model.encoder.layers",  # CLIP / SigLIP vision towers
    "text_model.encoder.layers",  # CLIP / SigLIP text towers
    "encoder.layers",
    "encoder.stages",  # ConvNeXt
    "layers",  # ViT (transformers 5)
)
#: What follows the blocks and trains with them under ``top:N``: final norms and pooling heads.
_AFTER_BLOCKS = (
    "layernorm",
    "post_layernorm",
    "head",
    "vision_model.post_layernorm",
    "vision_model.head",
    "text_model.final_layer_norm",
    "text_model.head",
)
#: Vision towers taken out of a full two-tower checkpoint.
_VISION_TOWERS = {"clip": "CLIPVisionModel", "siglip": "SiglipVisionModel", "siglip2": "Siglip2VisionModel"}
#: Text towers taken out of a full two-tower checkpoint (pooled by their own ``pooler_output``).
_TEXT_TOWERS = {"clip": "CLIPTextModel", "siglip": "SiglipTextModel", "siglip2": "Siglip2TextModel"}
#: Models whose forward takes ``pooler=None`` (their [CLS] dense + tanh, unused here, is dropped).
_POOLERS = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "vit", "deit", "mpnet")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --- finding the model ------------------------------------------------------------------------------


def parse_finetune(text: str) -> tuple[str, int]:
    """``"frozen"`` → ``("frozen", 0)``, ``"top:2"`` → ``("top", 2)``; ValueError naming the choices."""
    value = str(text).strip().lower()
    if value in ("frozen", "full", "lora"):
        return value, 0
    if value.startswith("top:"):
        try:
            n = int(value[4:])
        except ValueError:
            n = 0
        if n >= 1:
            return "top", n
    raise ValueError(f"finetune {text!r} is not one of frozen, top:N (N at least 1), full, lora")


def resolve_model(ref: str) -> Any:
    """The :class:`~mmstudio.models.fetch.ResolvedModel` of ``ref`` (a hub id or a local folder)."""
    from mmstudio.models.fetch import resolve

    folder = Path(os.path.expanduser(ref)) if ref else None
    if folder is not None and folder.is_dir():  # a pickle-only folder: say so, and how to convert it
        check_weights(transformer_dir(folder))
    return resolve(ref)


def transformer_dir(folder: Path) -> Path:
    """The folder with the model's ``config.json``: the model folder itself, or the ``0_Transformer/``
    of an older sentence-transformers export."""
    for candidate in (folder, folder / "0_Transformer"):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"{folder} holds no config.json (nor 0_Transformer/config.json): not a model folder"
    )


def check_weights(model_dir: Path) -> None:
    """Refuse a model whose weights are not safetensors (a pickle can run code when it is read)."""
    if any(model_dir.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in model_dir.glob("*.bin")) + sorted(
        p.name for p in model_dir.glob("*.pt*")
    )
    if pickles:
        raise ValueError(
            f"{model_dir} holds only pickled weights ({', '.join(pickles[:3])}); mmstudio loads safetensors "
            "only: convert the model (save_pretrained(..., safe_serialization=True)) or pull a safetensors "
            "revision"
        )
    raise FileNotFoundError(f"{model_dir} holds no weights (no .safetensors file)")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _config(model_dir: Path) -> dict[str, Any]:
    return _read_json(model_dir / "config.json")


def _availability(params: Mapping[str, Any]) -> tuple[bool, str]:
    """Available with transformers installed (a form may offer it, then ask for the model); a
    component naming no model, or one that is not here, is not."""
    if importlib.util.find_spec("transformers") is None:
        return False, "the transformers package is not installed"
    if "model" not in params:
        return True, ""
    ref = params["model"]
    if not ref:
        return False, "name the model: a Hugging Face hub id or a local model folder (the model parameter)"
    from mmstudio.models.fetch import ModelNotCached

    try:
        transformer_dir(resolve_model(ref).path)
    except ModelNotCached as exc:
        return False, str(_pinned(exc, params))
    except (FileNotFoundError, ValueError) as exc:
        return False, str(exc)
    return True, ""


def _check_revision(params: Mapping[str, Any], resolved: Any) -> None:
    recorded = params.get("revision") or ""
    if recorded and recorded != resolved.revision:
        raise ValueError(
            f"the model {params['model']} is at revision {resolved.revision} here, but this spec was "
            f"trained with revision {recorded}: the weights differ, so the network would not be the one "
            "recorded; restore that revision of the model, or clear the revision parameter to train a new "
            "run on the model as it is now"
        )


def _resolve_recorded(params: Mapping[str, Any]) -> Any:
    """:func:`resolve_model` of ``params["model"]``, checked against the recorded revision. A hub
    model that is not here raises ModelNotCached naming ``MODEL@REVISION``: what to pull to get
    the very weights a run recorded."""
    from mmstudio.models.fetch import ModelNotCached

    try:
        resolved = resolve_model(params["model"])
    except ModelNotCached as exc:
        raise _pinned(exc, params) from None
    _check_revision(params, resolved)
    return resolved


def _pinned(exc: Any, params: Mapping[str, Any]) -> Any:
    """``exc`` (a ModelNotCached) naming ``MODEL@REVISION`` when ``params`` record a hub commit."""
    from mmstudio.models.fetch import ModelNotCached

    recorded = params.get("revision") or ""
    if recorded and not recorded.startswith("sha256:") and "@" not in exc.ref:
        return ModelNotCached(f"{exc.ref}@{recorded}", exc.detail)
    return exc


def require_pretrained(spec: Any) -> None:
    """Raise ModelNotCached (a FileNotFoundError naming what to pull) when a pretrained model that
    ``spec`` starts from is not on this machine: a saved run's frozen weights are rebuilt from it."""
    from mmstudio.models.fetch import ModelNotCached
    from mmstudio.models.image import BACKBONES, find_pretrained_file

    for slot in ("text_encoder", "image_encoder"):
        component = getattr(spec, slot)
        params = _hf_params(slot, component)
        if params is not None and params.get("model"):
            try:
                resolve_model(params["model"])
            except ModelNotCached as exc:
                raise _pinned(exc, params) from None
        elif component.get("name") in BACKBONES and component.get("pretrained"):
            find_pretrained_file(component["name"], component["weights_path"], component["weights"])


def _common_checks(params: Mapping[str, Any], *, vision: bool = False) -> Iterator[tuple[str, str]]:
    try:
        mode, n = parse_finetune(params["finetune"])
    except ValueError as exc:
        yield "error", str(exc)
        return
    try:
        resolved = resolve_model(params["model"])
        _check_revision(params, resolved)
        model_dir = transformer_dir(resolved.path)
        check_weights(model_dir)
    except (ValueError, FileNotFoundError) as exc:
        yield "error", str(exc)
        return
    if mode in ("top", "lora"):  # the architecture alone (on the meta device) says whether it can
        import torch

        try:
            with torch.device("meta"):
                model = load_model(model_dir, vision=vision, text=not vision)
            if mode == "top" and n > len(find_blocks(model)):
                yield (
                    "error",
                    f"finetune top:{n} asks for more blocks than the model's {len(find_blocks(model))}",
                )
            elif mode == "lora":
                lora_targets(model)
        except ValueError as exc:
            yield "error", str(exc)


# --- fine-tuning --------------------------------------------------------------------------------------


def _get(module: nn.Module, path: str) -> Any:
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's blocks in order (transformer layers, or ConvNeXt stages)."""
    for path in _BLOCK_PATHS:
        blocks = _get(model, path)
        if isinstance(blocks, nn.ModuleList) and len(blocks):
            return blocks
    raise ValueError(f"cannot find the blocks of {type(model).__name__} for top:N; use frozen, full or lora")


def lora_targets(model: nn.Module) -> list[str]:
    """The names of ``model``'s attention projections (the LoRA adapters' places); ValueError if none."""
    targets = sorted(
        {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
        & set(LORA_TARGETS)
    )
    if not targets:
        raise ValueError(
            f"{type(model).__name__} has no attention projections for LoRA adapters; "
            "use frozen, top:N or full"
        )
    return targets


def _add_lora(model: nn.Module, rank: int) -> nn.Module:
    from peft import LoraConfig, inject_adapter_in_model

    targets = lora_targets(model)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=targets, bias="none")
    model = inject_adapter_in_model(config, model)
    for name, param in model.named_parameters():
        param.requires_grad_("lora_" in name)
    return model


class PretrainedEncoder(nn.Module):
    """What the ``hf`` encoders share: the Hugging Face ``model``, its fine-tuning mode, the modules
    that train (kept in train mode; everything else of a frozen or ``top:N`` model stays in eval
    mode), and which parameters are the pretrained backbone's."""

    model: nn.Module

    def setup_finetune(self, finetune: str, lora_r: int = 8) -> None:
        mode, n = parse_finetune(finetune)
        self.finetune = finetune
        self.mode = mode
        self.trained: list[nn.Module] = []
        if mode == "full":
            return
        if mode == "lora":
            self.model = _add_lora(self.model, lora_r)
            return
        self.model.requires_grad_(False)
        if mode == "top":
            blocks = find_blocks(self.model)
            if n > len(blocks):
                raise ValueError(f"finetune top:{n} asks for more blocks than the model's {len(blocks)}")
            after = [_get(self.model, p) for p in _AFTER_BLOCKS]
            self.trained = [*blocks[len(blocks) - n :], *(m for m in after if isinstance(m, nn.Module))]
            for module in self.trained:
                module.requires_grad_(True)

    def train(self, mode: bool = True) -> PretrainedEncoder:
        super().train(mode)
        if self.mode in ("frozen", "top"):
            self.model.eval()
            for module in self.trained:
                module.train(mode)
        return self

    def frozen_state_keys(self) -> list[str]:
        """The names, in this module's ``state_dict()``, of the pretrained tensors training never
        changes: the parameters that do not train, and (``frozen``, ``top:N``: what does not train
        stays in eval mode) the buffers outside the trained blocks. A checkpoint leaves them out and
        takes them again from the model it rebuilds (:class:`mmstudio.training.checkpoints.FrozenState`)."""
        if self.mode == "full":
            return []
        keys = [
            f"model.{n}"
            for n, p in self.model.named_parameters(remove_duplicate=False)
            if not p.requires_grad
        ]
        if self.mode in ("frozen", "top"):
            trained = {id(b) for module in self.trained for b in module.buffers()}
            keys += [
                f"model.{n}"
                for n, b in self.model.named_buffers(remove_duplicate=False)
                if id(b) not in trained
            ]
        return keys

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """The pretrained parameters that train (``top:N``, ``full``): the trainer gives them a
        fraction of the head's learning rate. LoRA adapters are not among them."""
        if self.mode in ("top", "full"):
            yield from (p for p in self.model.parameters() if p.requires_grad)

    def enable_gradient_checkpointing(self) -> bool:
        """Trade compute for memory in the trained blocks (``top:N``, ``full``); False if not supported."""
        model = self.model
        if self.mode not in ("top", "full") or not getattr(model, "supports_gradient_checkpointing", False):
            return False
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5 (the older name warns)
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return True


def _drop_pooler(model: nn.Module) -> nn.Module:
    """BERT's and ViT's pooler (dense + tanh over [CLS]) is trained for next-sentence prediction; the
    encoders pool the sequence themselves, and an unused module would only hold parameters."""
    if isinstance(getattr(model, "pooler", None), nn.Module) and model.config.model_type in _POOLERS:
        model.pooler = None
    return model


def load_model(model_dir: Path, *, vision: bool = False, text: bool = False) -> nn.Module:
    """The model in ``model_dir`` (weights from safetensors; only the architecture on the meta device);
    ``vision`` / ``text``: the vision / text tower of a CLIP / SigLIP checkpoint rather than the whole
    model (a model of one tower loads as it is)."""
    import transformers

    transformers.logging.disable_progress_bar()  # the terminal's and the app's progress are mmstudio's
    config = transformers.AutoConfig.from_pretrained(
        model_dir, local_files_only=True, trust_remote_code=False
    )
    model_class: Any = transformers.AutoModel
    tower = _VISION_TOWERS.get(config.model_type) if vision else None
    if tower is not None:
        model_class = getattr(transformers, tower)
        config = config.vision_config
    elif text and config.model_type in _TEXT_TOWERS:
        tower = _TEXT_TOWERS[config.model_type]
        model_class = getattr(transformers, tower)
        config = config.text_config
    if building_on_meta():
        model = model_class(config) if tower is not None else model_class.from_config(config)
    else:
        check_weights(model_dir)
        verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_error()  # a tower's load report lists the other tower's keys
        try:
            model, info = model_class.from_pretrained(
                model_dir,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=True,
                output_loading_info=True,
            )
        finally:
            transformers.logging.set_verbosity(verbosity)
        missing = [k for k in info.get("missing_keys", ()) if not k.startswith("pooler.")]
        if missing:
            raise ValueError(
                f"{model_dir} does not hold every weight of {type(model).__name__}: {len(missing)} missing "
                f"(e.g. {', '.join(sorted(missing)[:3])}); the model would start partly random"
            )
    return _drop_pooler(model)


# --- the text encoder ------------------------------------------------------------------------------


def sentence_pooling(folder: Path) -> str | None:
    """``mean`` or ``cls`` as a sentence-transformers export says (``modules.json`` and its Pooling
    module's ``config.json``), or None when the folder is not such an export."""
    modules = _read_json(folder / "modules.json") if (folder / "modules.json").is_file() else None
    if not isinstance(modules, list):
        return None
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith("Pooling"):
            config = _read_json(folder / str(module.get("path", "")) / "config.json")
            if config.get("pooling_mode_cls_token"):
                return "cls"
            return "mean"
    return "mean"


def text_pooling(folder: Path, pooling: str) -> str:
    """The pooling ``auto`` means for the model in ``folder``: mean for a sentence-transformers export
    (as it was trained), the tower's own pooled output (``pooler``) for the text tower of a CLIP /
    SigLIP checkpoint, else the first token ([CLS])."""
    if pooling != "auto":
        return pooling
    if _config(transformer_dir(folder)).get("model_type") in _TEXT_TOWERS:
        return "pooler"
    return sentence_pooling(folder) or "cls"


class HFTextEncoder(PretrainedEncoder, TextEncoder):
    """A Hugging Face encoder-only model (or a CLIP / SigLIP text tower) over its own tokenizer's ids:
    ``[CLS]``, mean pooling, or the tower's own pooled output (``pooler``)."""

    def __init__(self, model: nn.Module, pooling: str, finetune: str, lora_r: int = 8) -> None:
        super().__init__()
        self.model = model
        self.pooling = pooling
        self.out_dim = int(model.config.hidden_size)
        self.setup_finetune(finetune, lora_r)

    def forward(self, tokens: Tensor, lengths: Tensor) -> EncoderOutput:
        mask = padding_mask(lengths, tokens.shape[1])
        # On the meta device (summarize) the mask's values do not exist, and the shapes need none.
        attention = None if tokens.is_meta else (~mask).long()
        out = self.model(input_ids=tokens, attention_mask=attention)
        seq = out.last_hidden_state
        if self.pooling == "pooler":
            pooled = out.pooler_output
        else:
            pooled = seq[:, 0] if self.pooling == "cls" else masked_mean(seq, mask)
        return EncoderOutput(pooled, seq, mask)


_FINETUNE = Param(
    "finetune",
    "str",
    "frozen",
    help="frozen (only what follows trains), top:N (the last N blocks train too), full, or lora (adapters)",
)
_REVISION = Param(
    "revision",
    "str",
    "",
    help="the model's exact revision, recorded when the spec is resolved; a different one is refused",
)
_LORA_R = Param(
    "lora_r", "int", 8, 1, 256, help="rank of the LoRA adapters (finetune lora)", title="LoRA rank"
)


def _check_hf_text(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    yield from _common_checks(params)
    try:
        config = _config(transformer_dir(resolve_model(params["model"]).path))
    except (LookupError, FileNotFoundError):
        return
    positions = config.get("max_position_embeddings") or (config.get("text_config") or {}).get(
        "max_position_embeddings"
    )
    if isinstance(positions, int) and ctx.max_len > positions:
        yield "error", f"max_len {ctx.max_len} exceeds the model's {positions} positions"


@TEXT_ENCODERS.register(
    "hf",
    help="A pretrained Hugging Face text encoder (BERT, RoBERTa, MiniLM, ...) with its own tokenizer",
    params=[
        Param(
            "model",
            "str",
            "",
            help="a Hugging Face hub id (pulled first) or a local model folder",
            path="folder",
        ),
        Param(
            "pooling",
            "choice",
            "auto",
            choices=("auto", "cls", "mean"),
            help="auto: mean for a sentence-transformers export, else the [CLS] token",
        ),
        _FINETUNE,
        _REVISION,
        _LORA_R,
    ],
    available=_availability,
    check=_check_hf_text,
    tokenizer="pretrained",
    pretrained=True,
)
def hf(
    *, ctx: ModelContext, model: str, pooling: str, finetune: str, revision: str, lora_r: int
) -> HFTextEncoder:
    resolved = _resolve_recorded({"model": model, "revision": revision})
    model_dir = transformer_dir(resolved.path)
    return HFTextEncoder(
        load_model(model_dir, text=True), text_pooling(resolved.path, pooling), finetune, lora_r
    )


# --- minilm: the older name of a local sentence-transformers folder ---------------------------------


def sentence_model_dir(params: Mapping[str, Any]) -> Path | None:
    """The folder named by the ``path`` param, else by ``$MMSTUDIO_SENTENCE_MODEL``, else None."""
    folder = params.get("path") or os.environ.get(SENTENCE_MODEL_ENV, "")
    return Path(folder).expanduser() if folder else None


def minilm_as_hf(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``hf`` params a ``minilm`` component means: its folder, mean pooling, frozen or full."""
    folder = sentence_model_dir(params)
    return {
        "model": str(folder) if folder else "",
        "pooling": "mean",
        "finetune": "frozen" if params.get("freeze", True) else "full",
        "revision": params.get("revision", ""),
        "lora_r": 8,
    }


def _minilm_available(params: Mapping[str, Any]) -> tuple[bool, str]:
    if sentence_model_dir(params) is None:
        return False, (
            f"no local model folder: set the path parameter or {SENTENCE_MODEL_ENV} to a "
            "sentence-transformers folder such as all-MiniLM-L6-v2 (or use the hf text encoder)"
        )
    return _availability(minilm_as_hf(params))


def _check_minilm(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    yield from _check_hf_text(minilm_as_hf(params), ctx)


@TEXT_ENCODERS.register(
    "minilm",
    help="A local sentence-transformers folder (e.g. all-MiniLM-L6-v2), mean-pooled: hf with pooling mean",
    params=[
        Param("path", "str", "", help=f"the model folder; empty: ${SENTENCE_MODEL_ENV}", path="folder"),
        Param("freeze", "bool", True, help="keep the pretrained weights fixed (train only what follows)"),
        _REVISION,
    ],
    available=_minilm_available,
    check=_check_minilm,
    tokenizer="pretrained",
    pretrained=True,
)
def minilm(*, ctx: ModelContext, path: str, freeze: bool, revision: str) -> HFTextEncoder:
    return hf(ctx=ctx, **minilm_as_hf({"path": path, "freeze": freeze, "revision": revision}))


# --- the image encoder -----------------------------------------------------------------------------


def _side(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        for key in ("height", "shortest_edge", "width"):
            if isinstance(value.get(key), int):
                return int(value[key])
    return None


def processor_input(folder: Path) -> dict[str, Any]:
    """``{"size", "mean", "std"}`` of the model in ``folder``, from its image processor's
    ``preprocessor_config.json`` (the crop size when it crops), else its config's ``image_size``."""
    processor = _read_json(folder / "preprocessor_config.json")
    size = None
    if processor.get("do_center_crop"):
        size = _side(processor.get("crop_size"))
    size = size or _side(processor.get("size"))
    if size is None:
        config = _config(folder)
        size = _side(config.get("image_size")) or _side((config.get("vision_config") or {}).get("image_size"))
    mean = processor.get("image_mean") or IMAGENET_MEAN
    std = processor.get("image_std") or IMAGENET_STD
    if isinstance(mean, int | float):
        mean = [mean] * 3
    if isinstance(std, int | float):
        std = [std] * 3
    return {"size": int(size or 224), "mean": [float(x) for x in mean], "std": [float(x) for x in std]}


class HFImageEncoder(PretrainedEncoder, ImageEncoder):
    """A Hugging Face vision model: ViT / DINOv2 / a CLIP or SigLIP tower (tokens: the patches, pooled:
    the model's pooled output, else [CLS]) or ConvNeXt (tokens: the final map's positions)."""

    def __init__(self, model: nn.Module, finetune: str, lora_r: int = 8) -> None:
        super().__init__()
        self.model = model
        config = model.config
        hidden = getattr(config, "hidden_size", None)
        self.out_dim = int(hidden if isinstance(hidden, int) else config.hidden_sizes[-1])
        self.setup_finetune(finetune, lora_r)

    def forward(self, image: Tensor) -> EncoderOutput:
        out = self.model(pixel_values=image)
        seq = out.last_hidden_state
        if seq.dim() == 4:  # a feature map [B, C, h, w]
            tokens = seq.flatten(2).transpose(1, 2)
            pooled = out.pooler_output if out.pooler_output is not None else seq.mean(dim=(2, 3))
            return EncoderOutput(pooled.flatten(1), tokens, None)
        pooled = getattr(out, "pooler_output", None)
        return EncoderOutput(seq[:, 0] if pooled is None else pooled, seq, None)


def _image_dir(ref: str) -> Path:
    return transformer_dir(resolve_model(ref).path)


def _check_hf_image(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    yield from _common_checks(params, vision=True)
    try:
        wanted = processor_input(_image_dir(params["model"]))["size"]
    except (LookupError, FileNotFoundError):
        return
    if ctx.image_size != wanted:
        yield (
            "error",
            f"the model takes {wanted} px images, not {ctx.image_size} px: set the image size to {wanted}",
        )


@IMAGE_ENCODERS.register(
    "hf",
    help="A pretrained Hugging Face image encoder (ViT, DINOv2, ConvNeXt, CLIP / SigLIP vision tower)",
    params=[
        Param(
            "model",
            "str",
            "",
            help="a Hugging Face hub id (pulled first) or a local model folder",
            path="folder",
        ),
        _FINETUNE,
        _REVISION,
        _LORA_R,
    ],
    available=_availability,
    check=_check_hf_image,
    min_image_size=16,
    preprocessing="pretrained",
    pretrained=True,
)
def hf_image(*, ctx: ModelContext, model: str, finetune: str, revision: str, lora_r: int) -> HFImageEncoder:
    resolved = _resolve_recorded({"model": model, "revision": revision})
    return HFImageEncoder(load_model(transformer_dir(resolved.path), vision=True), finetune, lora_r)


hf_image.__name__ = hf_image.__qualname__ = "hf"


# --- what the data pipeline needs, and the revisions a run records ---------------------------------


def _hf_params(slot: str, component: Mapping[str, Any]) -> dict[str, Any] | None:
    """The hf-style params (model, revision, ...) of a pretrained component, or None."""
    name = component.get("name")
    if name == "hf":
        return dict(component)
    if slot == "text_encoder" and name == "minilm":
        return minilm_as_hf(component)
    return None


def model_tokenizer(spec: Any) -> dict[str, Any] | None:
    """The ``to_dict()`` of the tokenizer ``spec``'s text encoder must read with (its own, for a
    pretrained one: :class:`~mmstudio.data.hf_tokenizer.HFTokenizer`), or None: fit one on the data.
    Raises ModelNotCached, or ValueError when the model's revision is not the recorded one."""
    params = _hf_params("text_encoder", spec.text_encoder)
    if params is None:
        return None
    resolved = _resolve_recorded(params)
    return {
        "kind": "hf",
        "format_version": 1,
        "path": str(transformer_dir(resolved.path)),
        "model_id": resolved.id,
        "revision": resolved.revision,
    }


def image_input(spec: Any) -> dict[str, Any] | None:
    """``{"size", "mean", "std", "source"}`` that ``spec``'s image encoder expects, or None: the
    training spec's size and the ImageNet mean and std. A pretrained Hugging Face encoder's come from
    its image processor; a torchvision encoder's pretrained weights' from their own preset
    (:func:`mmstudio.models.image.torchvision_input`: ``size`` None when it takes the run's size).
    ``source`` names where they come from (the model id, or ``resnet18 IMAGENET1K_V1``)."""
    tv = torchvision_input(spec.image_encoder)
    if tv is not None:
        return tv
    params = _hf_params("image_encoder", spec.image_encoder)
    if params is None:
        return None
    return {**processor_input(_image_dir(params["model"])), "source": params["model"]}


def pin_revisions(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` (a dict) whose pretrained components name their model as resolved (a local
    folder as an absolute path) and record its exact revision (a torchvision encoder's ``DEFAULT``
    weights: the exact ones, :func:`mmstudio.models.image.pin_weights`). Models that cannot be resolved are
    left as they are (validation says why they are unavailable); a recorded revision is kept (a
    different one is refused when the model is built)."""
    from mmstudio.models.fetch import ModelNotCached

    out = copy.deepcopy(dict(spec))
    image = out.get("image_encoder")
    if isinstance(image, dict):
        try:
            pin_weights(image)
        except (ImportError, ValueError):  # no torchvision, or weights it does not know: validation says
            pass
    for slot in ("text_encoder", "image_encoder"):
        component = out.get(slot)
        if not isinstance(component, dict) or component.get("name") != "hf" or not component.get("model"):
            continue
        try:
            resolved = resolve_model(component["model"])
        except (ModelNotCached, FileNotFoundError, ValueError):
            continue
        if not component.get("revision"):
            component["model"] = resolved.id
            component["revision"] = resolved.revision
    return out


__all__ = [
    "HFImageEncoder",
    "HFTextEncoder",
    "PretrainedEncoder",
    "image_input",
    "model_tokenizer",
    "parse_finetune",
    "pin_revisions",
]
