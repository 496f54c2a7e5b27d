"""The registry mechanics: parameters, duplicates, unknown names, availability, describe()."""

from __future__ import annotations

import json

import pytest

from mmstudio.formatting import format_float
from mmstudio.models import (
    FUSIONS,
    HEADS,
    IMAGE_ENCODERS,
    TEXT_ENCODERS,
    Param,
    Registry,
    UnavailableError,
    UnknownNameError,
    describe_registries,
)

ALL = {"text": TEXT_ENCODERS, "image": IMAGE_ENCODERS, "fusion": FUSIONS, "head": HEADS}


def _registry() -> Registry:
    reg = Registry("widget")

    @reg.register("plain", help="A plain widget", params=[Param("size", "int", 3, 1, 10, help="how big")])
    def plain(*, size: int) -> tuple[str, int]:
        return ("plain", size)

    @reg.register("broken", help="Never here", available=lambda params: (False, "its file is missing"))
    def broken() -> str:
        return "broken"

    return reg


def test_build_fills_defaults_and_passes_keywords():
    reg = _registry()
    assert reg.build("plain") == ("plain", 3)
    assert reg.build("plain", size=5) == ("plain", 5)


def test_registering_a_name_twice_raises():
    reg = _registry()
    with pytest.raises(ValueError, match="'plain' is already registered"):
        reg.register("plain", help="again")(lambda: None)


def test_names_must_be_snake_case():
    with pytest.raises(ValueError, match="snake_case"):
        _registry().register("Fancy-Name", help="x")(lambda: None)


def test_unknown_name_lists_what_exists():
    with pytest.raises(UnknownNameError) as info:
        _registry().get("plian")
    assert str(info.value) == "unknown widget 'plian'; choose one of: plain, broken"


def test_unavailable_entry_is_listed_but_refuses_to_build():
    reg = _registry()
    assert "broken" in reg.names()
    assert reg.names(available_only=True) == ["plain"]
    assert reg.get("broken").available() == (False, "its file is missing")
    with pytest.raises(UnavailableError, match="its file is missing"):
        reg.build("broken")


@pytest.mark.parametrize(
    ("param", "value", "problem"),
    [
        (Param("n", "int", 2, 1, 4), 2, None),
        (Param("n", "int", 2, 1, 4), 0, "0 is below the minimum 1"),
        (Param("n", "int", 2, 1, 4), 5, "5 is above the maximum 4"),
        (Param("n", "int", 2, 1, 4), 2.5, "expected a whole number"),
        (Param("n", "int", 2, 1, 4), True, "expected a number"),
        (Param("x", "float", 0.1, 0.0, 1.0), 1, None),
        (Param("x", "float", 0.1, 0.0, 1.0), "0.5", "expected a number"),
        (Param("b", "bool", False), 1, "expected true or false"),
        (Param("c", "choice", "a", choices=("a", "b")), "c", "'c' is not one of 'a', 'b'"),
        (Param("s", "str", ""), 3, "expected a string"),
    ],
)
def test_param_check(param, value, problem):
    found = param.check(value)
    assert found == problem if problem is None else problem in found


def test_param_rejects_an_invalid_default_and_unknown_types():
    with pytest.raises(ValueError, match="default is invalid"):
        Param("n", "int", 0, 1, 4)
    with pytest.raises(ValueError, match="type must be one of"):
        Param("n", "list", [])


def test_float_params_coerce_ints_so_json_reads_back_identical():
    assert Param("x", "float", 0.5).coerce(1) == 1.0
    assert isinstance(Param("x", "float", 0.5).coerce(1), float)
    assert Param("b", "bool", True).coerce(True) is True


def test_what_a_form_reads_from_a_param():
    assert Param("kernel_sizes", "str", "3,4,5").label == "Kernel sizes"
    assert Param("lr", "float", 1e-4).log_scale
    assert Param("eps", "float", 0.5, 1e-8, 1.0).log_scale
    assert not Param("dropout", "float", 0.1, 0.0, 0.9).log_scale
    assert not Param("n", "int", 3, 1, 100_000).log_scale
    assert format_float(1e-5) == "1e-05" and format_float(0.25) == "0.25"  # how its editor writes it
    limit = 2**31 - 1
    assert Param("n", "int", 3, 1, 100).int_range(limit) == (1, 100)
    assert Param("n", "int", 3).int_range(limit) == (-limit, limit)
    assert Param("n", "int", 3, 0.5, 1e12).int_range(limit) == (1, limit)  # whole numbers, clamped


@pytest.mark.parametrize("kind", ALL)
def test_every_entry_documents_itself(kind):
    """The GUI builds forms from these: every entry and parameter has a help line."""
    for name in ALL[kind]:
        entry = ALL[kind].get(name)
        assert entry.help, name
        for param in entry.params:
            assert param.help, f"{name}.{param.name}"


def test_describe_is_json_friendly_and_complete():
    described = describe_registries()
    text = json.dumps(described)  # raises if anything is not JSON-friendly
    assert json.loads(text) == described
    assert [t["name"] for t in described["tasks"]] == [
        "classification",
        "multilabel",
        "regression",
        "contrastive",
    ]
    textcnn = next(e for e in described["text_encoders"] if e["name"] == "textcnn")
    assert textcnn["available"] is True
    filters = next(p for p in textcnn["params"] if p["name"] == "filters")
    assert filters == {
        "name": "filters",
        "type": "int",
        "default": 64,
        "low": 4,
        "high": 1024,
        "choices": None,
        "help": filters["help"],
        "title": "Filters",
        "path": None,
    }
    assert {p["name"] for p in described["presets"]} >= {"text_only", "image_only", "late_fusion"}


def test_the_registries_hold_what_the_docs_promise():
    assert list(TEXT_ENCODERS) == [
        "none", "bag", "textcnn", "rnn", "gru", "lstm", "transformer", "hf", "minilm"
    ]  # fmt: skip
    assert list(IMAGE_ENCODERS) == [
        "none", "small_cnn", "resnet18", "resnet34", "resnet50",
        "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "hf",
    ]  # fmt: skip
    assert list(FUSIONS) == [
        "none", "concat", "sum", "product", "gated", "lmf", "tensor", "cross_attention", "film", "late"
    ]  # fmt: skip
    assert list(HEADS) == ["linear", "mlp", "projection"]


def test_a_params_title_and_path_mark():
    """Issue 12, #19: a parameter whose name says little has a title ('ff' read "Ff"); a path is
    marked so a form offers a Browse button, and only a str can be one."""
    from mmstudio.models import TEXT_ENCODERS

    ff = next(p for p in TEXT_ENCODERS.get("transformer").params if p.name == "ff")
    assert ff.label == "Feed-forward size" and ff.describe()["title"] == "Feed-forward size"
    folder = next(p for p in TEXT_ENCODERS.get("minilm").params if p.name == "path")
    assert folder.path == "folder" and folder.describe()["path"] == "folder"
    assert Param("embed_dim", "int", 8).label == "Embed dim"
    with pytest.raises(ValueError, match="path is 'file' or 'folder'"):
        Param("n", "int", 1, path="file")
    with pytest.raises(ValueError, match="path is 'file' or 'folder'"):
        Param("p", "str", "", path="url")
