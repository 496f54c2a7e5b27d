"""DatasetSpec: validation, the JSON round trip, and loading through load_dataset."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmstudio.data.dataset import LoadOptions, load_dataset
from mmstudio.data.spec import CHECK_MODES, DatasetSpec
from mmstudio.data.types import ColumnRoles
from mmstudio.data.validate import CHECK_MODES as VALIDATE_CHECK_MODES


def test_defaults_and_round_trip_through_json():
    spec = DatasetSpec(
        Path("/data/ds"), format="manifest", columns=ColumnRoles(image="img", text="cap", label=""), seed=3
    )
    assert spec.path == "/data/ds"  # a Path is kept as a str
    data = json.loads(json.dumps(spec.to_dict()))
    assert DatasetSpec.from_dict(data) == spec
    assert data["columns"] == {"image": "img", "text": "cap", "label": "", "split": None}
    assert DatasetSpec("x").to_dict() == {
        "path": "x",
        "format": None,
        "columns": None,
        "val_fraction": 0.1,
        "test_fraction": 0.1,
        "seed": 0,
        "stratify": True,
        "check_images": "full",
    }


def test_from_dict_fills_missing_keys_and_refuses_unknown_ones():
    assert DatasetSpec.from_dict({"path": "x"}) == DatasetSpec("x")
    with pytest.raises(ValueError, match=r"unknown dataset spec key sede; valid keys: path, format"):
        DatasetSpec.from_dict({"path": "x", "sede": 1})
    with pytest.raises(ValueError, match=r"unknown column role.*captions"):
        DatasetSpec.from_dict({"path": "x", "columns": {"captions": "c"}})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"path": ""}, "needs a path"),
        ({"format": "zip"}, "unknown dataset format 'zip'"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "leave some rows for training"),
        ({"val_fraction": "0.1"}, "val_fraction must be a number"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": 1.5}, "seed must be a non-negative integer"),
        ({"stratify": "yes"}, "stratify must be true or false"),
        ({"check_images": "none"}, "check_images must be one of full, header"),
    ],
)
def test_invalid_fields_are_refused_with_the_field_named(kwargs, message):
    kwargs = {"path": "x", **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        DatasetSpec(**kwargs)


def test_check_modes_match_the_validator():
    assert CHECK_MODES == VALIDATE_CHECK_MODES


def test_load_options_carry_the_spec_and_take_overrides():
    spec = DatasetSpec(
        "x", val_fraction=0.2, test_fraction=0.0, seed=4, stratify=False, check_images="header"
    )
    options = spec.load_options(workers=1)
    assert options == LoadOptions(
        check_images="header", val_fraction=0.2, test_fraction=0.0, seed=4, stratify=False, workers=1
    )


def test_load_gives_the_same_dataset_as_load_dataset(manifest_dataset):
    spec = DatasetSpec(str(manifest_dataset), val_fraction=0.25, seed=1)
    calls = []
    dataset = spec.load(progress=lambda done, total: calls.append((done, total)))
    direct = load_dataset(manifest_dataset, options=spec.load_options())
    assert dataset.format == "manifest"
    assert [(i.text, i.label, i.split) for i in dataset.items] == [
        (i.text, i.label, i.split) for i in direct.items
    ]
    assert dataset.fingerprint == direct.fingerprint
    assert calls and calls[-1][0] == calls[-1][1] == 12


def test_importing_the_spec_stays_light():
    code = "import sys, mmstudio.data.spec; print([m for m in ('numpy', 'PIL', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_spec_made_from_a_loaded_dataset_loads_it_again(small_demo, tmp_path):
    """``DatasetSpec.of``: the one manifest (not the folder that may hold others), the format, the
    roles and the split settings the dataset was loaded with; ``as_loaded``: the path made absolute."""
    loaded = DatasetSpec(str(small_demo), val_fraction=0.2, seed=3, check_images="header").load()
    spec = DatasetSpec.of(loaded)
    assert Path(spec.path).is_file() and Path(spec.path).parent == small_demo
    assert (spec.format, spec.val_fraction, spec.seed, spec.check_images) == ("manifest", 0.2, 3, "header")
    again = spec.load()
    assert [(i.text, i.split) for i in again.items] == [(i.text, i.split) for i in loaded.items]
    relative = DatasetSpec(small_demo.name).as_loaded(loaded)
    assert relative.path == str(Path(small_demo.name).absolute()) and relative.format == "manifest"
