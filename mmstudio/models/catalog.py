"""What the GUI and the CLI offer: presets, a default spec per dataset, and the registries as JSON."""

from __future__ import annotations

import copy
from typing import Any

from mmstudio.models.heads import DEFAULT_HEADS, TASK_OUTPUTS
from mmstudio.models.spec import COMPONENTS, REGISTRIES, ModelSpec
from mmstudio.vocabulary import TASKS, check_task

_TEXT = {"name": "textcnn"}
_IMAGE = {"name": "small_cnn"}
_NONE = {"name": "none"}

#: Preset name → partial spec (components only; the task and head come from :func:`preset_spec`).
#: All are small enough to train an epoch of the demo dataset in seconds on a laptop CPU.
PRESETS: dict[str, dict[str, Any]] = {
    "text_only": {"text_encoder": _TEXT, "image_encoder": _NONE, "fusion": _NONE},
    "image_only": {"text_encoder": _NONE, "image_encoder": _IMAGE, "fusion": _NONE},
    "early_concat": {"text_encoder": _TEXT, "image_encoder": _IMAGE, "fusion": {"name": "concat"}},
    "gated": {"text_encoder": _TEXT, "image_encoder": _IMAGE, "fusion": {"name": "gated"}},
    "bilinear": {
        "text_encoder": _TEXT,
        "image_encoder": _IMAGE,
        "fusion": {"name": "lmf", "dim": 128, "rank": 4},
    },
    "cross_attention": {
        "text_encoder": {"name": "transformer"},
        "image_encoder": _IMAGE,
        "fusion": {"name": "cross_attention"},
    },
    "late_fusion": {"text_encoder": _TEXT, "image_encoder": _IMAGE, "fusion": {"name": "late"}},
}
PRESET_HELP = {
    "text_only": "Text baseline: TextCNN alone",
    "image_only": "Image baseline: a small CNN alone",
    "early_concat": "TextCNN + small CNN, pooled vectors concatenated",
    "gated": "TextCNN + small CNN, mixed by a gated multimodal unit",
    "bilinear": "TextCNN + small CNN, low-rank bilinear (LMF) fusion",
    "cross_attention": "Transformer text + small CNN, words and image regions attend to each other",
    "late_fusion": "TextCNN + small CNN, a head per modality, learned weighting",
}


def default_spec(task: str = "classification", has_text: bool = True, has_image: bool = True) -> ModelSpec:
    """A good first model for a dataset: TextCNN and/or a small CNN, fused by concatenation (no fusion
    for contrastive or a single modality), the task's default head; small and fast on a CPU."""
    check_task(task)
    fusion = "concat" if has_text and has_image and task != "contrastive" else "none"
    return ModelSpec.from_dict(
        {
            "task": task,
            "text_encoder": _TEXT if has_text else _NONE,
            "image_encoder": _IMAGE if has_image else _NONE,
            "fusion": {"name": fusion},
            "head": {"name": DEFAULT_HEADS[task]},
        }
    )


def preset_spec(name: str, task: str = "classification") -> ModelSpec:
    """The complete spec of preset ``name`` for ``task``."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return ModelSpec.from_dict(
        {"task": task, "head": {"name": DEFAULT_HEADS[task]}, **copy.deepcopy(PRESETS[name])}
    )


def describe_registries() -> dict[str, Any]:
    """Everything a form or ``--help`` lists, JSON-friendly: tasks, each registry's entries with their
    parameters and availability, and the presets."""
    return {
        "tasks": [
            {"name": t, "outputs": list(TASK_OUTPUTS[t]), "default_head": DEFAULT_HEADS[t]} for t in TASKS
        ],
        **{slot + "s": REGISTRIES[slot].describe() for slot in COMPONENTS},
        "presets": [
            {"name": n, "help": PRESET_HELP[n], "spec": copy.deepcopy(p)} for n, p in PRESETS.items()
        ],
    }


def resolve_spec(request: dict[str, Any], *, task: str, has_text: bool, has_image: bool) -> ModelSpec:
    """Complete a partial model request for a dataset: what the command line and job files give.

    ``request`` may be a whole spec, or only some of ``task``, ``preset`` and the components (each a
    ``{"name": ..., **params}`` dict or a bare name). What is missing comes from the preset, else from
    :func:`default_spec` for the dataset's ``task`` and modalities; the fusion follows the encoders when
    it is not given (``none`` for one modality, ``concat`` for two).
    """
    request = copy.deepcopy(dict(request))
    task = request.pop("task", None) or task
    preset = request.pop("preset", None)
    if preset:
        base = preset_spec(preset, task).to_dict()
    else:
        base = default_spec(task, has_text=has_text, has_image=has_image).to_dict()
    unknown = set(request) - set(COMPONENTS)
    if unknown:
        raise ValueError(
            f"unknown model spec key(s) {', '.join(sorted(unknown))}; the keys are task, preset, "
            f"{', '.join(COMPONENTS)}"
        )
    for slot, value in request.items():
        base[slot] = {"name": value} if isinstance(value, str) else value
    if "fusion" not in request:
        modalities = sum(base[s]["name"] != "none" for s in ("text_encoder", "image_encoder"))
        if modalities < 2 or task == "contrastive":
            base["fusion"] = {"name": "none"}
        elif base["fusion"]["name"] == "none":
            base["fusion"] = {"name": "concat"}
    return ModelSpec.from_dict(base)
