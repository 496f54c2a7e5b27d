"""``mmstudio [gui] PATH ...``: a saved model spec opens on the Model page, a dataset on the Datasets
page (a file manager starts ``mmstudio %F`` with whichever it was asked to open)."""

from __future__ import annotations

import json

import pytest

from mmstudio import cli

SPEC = {
    "task": "classification",
    "text_encoder": {"name": "bag"},
    "image_encoder": {"name": "small_cnn"},
    "fusion": {"name": "concat"},
    "head": {"name": "linear"},
}


@pytest.fixture
def launched(monkeypatch):
    """What ``run_gui`` was asked to open (the window itself is not made)."""
    import mmstudio.ui.launch

    calls: list[tuple] = []
    monkeypatch.setattr(mmstudio.ui.launch, "run_gui", lambda path, **kw: calls.append((path, kw)) or 0)
    return calls


def test_a_spec_file_opens_on_the_model_page_and_a_dataset_beside_it_on_the_datasets_page(
    launched, tmp_path, small_demo
):
    spec = tmp_path / "fused.mmspec.json"
    spec.write_text(json.dumps(SPEC), encoding="utf-8")
    assert cli.main([str(spec)]) == 0
    assert cli.main([str(small_demo), str(spec)]) == 0
    (path, options), (path_2, options_2) = launched
    assert path is None and options["spec"] == str(spec)
    assert path_2 == str(small_demo) and options_2["spec"] == str(spec)


def test_a_dataset_alone_opens_no_spec_and_two_specs_are_refused(launched, tmp_path, small_demo, capsys):
    assert cli.main(["gui", str(small_demo)]) == 0
    assert launched == [(str(small_demo), launched[0][1])] and launched[0][1]["spec"] is None
    for name in ("a.json", "b.mmspec.json"):
        (tmp_path / name).write_text(json.dumps(SPEC), encoding="utf-8")
    assert cli.main([str(tmp_path / "a.json"), str(tmp_path / "b.mmspec.json")]) == 2
    assert "give one model spec to open, not 2" in capsys.readouterr().err
