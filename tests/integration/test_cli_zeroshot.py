"""``mmstudio zeroshot MODEL --data PATH`` end to end on a tiny random CLIP pair (tests/conftest.py): the
run it records reads as any run in ``runs show`` and ``runs compare`` beside a trained one, and a model
it cannot use is a one-line error with exit code 2."""

from __future__ import annotations

import json

import pytest

from mmstudio.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'runs.db'}"


def test_zeroshot_records_a_run_that_show_and_compare_read(
    tiny_clip_pair_dir, small_demo, db, make_job, capsys
):
    from mmstudio.models.fetch import resolve
    from mmstudio.training.runner import run_job

    args = ["zeroshot", str(tiny_clip_pair_dir), "--data", str(small_demo), "--db", db]
    assert main([*args, "--name", "clip baseline", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert "scoring" in captured.err.lower()  # the steps and the bar, on stderr
    assert result["revision"] == resolve(str(tiny_clip_pair_dir)).revision
    assert set(result["metrics"]) == {"test/accuracy", "test/macro_f1"}
    zero = result["run_id"]

    assert main(["runs", "show", str(zero), "--db", db, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "clip baseline" and shown["status"] == "completed"
    assert shown["tags"] == ["zeroshot"] and shown["spec"]["text_encoder"]["revision"] == result["revision"]
    assert shown["metric_stats"]["test/accuracy"]["last"] == pytest.approx(result["metrics"]["test/accuracy"])
    (evaluation,) = shown["evaluations"]
    assert evaluation["split"] == "test" and evaluation["confusion_matrix"]

    trained = run_job(make_job(db, epochs=1)).run_id
    assert main(["runs", "compare", str(zero), str(trained), "--db", db, "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert "test/accuracy" in json.dumps(compared)
    assert main(["runs", "compare", str(zero), str(trained), "--db", db]) == 0
    assert "zeroshot" in capsys.readouterr().out  # the fusion that differs

    assert main(["runs", "list", "--db", db]) == 0
    assert "hf + hf · zeroshot" in capsys.readouterr().out


def test_the_plain_output_names_the_run_and_its_metrics(tiny_clip_pair_dir, small_demo, db, capsys):
    args = ["zeroshot", str(tiny_clip_pair_dir), "--data", str(small_demo), "--db", db, "--quiet"]
    assert main([*args, "--prompt", "a {label} picture", "--split", "all", "--use-text"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run ") and "zero-shot" in out and "test/accuracy" in out


def test_unusable_models_are_one_line_errors(
    tiny_clip_pair_dir, tiny_bert_dir, small_demo, db, tmp_path, capsys
):
    folder = tmp_path / "pickled"
    folder.mkdir()
    for path in tiny_clip_pair_dir.iterdir():
        if path.suffix != ".safetensors":
            (folder / path.name).write_bytes(path.read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    for model, words in [
        (folder, "pickled weights"),
        (tiny_bert_dir, "not a CLIP or SigLIP pair"),
        ("nobody/no-such-clip", "mmstudio models pull nobody/no-such-clip"),
    ]:
        assert main(["zeroshot", str(model), "--data", str(small_demo), "--db", db, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and err.count("\n") == 1, err
    assert (
        main(["zeroshot", str(tiny_clip_pair_dir), "--data", str(small_demo), "--prompt", "x", "--db", db])
        == 2
    )
    assert "{label}" in capsys.readouterr().err


def test_eval_export_and_resume_of_a_zeroshot_run_say_what_it_is_and_what_works(
    tiny_clip_pair_dir, small_demo, tmp_path, capsys
):
    """Not "no best checkpoint, try --checkpoint last": a zero-shot run never had one."""
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    args = ["zeroshot", str(tiny_clip_pair_dir), "--data", str(small_demo), "--db", db, "--json"]
    assert main(args) == 0
    run_id = str(json.loads(capsys.readouterr().out)["run_id"])
    for command in (
        ["eval", run_id, "--quiet"],
        ["eval", run_id, "--data", str(small_demo), "--checkpoint", "last", "--quiet"],
        ["export", run_id, "--format", "torchscript", "-o", str(tmp_path / "m.pt")],
        ["train", "--resume", run_id, "--quiet"],
    ):
        assert main([*command, "--db", db]) == 2, command
        err = capsys.readouterr().err
        assert f"run {run_id} is a zero-shot baseline" in err and "nothing was trained" in err, err
        assert f"'mmstudio zeroshot {tiny_clip_pair_dir} --data PATH'" in err
        assert f"--text-encoder hf:{tiny_clip_pair_dir} --image-encoder hf:{tiny_clip_pair_dir}'" in err
        assert "checkpoint last" not in err and "only a failed" not in err
    assert not (tmp_path / "m.pt").exists()
