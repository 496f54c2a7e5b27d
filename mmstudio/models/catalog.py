"""What the GUI and the CLI offer, and the rules of choosing: presets (which serve a task, which one a
spec is), a default spec per dataset, how a spec follows an edit (:func:`harmonize`, shared with
:func:`resolve_spec`), which heads serve a task, and the registries as JSON."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from mmstudio.formatting import key_title
from mmstudio.models.context import ModelContext
from mmstudio.models.fusion import FUSIONS
from mmstudio.models.heads import DEFAULT_HEADS, HEADS, TASK_OUTPUTS
from mmstudio.models.pretrained import pin_revisions
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
    "small_data": {
        "text_encoder": {"name": "bag", "embed_dim": 64},
        "image_encoder": {"name": "small_cnn", "width": 8, "blocks": 2},
        "fusion": {"name": "concat"},
    },
}
PRESET_HELP = {
    "text_only": "Text baseline: TextCNN alone",
    "image_only": "Image baseline: a small CNN alone",
    "early_concat": "TextCNN + small CNN, pooled vectors concatenated",
    "gated": "TextCNN + small CNN, mixed by a gated multimodal unit",
    "bilinear": "TextCNN + small CNN, low-rank bilinear (LMF) fusion",
    "cross_attention": "Transformer text + small CNN, words and image regions attend to each other",
    "late_fusion": "TextCNN + small CNN, a head per modality, learned weighting",
    "small_data": "Small-data baseline: bag of words + a narrow CNN, concatenated; few parameters, hard "
    "to overfit: a strong first model below a few thousand items",
}
#: Titles that :func:`~mmstudio.formatting.key_title` would spell wrong.
PRESET_TITLES = {"cross_attention": "Cross-attention"}
#: The data a preset is judged on in :func:`preset_fits`: the data's sizes play no part in it.
_PRESET_CONTEXT = ModelContext(vocab_size=1000, num_outputs=10, image_size=224, max_len=32)


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


def preset_title(name: str) -> str:
    """``early_concat`` → ``Early concat``: how a preset is named to people."""
    return PRESET_TITLES.get(name, key_title(name))


def preset_fits(task: str) -> dict[str, tuple[bool, str]]:
    """Per preset, ``(True, "")`` when it can serve ``task``, else ``(False, why)`` (every preset, for
    contrastive retrieval: they all fuse or read one modality); the data's sizes play no part."""
    fits = {}
    for name in PRESETS:
        errors = preset_spec(name, task).errors(_PRESET_CONTEXT) if task in TASKS else []
        fits[name] = (not errors, f"Not for {task}: {errors[0].message}" if errors else "")
    return fits


def matching_preset(spec: Mapping[str, Any]) -> str | None:
    """The preset that ``spec`` (a complete spec dict) is exactly, or None (a custom spec)."""
    task = spec.get("task")
    if task not in TASKS:
        return None
    for name in PRESETS:
        if preset_spec(name, task).to_dict() == spec:
            return name
    return None


def head_fits(task: str) -> dict[str, tuple[bool, str]]:
    """Per head, ``(True, its help)`` when it serves ``task``, else ``(False, which tasks it serves)``."""
    fits = {}
    for name in HEADS:
        entry = HEADS.get(name)
        tasks = entry.info.get("tasks", ())
        fits[name] = (
            (True, entry.help) if task in tasks else (False, f"Serves {', '.join(tasks)}, not {task}")
        )
    return fits


def switch_entry(spec: Mapping[str, Any], slot: str, name: str) -> dict[str, Any]:
    """A copy of ``spec`` with entry ``name`` in ``slot``, keeping the values of the old entry's
    same-named parameters that fit the new one (``embed_dim`` from textcnn to bag); the rest take
    their defaults when the spec is completed. Follow it with :func:`harmonize`."""
    registry = REGISTRIES[slot]
    old = spec.get(slot) or {}
    component: dict[str, Any] = {"name": name}
    if name in registry:
        for param in registry.get(name).params:
            if param.name in old and param.check(old[param.name]) is None:
                component[param.name] = old[param.name]
    out = copy.deepcopy(dict(spec))
    out[slot] = component
    return out


def harmonize(spec: Mapping[str, Any], changed: str | Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """Follow an edit with the changes it implies; returns the new spec and a note per change.

    ``spec`` has every slot (a dict each); ``changed`` is what was set (``"task"``, a slot, or several):
    that stays as set, and validation explains it if it cannot work. The rest follows it:

    - the head becomes the task's default when it does not serve the task;
    - the fusion becomes ``none`` for contrastive retrieval (it compares the two embeddings) and for a
      single modality (nothing to fuse), and ``concat`` when a second modality arrives.

    The GUI calls it after each edit; :func:`resolve_spec` after filling in a request.
    """
    changed = {changed} if isinstance(changed, str) else set(changed)
    spec = copy.deepcopy(dict(spec))
    notes: list[str] = []
    task = spec["task"]
    head = spec["head"]["name"]
    serves = head not in HEADS or task in HEADS.get(head).info.get("tasks", ())
    if "head" not in changed and task in TASKS and not serves:
        spec["head"] = {"name": DEFAULT_HEADS[task]}
        notes.append(f"head set to {DEFAULT_HEADS[task]} for {task}")
    if "fusion" in changed:
        return spec, notes
    both = spec["text_encoder"]["name"] != "none" and spec["image_encoder"]["name"] != "none"
    fusion = spec["fusion"]["name"]
    needs_both = fusion in FUSIONS and FUSIONS.get(fusion).info.get("needs_both", False)
    if task == "contrastive" and fusion != "none":
        spec["fusion"] = {"name": "none"}
        notes.append("fusion set to none: contrastive retrieval compares the two embeddings")
    elif task != "contrastive" and needs_both and not both:
        spec["fusion"] = {"name": "none"}
        notes.append("fusion set to none: a single modality has nothing to fuse")
    elif task != "contrastive" and fusion == "none" and both:
        spec["fusion"] = {"name": "concat"}
        notes.append("fusion set to concat to combine text and image")
    return spec, notes


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
    :func:`default_spec` for the dataset's ``task`` and modalities, and follows what is given as an
    edit does (:func:`harmonize`): the fusion follows the encoders and the task when it is not given
    (``none`` for one modality or contrastive, ``concat`` for two). What is given is kept as given,
    except that a pretrained encoder's model gets its exact revision (:func:`pin_revisions`), which
    the run then records.
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
        base[slot] = value  # a bare name (or hf:MODEL) is completed by ModelSpec.from_dict
    spec, _notes = harmonize(ModelSpec.from_dict(base).to_dict(), request)
    return ModelSpec.from_dict(pin_revisions(spec))
