"""``ModelSpec``: the serialisable description of a model, and its validation.

A spec is a task and four components, each ``{"name": ..., **params}`` naming a registry entry::

    {"task": "classification",
     "text_encoder": {"name": "textcnn", "embed_dim": 128, "kernel_sizes": "3,4,5", "filters": 64},
     "image_encoder": {"name": "small_cnn", "width": 16, "blocks": 3},
     "fusion": {"name": "concat"},
     "head": {"name": "mlp", "hidden": 256, "dropout": 0.1, "label_smoothing": 0.0}}

:meth:`ModelSpec.from_dict` fills what a partial dict leaves out (a missing encoder is ``none``, a
missing parameter its registry default), so the spec stored with a run is complete and rebuilds the
same model even if a default changes later; a complete spec round-trips through JSON exactly.

:meth:`ModelSpec.validate` explains every problem before anything is built: unknown names (listing
what exists), parameters out of range, combinations that cannot work and why, and risky choices as
warnings. ``build_model`` raises :class:`SpecError` with all the errors at once.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mmstudio.formatting import plural
from mmstudio.models import pretrained as _pretrained  # noqa: F401  (registers the hf encoders, minilm)
from mmstudio.models.context import ModelContext
from mmstudio.models.fusion import FUSIONS
from mmstudio.models.heads import DEFAULT_HEADS, HEADS
from mmstudio.models.image import IMAGE_ENCODERS
from mmstudio.models.registry import Registry
from mmstudio.models.text import TEXT_ENCODERS
from mmstudio.vocabulary import SLOT_TITLES, TASKS

COMPONENTS = ("text_encoder", "image_encoder", "fusion", "head")
REGISTRIES: dict[str, Registry] = {
    "text_encoder": TEXT_ENCODERS,
    "image_encoder": IMAGE_ENCODERS,
    "fusion": FUSIONS,
    "head": HEADS,
}
LEVELS = ("error", "warning")


@dataclass(frozen=True)
class SpecIssue:
    """One problem with a spec: ``level`` "error" (cannot build) or "warning" (builds, but risky);
    ``component`` is "task", a component slot ("text_encoder", ...), "model" or "context"."""

    level: str
    component: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.component}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "component": self.component, "message": self.message}

    def phrase(self) -> str:
        """The issue as people read it: the part of the model it is about, then the message (``"the
        fusion: gated fusion combines …"``); an issue of the task, the model or the data is its message."""
        title = SLOT_TITLES.get(self.component)
        return f"the {title.lower()}: {self.message}" if title else self.message


def describe_errors(issues: list[SpecIssue]) -> str:
    """The errors among ``issues`` in one sentence for people, each :meth:`SpecIssue.phrase` joined by
    "; " (where :class:`SpecError` lists them a line each, for a terminal)."""
    return "; ".join(issue.phrase() for issue in issues if issue.level == "error")


class SpecError(ValueError):
    """A spec that cannot be built; ``issues`` holds every error (and warning) found."""

    def __init__(self, issues: list[SpecIssue] | str) -> None:
        if isinstance(issues, str):
            issues = [SpecIssue("error", "model", issues)]
        self.issues = issues
        errors = [i for i in issues if i.level == "error"]
        lines = "\n".join(f"- {i.component}: {i.message}" for i in errors)
        super().__init__(f"the model spec has {plural(len(errors), 'error')}:\n{lines}")


@dataclass
class ModelSpec:
    """Task and components; see the module docstring. Build it with :meth:`from_dict` (which
    completes it); after editing a component in place, :meth:`resolved` completes it again."""

    task: str
    text_encoder: dict[str, Any]
    image_encoder: dict[str, Any]
    fusion: dict[str, Any]
    head: dict[str, Any]

    # --- serialisation -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, **{slot: copy.deepcopy(getattr(self, slot)) for slot in COMPONENTS}}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, an integer of thousands of digits
            reason = "it is nested too deeply" if isinstance(exc, RecursionError) else exc
            raise SpecError(f"the model spec is not valid JSON: {reason}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """A complete spec from a possibly partial dict.

        A component may be a dict or just its name. Missing pieces: an encoder is ``none``; the
        fusion is ``none`` when the task is contrastive or an encoder is ``none``, else ``concat``;
        the head is the task's default; parameters take their registry defaults. Unknown names and
        parameters are kept as given, for :meth:`validate` to report. Structural problems (not a
        dict, no task, a component without a name) raise :class:`SpecError` at once.
        """
        if not isinstance(data, Mapping):
            raise SpecError(f"a model spec must be a JSON object, not {type(data).__name__}")
        unknown = sorted(set(data) - {"task", *COMPONENTS})
        if unknown:
            raise SpecError(
                f"unknown key(s) {', '.join(unknown)}; a model spec has task, {', '.join(COMPONENTS)}"
            )
        task = data.get("task")
        if not isinstance(task, str):
            raise SpecError(f"the model spec needs a task, one of: {', '.join(TASKS)}")
        parts = {slot: _component(slot, data.get(slot)) for slot in COMPONENTS}
        for slot in ("text_encoder", "image_encoder"):
            parts[slot] = parts[slot] or {"name": "none"}
        if parts["fusion"] is None:
            unimodal = "none" in (parts["text_encoder"]["name"], parts["image_encoder"]["name"])
            parts["fusion"] = {"name": "none" if task == "contrastive" or unimodal else "concat"}
        if parts["head"] is None:
            parts["head"] = {"name": DEFAULT_HEADS.get(task, "mlp")}
        return cls(task, **{slot: _complete(slot, parts[slot]) for slot in COMPONENTS})

    def resolved(self) -> ModelSpec:
        """A completed copy (defaults filled), e.g. after a component was replaced by ``{"name": x}``."""
        return ModelSpec.from_dict(self.to_dict())

    # --- facts -------------------------------------------------------------------------------------

    @property
    def has_text(self) -> bool:
        return self.text_encoder.get("name") != "none"

    @property
    def has_image(self) -> bool:
        return self.image_encoder.get("name") != "none"

    def params(self, slot: str) -> dict[str, Any]:
        """The parameters of one component, without its name."""
        return {k: v for k, v in getattr(self, slot).items() if k != "name"}

    # --- validation --------------------------------------------------------------------------------

    def validate(self, ctx: ModelContext) -> list[SpecIssue]:
        """Every problem with this spec for data described by ``ctx``: errors, then warnings."""
        try:
            spec = self.resolved()
        except SpecError as exc:
            return exc.issues
        issues: list[SpecIssue] = []
        if spec.task not in TASKS:
            issues.append(
                SpecIssue("error", "task", f"unknown task {spec.task!r}; choose one of: {', '.join(TASKS)}")
            )
        known = all([_check_component(spec, slot, ctx, issues) for slot in COMPONENTS])
        if known and spec.task in TASKS:
            _check_combination(spec, issues)
            _check_context(spec, ctx, issues)
        return sorted(issues, key=lambda i: LEVELS.index(i.level))

    def errors(self, ctx: ModelContext) -> list[SpecIssue]:
        return [i for i in self.validate(ctx) if i.level == "error"]


def _component(slot: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if slot in ("text_encoder", "image_encoder") and value.startswith("hf:"):
            return {"name": "hf", "model": value[3:]}  # as --text-encoder hf:MODEL writes it
        return {"name": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise SpecError(f'{slot} must be an object with a name, such as {{"name": "none"}}; got {value!r}')
    return dict(value)


def _complete(slot: str, component: dict[str, Any]) -> dict[str, Any]:
    """Name first, then every declared parameter in declared order (defaults filled, valid values in
    canonical form), then any unknown keys as given."""
    registry = REGISTRIES[slot]
    name = component["name"]
    if name not in registry:
        return dict(component)
    out: dict[str, Any] = {"name": name}
    for param in registry.get(name).params:
        value = component.get(param.name, param.default)
        out[param.name] = param.coerce(value) if param.check(value) is None else value
    out.update((k, v) for k, v in component.items() if k not in out)
    return out


def _check_component(spec: ModelSpec, slot: str, ctx: ModelContext, issues: list[SpecIssue]) -> bool:
    """Name, availability, parameters, then the entry's own checks. False if the name is unknown."""
    registry = REGISTRIES[slot]
    name = getattr(spec, slot)["name"]
    if name not in registry:
        issues.append(SpecIssue("error", slot, registry.unknown_message(name)))
        return False
    entry = registry.get(name)
    params = spec.params(slot)
    problems = []
    ok, reason = entry.available(params)
    if not ok:
        problems.append(f"{name} is not available here: {reason}")
    extra = [k for k in params if k not in entry.param_names()]
    if extra:
        accepted = ", ".join(entry.param_names()) or "none"
        problems.append(f"{name} has no parameter(s) {', '.join(extra)}; its parameters: {accepted}")
    for param in entry.params:
        problem = param.check(params[param.name])
        if problem:
            problems.append(f"{name}.{param.name}: {problem}")
    issues.extend(SpecIssue("error", slot, p) for p in problems)
    if not problems and entry.check is not None:
        issues.extend(SpecIssue(level, slot, f"{name}: {msg}") for level, msg in entry.check(params, ctx))
    return True


def _check_combination(spec: ModelSpec, issues: list[SpecIssue]) -> None:
    task, fusion, head = spec.task, spec.fusion["name"], spec.head["name"]
    text, image = spec.has_text, spec.has_image
    head_entry = HEADS.get(head)
    if task not in head_entry.info["tasks"]:
        fits = [n for n in HEADS if task in HEADS.get(n).info["tasks"]]
        issues.append(
            SpecIssue(
                "error", "head", f"the {head} head does not serve {task}; use one of: {', '.join(fits)}"
            )
        )
    if not text and not image:
        issues.append(
            SpecIssue("error", "model", "a model needs at least one encoder, but both encoders are none")
        )
        return
    if task == "contrastive":
        if not (text and image):
            missing = "image" if text else "text"
            issues.append(
                SpecIssue(
                    "error",
                    "task",
                    f"contrastive retrieval matches texts with images, so it needs both encoders; "
                    f"choose {_an(missing)} encoder",
                )
            )
        if fusion != "none":
            issues.append(
                SpecIssue(
                    "error",
                    "fusion",
                    f"contrastive retrieval embeds text and image separately and compares the "
                    f"embeddings, so it takes no fusion: set fusion to none instead of {fusion}",
                )
            )
        return
    needs_both = FUSIONS.get(fusion).info["needs_both"]
    if needs_both and not (text and image):
        present, missing = ("text", "image") if text else ("image", "text")
        issues.append(
            SpecIssue(
                "error",
                "fusion",
                f"{fusion} fusion combines text with images, but the {missing} encoder is none: set "
                f"fusion to none for a {present}-only model, or choose {_an(missing)} encoder",
            )
        )
    elif fusion == "none" and text and image:
        issues.append(
            SpecIssue(
                "error",
                "fusion",
                "fusion none passes a single modality through, but both encoders are set: choose "
                "how to fuse them (concat is the simplest), or set one encoder to none",
            )
        )
    smoothing = spec.head.get("label_smoothing", 0.0)
    if task != "classification" and smoothing:
        issues.append(
            SpecIssue("warning", "head", f"label_smoothing applies to classification; {task} ignores it")
        )


def _an(modality: str) -> str:
    return f"an {modality}" if modality == "image" else f"a {modality}"


def _check_context(spec: ModelSpec, ctx: ModelContext, issues: list[SpecIssue]) -> None:
    def error(message: str) -> None:
        issues.append(SpecIssue("error", "context", message))

    if spec.has_text:
        if ctx.vocab_size < 2:
            error(f"the vocabulary has {ctx.vocab_size} ids; it needs at least <pad> and <unk>")
        if ctx.max_len < 1:
            error(f"the text length must be at least 1 token, not {ctx.max_len}")
    if spec.has_image and ctx.image_size < 1:
        error(f"the image size must be positive, not {ctx.image_size}")
    for slot, present, modality, other in (
        ("text_encoder", ctx.has_text, "texts", "image"),
        ("image_encoder", ctx.has_image, "images", "text"),
    ):
        name = getattr(spec, slot)["name"]
        if name != "none" and present is False:
            issues.append(
                SpecIssue(
                    "error",
                    slot,
                    f"the dataset has no {modality}, so the {name} encoder has nothing to read: set "
                    f"{slot.replace('_', ' ')} to none for {_an(other)}-only model",
                )
            )
    task, n = spec.task, ctx.num_outputs
    if task == "classification" and n < 2:
        error(
            f"classification needs at least 2 classes, the data has {n} (for one yes/no label use multilabel)"
        )
    elif task == "multilabel" and n < 1:
        error(f"multilabel needs at least 1 label, the data has {n}")
    weights = ctx.class_weights
    if weights is not None:
        if task not in ("classification", "multilabel"):
            issues.append(SpecIssue("warning", "context", f"class weights are ignored by {task}"))
        elif len(weights) != n:
            error(f"there are {len(weights)} class weights for {n} classes")
        elif any(w < 0 for w in weights):
            error("class weights must not be negative")
