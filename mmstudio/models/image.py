"""Image encoders: images ``[B, 3, S, S]`` (ImageNet-normalised) → :class:`EncoderOutput`.

Each encoder ends in a feature map ``[B, C, h, w]``: its positions are the tokens ``[B, h·w, C]``
(for cross-attention and FiLM) and its spatial mean is the pooled vector ``[B, C]`` (the spatial
maximum for ``small_cnn``'s default ``pooling="max"``).

The torchvision backbones are built with ``weights=None`` and their classifier removed. Pretrained
weights come only from local files, never the network: the ``weights_path`` param (.pth / .pt
read with ``weights_only=True``, or .safetensors), else torchvision's own file name in the torch hub
cache (``torch.hub.get_dir()/checkpoints``), where an earlier ``weights=...`` download left it.
torchvision itself is imported only when such an encoder is built or its weights are looked up, so
``import mmstudio.models`` stays light.

``weights`` names which of the model's weights enum members to start from (``DEFAULT``, or one it
lists: :attr:`Backbone.weights`); :func:`pin_weights` records the exact ones in a run's spec. Those
weights bring their own preprocessing (:func:`weights_input`, from ``weights.transforms()``): with
``preprocessing="weights"`` the run takes their crop size as its image size and their mean and std.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mmstudio.models._common import EncoderOutput, building_on_meta
from mmstudio.models.context import ModelContext
from mmstudio.models.registry import Param, Registry

IMAGE_ENCODERS = Registry("image encoder")

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


class ImageEncoder(nn.Module):
    """Base class of the image encoders: ``forward(image) -> EncoderOutput`` (mask None) whose
    pooled vectors and tokens have ``out_dim`` features."""

    out_dim: int

    @staticmethod
    def feature_map_output(fmap: Tensor, pooling: str = "mean") -> EncoderOutput:
        tokens = fmap.flatten(2).transpose(1, 2)  # [B, h*w, C]
        pooled = fmap.amax(dim=(2, 3)) if pooling == "max" else fmap.mean(dim=(2, 3))
        return EncoderOutput(pooled, tokens, None)


# --- none ------------------------------------------------------------------------------------------


@IMAGE_ENCODERS.register("none", help="No image branch: a text-only model", min_image_size=0)
def none(*, ctx: ModelContext) -> None:
    return None


# --- small CNN -------------------------------------------------------------------------------------


class SmallCNN(ImageEncoder):
    """A stride-2 stem then ``blocks`` × (conv 3×3, BatchNorm, ReLU, max-pool 2): fast on a CPU.

    Widths double per block from ``width`` (capped at 8 × width); the total stride is
    ``2 ** (blocks + 1)``, so 3 blocks turn 64 px images into a 4 × 4 map (16 tokens).

    ``pooling="max"`` (the default) pools the final map by its maximum: "is this pattern anywhere in
    the image?". A small object covers one or two of the 16 positions, so a mean dilutes it with
    the background; on the demo dataset the max pool lifts the fused model's test accuracy from
    about 0.77 to about 1.0 in the default 5 epochs, at no cost in speed.
    """

    def __init__(self, width: int, blocks: int, pooling: str = "max") -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        channels = width
        for i in range(blocks):
            out = width * 2 ** min(i + 1, 3)
            layers += [
                nn.Conv2d(channels, out, 3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            channels = out
        self.features = nn.Sequential(*layers)
        self.pooling = pooling
        self.out_dim = channels

    def forward(self, image: Tensor) -> EncoderOutput:
        return self.feature_map_output(self.features(image), self.pooling)


def _check_small_cnn(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
    need = 2 ** (params["blocks"] + 1)
    if ctx.image_size < need:
        yield (
            "error",
            (
                f"images of {ctx.image_size} px are too small for {params['blocks']} blocks, which "
                f"downsample {need}×: use images of at least {need} px or fewer blocks"
            ),
        )


@IMAGE_ENCODERS.register(
    "small_cnn",
    help="A small CNN trained from scratch: fast on a CPU, from 32 px images",
    params=[
        Param("width", "int", 16, 4, 256, help="channels of the first layer; doubled per block up to 8×"),
        Param("blocks", "int", 3, 1, 6, help="conv blocks, each halving the resolution"),
        Param(
            "pooling",
            "choice",
            "max",
            choices=("max", "mean"),
            help="how the final feature map is pooled: max finds small objects anywhere in the image",
        ),
    ],
    check=_check_small_cnn,
    min_image_size=16,
)
def small_cnn(*, ctx: ModelContext, width: int, blocks: int, pooling: str) -> SmallCNN:
    return SmallCNN(width, blocks, pooling)


# --- torchvision backbones -------------------------------------------------------------------------


@dataclass(frozen=True)
class Backbone:
    """How to turn one torchvision classifier into a feature extractor."""

    name: str
    body: Callable[[nn.Module], nn.Module]  # the full model -> the layers up to the last feature map
    head_prefixes: tuple[str, ...]  # state-dict prefixes of what is dropped (may be absent in a file)
    out_dim: int
    help: str
    weights: tuple[str, ...] = ("IMAGENET1K_V1",)  # its weights enum's members, as torchvision lists them


def _resnet_body(m: nn.Module) -> nn.Module:
    return nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3, m.layer4)


def _features_body(m: nn.Module) -> nn.Module:
    return m.features


def _convnext_body(m: nn.Module) -> nn.Module:
    return nn.Sequential(m.features, m.classifier[0])  # keep the final LayerNorm2d: features are normed


BACKBONES = {
    b.name: b
    for b in (
        Backbone("resnet18", _resnet_body, ("fc.",), 512, "ResNet-18 (torchvision), 11M parameters"),
        Backbone("resnet34", _resnet_body, ("fc.",), 512, "ResNet-34 (torchvision), 21M parameters"),
        Backbone(
            "resnet50",
            _resnet_body,
            ("fc.",),
            2048,
            "ResNet-50 (torchvision), 24M parameters",
            ("IMAGENET1K_V1", "IMAGENET1K_V2"),
        ),
        Backbone(
            "mobilenet_v3_small", _features_body, ("classifier.",), 576, "MobileNetV3-Small (torchvision), 1M"
        ),
        Backbone(
            "mobilenet_v3_large",
            _features_body,
            ("classifier.",),
            960,
            "MobileNetV3-Large (torchvision), 3M",
            ("IMAGENET1K_V1", "IMAGENET1K_V2"),
        ),
        Backbone(
            "efficientnet_b0", _features_body, ("classifier.",), 1280, "EfficientNet-B0 (torchvision), 4M"
        ),
        Backbone(
            "convnext_tiny", _convnext_body, ("classifier.2.",), 768, "ConvNeXt-Tiny (torchvision), 28M"
        ),
    )
}
TORCHVISION_MIN_SIZE = 32  # every backbone here downsamples 32×
TORCHVISION_SMALL_SIZE = 64  # below this the final feature map is 1×1: allowed, but warned about
DEFAULT_WEIGHTS = "DEFAULT"  # torchvision's name for a model's recommended weights
#: ``preprocessing`` of a pretrained torchvision encoder: the weights' own image size and mean / std,
#: or the run's image size (with the weights' mean / std).
PREPROCESSING = ("weights", "run")


def _weights_enum(name: str, weights: str = DEFAULT_WEIGHTS) -> list[Any]:
    """``name``'s weights enum members that ``weights`` names (``DEFAULT``: the default first, then the
    others, any of which a file in the cache may hold), read from torchvision: nothing is downloaded."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    if weights != DEFAULT_WEIGHTS:
        try:
            return [enum[weights]]
        except KeyError:
            choices = ", ".join(w.name for w in enum)
            raise ValueError(f"torchvision's {name} has no weights {weights}; it has {choices}") from None
    default = enum.DEFAULT
    return [default, *(w for w in enum if w is not default)]


