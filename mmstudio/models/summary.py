"""``summarize``: each block's output shape and parameters, and the training memory, without weights.

The model is built under ``torch.device("meta")``: parameters have shapes but no storage, so even
ResNet-50 is "built" and run forward in a fraction of a second with nothing allocated, and the
counts are exactly those of the real model. That makes it cheap enough for the GUI to call on every
form change.

The memory estimate is deliberately rough: fp32 parameters, the gradients and AdamW's two moment
buffers of the parameters that train (a frozen encoder has none), plus activations taken as the
outputs of every leaf module in one training forward at the given batch size that need a gradient
(what autograd keeps for the backward, give or take fused and in-place ops: a frozen encoder's
outputs are not kept).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from mmstudio.models.context import ModelContext
from mmstudio.models.model import MultimodalModel, example_batch
from mmstudio.models.spec import ModelSpec, SpecError, SpecIssue

ADAMW_STATES = 2  # exp_avg and exp_avg_sq, each the size of the parameter


@dataclass(frozen=True)
class BlockSummary:
    """One block of the diagram: ``name`` is the spec slot ("text_encoder", "image_encoder", "fusion",
    "head"), ``component`` the registry entry; ``outputs`` every named output's shape (batch first),
    ``output_shape`` the main one (pooled vector, first stream, or the task output)."""

    name: str
    component: str
    output_shape: tuple[int, ...]
    params: int
    trainable_params: int
    outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "component": self.component,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "trainable_params": self.trainable_params,
            "outputs": {k: list(v) for k, v in self.outputs.items()},
        }


@dataclass(frozen=True)
class ModelSummary:
    blocks: tuple[BlockSummary, ...]
    total_params: int
    trainable_params: int
    batch_size: int
    param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    warnings: tuple[SpecIssue, ...] = ()

    @property
    def memory_bytes(self) -> int:
        """Estimated training memory: parameters + gradients + AdamW states + activations."""
        return self.param_bytes + self.grad_bytes + self.optimizer_bytes + self.activation_bytes

    def block(self, name: str) -> BlockSummary:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(f"no block {name!r}; blocks: {', '.join(b.name for b in self.blocks)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "blocks": [b.to_dict() for b in self.blocks],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "batch_size": self.batch_size,
            "memory_bytes": self.memory_bytes,
            "memory": {
                "params": self.param_bytes,
                "grads": self.grad_bytes,
                "optimizer": self.optimizer_bytes,
                "activations": self.activation_bytes,
            },
            "warnings": [w.to_dict() for w in self.warnings],
        }


def summarize(
    spec: ModelSpec | Mapping[str, Any], ctx: ModelContext, *, batch_size: int = 32
) -> ModelSummary:
    """Blocks, parameter counts and estimated training memory of ``spec`` for ``ctx``.

    Raises :class:`SpecError` as :func:`build_model` does (call ``spec.validate(ctx)`` to list the
    issues without raising); the warnings are returned in the summary.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    spec = ModelSpec.from_dict(spec) if isinstance(spec, Mapping) else spec.resolved()
    issues = spec.validate(ctx)
    if any(i.level == "error" for i in issues):
        raise SpecError(issues)

    with torch.device("meta"):
        model = MultimodalModel(spec, ctx)
        batch = example_batch(spec, ctx, batch_size, device="meta")
    # Eval mode: the shapes are the same, and meta kernels of training-mode BatchNorm are slow
    # decompositions (ResNet-50's 53 of them would take most of the time).
    model.eval()

    captured: dict[str, Any] = {}
    activation_bytes = [sum(t.numel() * t.element_size() for t in batch.values())]
    hooks = [
        module.register_forward_hook(_capture(name, captured))
        for name, module in (("text_encoder", model.text_encoder), ("image_encoder", model.image_encoder))
        if module is not None
    ]
    hooks.append(model.fusion.register_forward_hook(_capture("fusion", captured)))
    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(_count_activations(activation_bytes)))
    try:
        # With autograd on (nothing is computed on the meta device), an output that needs no gradient
        # shows it: a frozen encoder's activations are not kept for the backward, so not counted.
        outputs = model(batch)
    finally:
        for hook in hooks:
            hook.remove()

    blocks = []
    for name, module in (("text_encoder", model.text_encoder), ("image_encoder", model.image_encoder)):
        if module is not None:
            pooled, tokens, _mask = captured[name]
            shapes = {"pooled": _shape(pooled), "tokens": _shape(tokens)}
            blocks.append(_block(name, getattr(spec, name)["name"], module, shapes["pooled"], shapes))
    streams = {k: _shape(v) for k, v in captured["fusion"].items()}
    blocks.append(_block("fusion", spec.fusion["name"], model.fusion, next(iter(streams.values())), streams))
    heads_out = {k: _shape(v) for k, v in outputs.items()}
    # the head block counts the fusion guard's heads on each modality too (ModelContext.unimodal_heads)
    heads = (
        model.heads if model.unimodal_heads is None else nn.ModuleList([model.heads, model.unimodal_heads])
    )
    blocks.append(_block("head", spec.head["name"], heads, next(iter(heads_out.values())), heads_out))

    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    trainable_bytes = sum(p.numel() * p.element_size() for p in trainable)
    return ModelSummary(
        blocks=tuple(blocks),
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in trainable),
        batch_size=batch_size,
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        grad_bytes=trainable_bytes,
        optimizer_bytes=ADAMW_STATES * trainable_bytes,
        activation_bytes=activation_bytes[0],
        warnings=tuple(i for i in issues if i.level == "warning"),
    )


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in t.shape)


def _block(
    name: str, component: str, module: nn.Module, main: tuple[int, ...], outputs: dict[str, tuple[int, ...]]
) -> BlockSummary:
    return BlockSummary(
        name=name,
        component=component,
        output_shape=main,
        params=sum(p.numel() for p in module.parameters()),
        trainable_params=sum(p.numel() for p in module.parameters() if p.requires_grad),
        outputs=outputs,
    )


def _capture(name: str, into: dict[str, Any]):
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        into[name] = output

    return hook


def _count_activations(total: list[int]):
    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        total[0] += _nbytes(output)

    return hook


def _nbytes(value: Any) -> int:
    """The bytes of the tensors in ``value`` that autograd keeps (those that need a gradient)."""
    if isinstance(value, Tensor):
        return value.numel() * value.element_size() if value.requires_grad else 0
    if isinstance(value, Mapping):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, tuple | list):
        return sum(_nbytes(v) for v in value)
    return 0
