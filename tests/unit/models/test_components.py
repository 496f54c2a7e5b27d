"""Every registered entry of every registry, forward and backward, on tiny inputs.

The cases are generated from the registries, so an entry is tested the day it is registered: its
defaults, plus each alternative of each ``choice`` parameter. A pretrained encoder runs on a tiny,
randomly initialised local model (tests/conftest.py). An entry that is unavailable here (transformers
not installed) is reported as skipped with its reason.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import torch

from mmstudio.models import TASK_OUTPUTS, ModelSpec, build_model, example_batch
from mmstudio.models.spec import REGISTRIES

BATCH = 2
HAS_TRANSFORMERS = importlib.util.find_spec("transformers") is not None


def _availability(slot: str, name: str) -> tuple[bool, str]:
    """A pretrained entry is tested on a tiny local model (tests/conftest.py) when transformers is
    here; any other entry when it is available."""
    entry = REGISTRIES[slot].get(name)
    if entry.info.get("pretrained"):
        return HAS_TRANSFORMERS, "the transformers package is not installed"
    return entry.available()


def _with_model(slot: str, name: str, params: dict[str, Any], request) -> dict[str, Any]:
    """``params`` with a pretrained entry's model: the tiny BERT or ViT folder."""
    entry = REGISTRIES[slot].get(name)
    if not entry.info.get("pretrained"):
        return params
    folder = str(request.getfixturevalue("tiny_bert_dir" if slot == "text_encoder" else "tiny_vit_dir"))
    return {("path" if "path" in entry.param_names() else "model"): folder, **params}


def _variants(slot: str, name: str) -> list[dict[str, Any]]:
    entry = REGISTRIES[slot].get(name)
    variants: list[dict[str, Any]] = [{}]
    for param in entry.params:
        if param.type == "choice":
            variants += [{param.name: c} for c in param.choices if c != param.default]
    return variants


def _spec_around(slot: str, name: str, params: dict[str, Any], task: str):
    """A small model whose only unusual part is the component under test."""
    parts: dict[str, Any] = {
        "text_encoder": {"name": "bag", "embed_dim": 16},
        "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
        "fusion": {"name": "concat"},
        "head": {"name": "mlp", "hidden": 16},
    }
    parts[slot] = {"name": name, **params}
    if slot in ("text_encoder", "image_encoder") and name == "none":
        parts["fusion"] = {"name": "none"}
    if slot == "fusion" and name == "none":
        parts["image_encoder"] = {"name": "none"}
    if task == "contrastive":
        parts["fusion"] = {"name": "none"}
    return ModelSpec.from_dict({"task": task, **parts})


def _cases():
    for slot, registry in REGISTRIES.items():
        for name in registry:
            entry = registry.get(name)
            ok, reason = _availability(slot, name)
            marks = () if ok else pytest.mark.skip(reason=f"{name} unavailable: {reason}")
            tasks = entry.info.get("tasks", ("classification",))
            for task in tasks:
                for params in _variants(slot, name):
                    label = ",".join(f"{k}={v}" for k, v in params.items())
                    case_id = (
                        f"{slot}:{name}"
                        + (f"[{label}]" if label else "")
                        + (f"-{task}" if len(tasks) > 1 else "")
                    )
                    yield pytest.param(slot, name, params, task, id=case_id, marks=marks)


@pytest.mark.parametrize(("slot", "name", "params", "task"), list(_cases()))
def test_entry_runs_forward_and_backward(slot, name, params, task, tiny_ctx, request):
    spec = _spec_around(slot, name, _with_model(slot, name, params, request), task)
    model = build_model(spec, tiny_ctx)
    model.train()
    batch = example_batch(spec, tiny_ctx, BATCH)

    outputs = model(batch)
    for key in TASK_OUTPUTS[task]:
        assert key in outputs
    if task in ("classification", "multilabel"):
        assert outputs["logits"].shape == (BATCH, tiny_ctx.num_outputs)
    elif task == "regression":
        assert outputs["prediction"].shape == (BATCH,)
    else:
        assert outputs["text_embedding"].shape == outputs["image_embedding"].shape
        assert outputs["logit_scale"].shape == ()

    loss = model.loss(outputs, batch)
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    # Every trainable parameter takes part: a module left out of the graph would have no gradient.
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []


def _text_encoders():
    for name in REGISTRIES["text_encoder"]:
        if name == "none":
            continue
        ok, reason = _availability("text_encoder", name)
        marks = () if ok else pytest.mark.skip(reason=f"{name} unavailable: {reason}")
        for params in _variants("text_encoder", name):
            label = ",".join(f"{k}={v}" for k, v in params.items())
            yield pytest.param(name, params, id=name + (f"[{label}]" if label else ""), marks=marks)


@pytest.mark.parametrize(("name", "params"), list(_text_encoders()))
def test_text_encoders_ignore_padding(name, params, tiny_ctx, request):
    """More padding after a text changes nothing: masks, packing and masked pooling all hold."""
    params = _with_model("text_encoder", name, params, request)
    encoder = REGISTRIES["text_encoder"].build(name, ctx=tiny_ctx, **params).eval()
    tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    lengths = torch.tensor([3, 2])
    padded = torch.cat([tokens, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    with torch.no_grad():
        short, long = encoder(tokens, lengths), encoder(padded, lengths)
    assert short.pooled.shape == (2, encoder.out_dim)
    assert short.tokens.shape == (2, 5, encoder.out_dim)
    assert long.mask.tolist() == [[False] * 3 + [True] * 4, [False] * 2 + [True] * 5]
    torch.testing.assert_close(short.pooled, long.pooled)
    torch.testing.assert_close(short.tokens[:, :2], long.tokens[:, :2])


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_small_cnn_pools_its_tokens(pooling, tiny_ctx):
    """The pooled vector is the max (the default: a small object anywhere) or the mean of the tokens."""
    params = {} if pooling == "max" else {"pooling": pooling}
    spec = ModelSpec.from_dict({"task": "classification", "image_encoder": {"name": "small_cnn", **params}})
    assert spec.resolved().image_encoder["pooling"] == pooling
    encoder = REGISTRIES["image_encoder"].build("small_cnn", ctx=tiny_ctx, **spec.params("image_encoder"))
    with torch.no_grad():
        out = encoder.eval()(torch.randn(BATCH, 3, tiny_ctx.image_size, tiny_ctx.image_size))
    expected = out.tokens.amax(dim=1) if pooling == "max" else out.tokens.mean(dim=1)
    torch.testing.assert_close(out.pooled, expected)