def hub_file_names(name: str, weights: str = DEFAULT_WEIGHTS) -> list[str]:
    """torchvision's file names for ``name``'s pretrained ``weights`` (for ``DEFAULT``: the default
    first, then the others), read from its Weights enum's urls: nothing is downloaded."""
    return [w.url.rsplit("/", 1)[-1] for w in _weights_enum(name, weights)]


def _pull_ref(name: str, weights: str) -> str:
    return f"torchvision:{name}" + ("" if weights == DEFAULT_WEIGHTS else f".{weights}")


def find_pretrained_file(name: str, weights_path: str = "", weights: str = DEFAULT_WEIGHTS) -> Path:
    """The local file to load ``name``'s pretrained ``weights`` from, or FileNotFoundError that says
    where it looked and what to do."""
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"weights_path {path} does not exist; point it at a local {'/'.join(WEIGHT_SUFFIXES)} file "
                f"holding {name} weights"
            )
        return path
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    names = hub_file_names(name, weights)
    for file_name in names:
        if (folder / file_name).is_file():
            return folder / file_name
    raise FileNotFoundError(
        f"no pretrained {name} weights found: looked for {' or '.join(names)} in {folder}. mmstudio "
        f"never downloads by surprise: fetch them with 'mmstudio models pull {_pull_ref(name, weights)}' "
        f"(or copy torchvision's file there, or set TORCH_HOME), set weights_path to a local "
        f".pth/.pt/.safetensors file, or set pretrained to false"
    )


def weights_name(name: str, weights: str = DEFAULT_WEIGHTS, weights_path: str = "") -> str:
    """The exact weights ``weights`` stands for: itself when it names them; for ``DEFAULT``, those whose
    file the torch hub cache holds (the default's first), else the default's (also for a
    ``weights_path`` file, which is taken to hold them)."""
    if weights != DEFAULT_WEIGHTS:
        return weights
    members = _weights_enum(name)
    if not weights_path:
        folder = Path(torch.hub.get_dir()) / "checkpoints"
        for member in members:
            if (folder / member.url.rsplit("/", 1)[-1]).is_file():
                return member.name
    return members[0].name


def weights_input(name: str, weights: str = DEFAULT_WEIGHTS, weights_path: str = "") -> dict[str, Any]:
    """What ``name``'s pretrained ``weights`` were trained on, from their own preset
    (``weights.transforms()``, torchvision's ``ImageClassification``): ``{"size"`` (the crop size),
    ``"resize"`` (the shorter side before the crop), ``"mean"``, ``"std"``, ``"source"`` (``"resnet18
    IMAGENET1K_V1"``)``}``."""
    exact = weights_name(name, weights, weights_path)
    preset = _weights_enum(name, exact)[0].transforms()
    return {
        "size": int(preset.crop_size[0]),
        "resize": int(preset.resize_size[0]),
        "mean": [float(x) for x in preset.mean],
        "std": [float(x) for x in preset.std],
        "source": f"{name} {exact}",
    }


def load_state_dict_file(path: Path) -> dict[str, Tensor]:
    """A state dict from a .safetensors file or a .pth / .pt / .bin file read with ``weights_only``
    (never unpickling code). A checkpoint's ``state_dict`` / ``model`` entry is unwrapped and a
    DistributedDataParallel ``module.`` prefix stripped."""
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        state: Any = load_file(str(path))
    elif suffix in WEIGHT_SUFFIXES:
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        raise ValueError(f"{path}: weights must be a {', '.join(WEIGHT_SUFFIXES)} file")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_backbone_weights(model: nn.Module, backbone: Backbone, path: Path) -> None:
    """Load a full torchvision state dict (or one without the classifier) into ``model``."""
    state = load_state_dict_file(path)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise ValueError(f"{path} does not fit {backbone.name}: {exc}") from None
    missing = [k for k in missing if not k.startswith(backbone.head_prefixes)]
    if missing or unexpected:
        raise ValueError(
            f"{path} does not hold {backbone.name} weights: "
            f"{len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


class TorchvisionEncoder(ImageEncoder):
    """A torchvision classifier without its classifier: the last feature map as tokens and pooled.

    A frozen backbone also stays in eval mode when the model trains, so its BatchNorm statistics
    stay those it was pretrained with.
    """

    def __init__(self, backbone: nn.Module, out_dim: int, freeze: bool, pretrained: bool = False) -> None:
        super().__init__()
        self.backbone = backbone
        self.out_dim = out_dim
        self.frozen = freeze
        self.pretrained = pretrained
        if freeze:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> TorchvisionEncoder:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def frozen_state_keys(self) -> list[str]:
        """The whole backbone's state when it holds pretrained weights and is frozen (it stays in eval
        mode, so its BatchNorm statistics never change either): a checkpoint leaves it out and takes
        it again from the weights file the rebuilt model loads."""
        if not (self.pretrained and self.frozen):
            return []
        return [f"backbone.{name}" for name in self.backbone.state_dict()]

    def forward(self, image: Tensor) -> EncoderOutput:
        return self.feature_map_output(self.backbone(image))


def build_torchvision(
    name: str,
    *,
    pretrained: bool = False,
    weights_path: str = "",
    freeze_backbone: bool = False,
    weights: str = DEFAULT_WEIGHTS,
) -> TorchvisionEncoder:
    """Build ``name`` with ``weights=None``, load local pretrained weights if asked, keep the body."""
    import torchvision.models

    backbone = BACKBONES[name]
    model = torchvision.models.get_model(name, weights=None)
    if pretrained and not building_on_meta():
        load_backbone_weights(model, backbone, find_pretrained_file(name, weights_path, weights))
    return TorchvisionEncoder(backbone.body(model), backbone.out_dim, freeze_backbone, pretrained)


def torchvision_input(component: Mapping[str, Any]) -> dict[str, Any] | None:
    """The image input a torchvision image encoder ``component`` (complete params) asks of the data
    when it starts from pretrained weights (:func:`weights_input`; with ``preprocessing: run`` its
    ``size`` is None: the run's own), else None."""
    if component.get("name") not in BACKBONES or not component.get("pretrained"):
        return None
    wanted = weights_input(component["name"], component["weights"], component["weights_path"])
    if component["preprocessing"] == "run":
        wanted["size"] = None
    return wanted


def pin_weights(component: dict[str, Any]) -> None:
    """Name in ``component`` (a torchvision image encoder with pretrained on) the exact weights its
    ``DEFAULT`` stands for here (:func:`weights_name`), so a run records them and is rebuilt with them."""
    if component.get("name") in BACKBONES and component.get("pretrained"):
        weights = component.get("weights", DEFAULT_WEIGHTS)
        component["weights"] = weights_name(component["name"], weights, component.get("weights_path", ""))


def _torchvision_available(_params: Mapping[str, Any]) -> tuple[bool, str]:
    if importlib.util.find_spec("torchvision") is None:
        return False, "the torchvision package is not installed"
    return True, ""


def _check_torchvision(name: str):
    def check(params: Mapping[str, Any], ctx: ModelContext) -> Iterable[tuple[str, str]]:
        size = ctx.image_size
        if size < TORCHVISION_MIN_SIZE:
            yield (
                "error",
                (
                    f"{name} downsamples 32×, so it needs images of at least {TORCHVISION_MIN_SIZE} px, not "
                    f"{size} px: raise the image size or use small_cnn"
                ),
            )
        elif size < TORCHVISION_SMALL_SIZE:
            yield (
                "warning",
                (
                    f"at {size} px {name}'s final feature map is {size // 32}×{size // 32}; it was designed "
                    "for about 224 px images: expect weak features (small_cnn suits small images)"
                ),
            )
        path = params["weights_path"]
        if params["pretrained"]:
            if path and Path(path).suffix.lower() not in WEIGHT_SUFFIXES:
                yield "error", f"weights_path must be a {', '.join(WEIGHT_SUFFIXES)} file, not {path}"
            else:
                try:
                    find_pretrained_file(name, path, params["weights"])
                except (FileNotFoundError, ValueError) as exc:
                    yield "error", str(exc)
        else:
            if path:
                yield "warning", "weights_path is ignored unless pretrained is on"
            if params["weights"] != DEFAULT_WEIGHTS:
                yield "warning", "weights is ignored unless pretrained is on"
            if params["freeze_backbone"]:
                yield "warning", "freeze_backbone without pretrained weights freezes random features"

    return check


def _torchvision_params(backbone: Backbone) -> list[Param]:
    return [
        Param(
            "pretrained",
            "bool",
            False,
            help="start from ImageNet weights found locally (never downloaded)",
        ),
        Param(
            "weights",
            "choice",
            DEFAULT_WEIGHTS,
            choices=(DEFAULT_WEIGHTS, *backbone.weights),
            help="which of torchvision's weights (DEFAULT: its recommended ones); a run records which",
        ),
        Param(
            "preprocessing",
            "choice",
            "weights",
            choices=PREPROCESSING,
            help=(
                "pretrained: weights = their own image size and mean/std (224 px for ImageNet weights); "
                "run = the run's image size (faster on small images)"
            ),
        ),
        Param(
            "weights_path", "str", "", help="a local .pth/.pt/.safetensors file; empty: the torch hub cache"
        ),
        Param("freeze_backbone", "bool", False, help="train only what follows the backbone"),
    ]


def _register_torchvision(name: str) -> Callable[..., TorchvisionEncoder]:
    """Register the thin builder of one backbone in BACKBONES and return it."""

    def build(
        *,
        ctx: ModelContext,
        pretrained: bool,
        weights: str,
        preprocessing: str,
        weights_path: str,
        freeze_backbone: bool,
    ) -> TorchvisionEncoder:
        return build_torchvision(
            name,
            pretrained=pretrained,
            weights_path=weights_path,
            freeze_backbone=freeze_backbone,
            weights=weights,
        )

    build.__name__ = build.__qualname__ = name
    return IMAGE_ENCODERS.register(
        name,
        help=BACKBONES[name].help,
        params=_torchvision_params(BACKBONES[name]),
        available=_torchvision_available,
        check=_check_torchvision(name),
        min_image_size=TORCHVISION_MIN_SIZE,
        torchvision=True,
    )(build)


resnet18 = _register_torchvision("resnet18")
resnet34 = _register_torchvision("resnet34")
resnet50 = _register_torchvision("resnet50")
mobilenet_v3_small = _register_torchvision("mobilenet_v3_small")
mobilenet_v3_large = _register_torchvision("mobilenet_v3_large")
efficientnet_b0 = _register_torchvision("efficientnet_b0")
convnext_tiny = _register_torchvision("convnext_tiny")
