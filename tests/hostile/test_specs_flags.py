"""Issue 13: hostile specs, flags and output paths against the real command line, and the one boundary
where the project's own errors become one line.

A corpus of cases, each run through ``mmstudio.cli.main`` in this process: the exit code (2 for bad input,
1 for a failed job), a fragment of the message, no traceback, no "run None", and nothing recorded.
A Hypothesis pass throws random JSON at the model spec parser and the checkpoint meta schema.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmstudio.cli import main

TINY_MODEL = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "small_cnn", "width": 4, "blocks": 2},
    "fusion": {"name": "concat"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.1},
}
TINY_TRAIN = [
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--image-size",
    "32",
    "--max-len",
    "16",
    "--device",
    "cpu",
]


def run_cli(argv: list[str]) -> int:
    """``main(argv)``'s exit code, argparse's usage errors (SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


@dataclass
class Context:
    """What the cases refer to: the store with its one trained run, the datasets, a folder to write in."""

    db: str
    run_id: int
    demo: Path
    unknown_labels: Path
    home: Path
    tmp: Path

    def file(self, name: str, content) -> str:
        path = self.tmp / name
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return str(path)

    def runs(self) -> list[int]:
        from mmstudio.store import Store

        with Store.open(self.db) as store:
            return [r.id for r in store.list_runs()]

    def evaluations(self) -> int:
        from mmstudio.store import Store

        with Store.open(self.db) as store:
            return len(store.list_evaluations(self.run_id))


@pytest.fixture(scope="module")
def trained(small_demo, tmp_path_factory):
    """One tiny run (one epoch) in its own store, and a copy of the demo whose labels the run never saw."""
    root = tmp_path_factory.mktemp("hostile-flags")
    spec = root / "tiny.json"
    spec.write_text(json.dumps(TINY_MODEL), encoding="utf-8")
    db = f"sqlite:///{root / 'runs.db'}"
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MMSTUDIO_HOME", str(home))
        assert main(["train", str(spec), "--data", str(small_demo), *TINY_TRAIN, "--quiet", "--db", db]) == 0
    unknown = root / "unknown-labels"
    shutil.copytree(small_demo / "images", unknown / "images")
    with open(small_demo / "manifest.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(unknown / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "label": ("yak", "zebra")[n % 2]} for n, row in enumerate(rows))
    return db, small_demo, unknown, home


@pytest.fixture
def ctx(trained, tmp_path) -> Context:
    db, demo, unknown, home = trained
    from mmstudio.store import Store

    with Store.open(db) as store:
        run_id = min(r.id for r in store.list_runs())
    return Context(db, run_id, demo, unknown, home, tmp_path)


def _under_a_file(c: Context) -> str:
    """A path whose folder is a plain file."""
    return str(Path(c.file("plain.txt", "x")) / "m.pt")


def _fifo(c: Context) -> str:
    """A named pipe nobody writes to: reading it would block for good."""
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("this system has no named pipes (os.mkfifo; Windows)")
    path = c.tmp / "fifo.json"
    os.mkfifo(path)
    return str(path)


def _dev_full() -> str:
    """A file every write to fails with "No space left on device" (Linux), to stand for a full disk."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system (it is Linux's stand-in for a full disk)")
    return "/dev/full"


def _train(c: Context, *extra: str) -> list[str]:
    return ["train", "--data", str(c.demo), *TINY_TRAIN, "--quiet", "--db", c.db, *extra]


def _job(c: Context, doc) -> list[str]:
    return _train(c, c.file("job.json", doc))


# (argv builder, exit code, message fragment)
CASES: dict[str, tuple[Callable[[Context], list[str]], int, str]] = {
    # run ids (#5: --resume -1 was a ValueError traceback)
    "resume -1": (lambda c: ["train", "--resume", "-1", "--db", c.db], 2, "-1 is not a run id"),
    "resume 0": (lambda c: ["train", "--resume", "0", "--db", c.db], 2, "0 is not a run id"),
    "resume a word": (lambda c: ["train", "--resume", "abc", "--db", c.db], 2, "'abc' is not a run id"),
    "resume an unknown run": (lambda c: ["train", "--resume", "999", "--db", c.db], 2, "no run 999"),
    "resume a completed run": (
        lambda c: ["train", "--resume", str(c.run_id), "--db", c.db, "--quiet"],
        2,
        "only a failed, stopped or interrupted run can be resumed",
    ),
    "eval run 0": (lambda c: ["eval", "0", "--db", c.db], 2, "0 is not a run id"),
    "export run -3": (
        lambda c: ["export", "-3", "--format", "torchscript", "-o", "m.pt", "--db", c.db],
        2,
        "-3 is not a run id",
    ),
    "runs show -1": (lambda c: ["runs", "show", "-1", "--db", c.db], 2, "-1 is not a run id"),
    "runs delete 0": (lambda c: ["runs", "delete", "0", "--yes", "--db", c.db], 2, "0 is not a run id"),
    # model specs and job files
    "a task that does not exist": (
        lambda c: _train(c, c.file("m.json", {**TINY_MODEL, "task": "nope"})),
        2,
        "unknown task 'nope'; choose one of: classification",
    ),
    "a task that does not exist, checked": (
        lambda c: [*_train(c, c.file("m.json", {**TINY_MODEL, "task": "nope"})), "--check"],
        2,
        "unknown task 'nope'",
    ),
    "a task that is a number": (
        lambda c: _job(c, {"model": {**TINY_MODEL, "task": 5}}),
        2,
        "unknown task 5",
    ),
    "a model spec that is a string": (
        lambda c: _train(c, c.file("m.json", '"abc"')),
        2,
        "it holds a JSON str, not an object",
    ),
    "a model spec that is a list": (
        lambda c: _train(c, c.file("m.json", [1, 2])),
        2,
        "it holds a JSON list, not an object",
    ),
    "a spec file that is a FIFO": (
        lambda c: _train(c, _fifo(c)),
        2,
        "it is not a regular file, so it cannot be a spec file",
    ),
    "a spec file that is a device": (
        lambda c: _train(c, "/dev/zero"),
        2,
        "it is not a regular file",
    ),
    "a spec file over 16 MiB": (
        lambda c: _train(c, c.file("big.json", "{}" + " " * (17 << 20))),
        2,
        "over the 16,777,216 a spec file may have",
    ),
    "a spec nested 100,000 deep": (
        lambda c: _train(c, c.file("deep.json", '{"task": ' + "[" * 100_000 + "]" * 100_000 + "}")),
        2,
        "it is not valid JSON (it is nested too deeply)",
    ),
    "a spec with an integer of 5,000 digits": (
        lambda c: _train(c, c.file("long.json", '{"task": ' + "1" * 5000 + "}")),
        2,
        "it is not valid JSON (Exceeds the limit",
    ),
    "a job whose model is a string": (
        lambda c: _job(c, {"model": "abc"}),
        2,
        "its model section must be a JSON object, not str",
    ),
    "a job whose train is a list": (
        lambda c: _job(c, {"model": TINY_MODEL, "train": [1]}),
        2,
        "its train section must be a JSON object, not list",
    ),
    "a job whose dataset is a number": (
        lambda c: _job(c, {"model": TINY_MODEL, "dataset": 3}),
        2,
        "its dataset section must be a JSON object",
    ),
    "a job whose name is a number": (
        lambda c: _job(c, {"model": TINY_MODEL, "name": 5}),
        2,
        "name must be a string or null",
    ),
    "a job with an unknown training key": (
        lambda c: _job(c, {"model": TINY_MODEL, "train": {"epochz": 1}}),
        2,
        "epochz",
    ),
    "an encoder named null": (
        lambda c: _train(c, c.file("m.json", {**TINY_MODEL, "text_encoder": {"name": None}})),
        2,
        "text_encoder must be an object with a name",
    ),
    "both encoders null": (
        lambda c: _train(
            c, c.file("m.json", {"task": "classification", "text_encoder": None, "image_encoder": None})
        ),
        2,
        "a model needs at least one encoder",
    ),
    "both encoders none by flag": (
        lambda c: _train(c, "--text-encoder", "none", "--image-encoder", "none"),
        2,
        "a model needs at least one encoder",
    ),
    "a bad preset": (lambda c: _train(c, "--preset", "nope"), 2, "unknown preset 'nope'"),
    "a bad preset in a job": (lambda c: _job(c, {"model": {"preset": "nope"}}), 2, "unknown preset 'nope'"),
    "an unknown fusion": (lambda c: _train(c, "--fusion", "nope"), 2, "unknown fusion 'nope'"),
    "zero epochs": (lambda c: _train(c, "--epochs", "0"), 2, "epochs must be between 1"),
    "a negative learning rate": (lambda c: _train(c, "--lr", "-1"), 2, "lr must be"),
    "an image size of 0": (lambda c: _train(c, "--image-size", "0"), 2, "image_size must be between 8"),
    "an unknown device": (lambda c: _train(c, "--device", "tpu"), 2, "device must be auto, cpu"),
    # demo
    "demo --image-size 0": (
        lambda c: ["demo", str(c.tmp / "d"), "--image-size", "0"],
        2,
        "--image-size must be at least 32 pixels, not 0",
    ),
    "demo --seed -1": (lambda c: ["demo", str(c.tmp / "d"), "--seed", "-1"], 2, "--seed must be 0 or more"),
    "demo --items 0": (lambda c: ["demo", str(c.tmp / "d"), "--items", "0"], 2, "--items must be at least 1"),
    # output paths (#4: a missing folder or a folder was a traceback)
    "runs export -o into a missing folder": (
        lambda c: ["runs", "export", str(c.run_id), "-o", str(c.tmp / "no" / "run.json"), "--db", c.db],
        2,
        "does not exist; create it first",
    ),
    "runs export -o a folder": (
        lambda c: ["runs", "export", str(c.run_id), "-o", str(c.tmp), "--db", c.db],
        2,
        "is a folder; give the name of a file",
    ),
    "runs export --format csv -o a folder": (
        lambda c: ["runs", "export", str(c.run_id), "--format", "csv", "-o", str(c.tmp), "--db", c.db],
        2,
        "is a folder",
    ),
    "runs compare --csv into a missing folder": (
        lambda c: (
            ["runs", "compare", str(c.run_id), str(c.run_id), "--db", c.db, "--csv", str(c.tmp / "no" / "t")]
        ),
        2,
        "does not exist",
    ),
    "runs compare --html a folder": (
        lambda c: ["runs", "compare", str(c.run_id), str(c.run_id), "--html", str(c.tmp), "--db", c.db],
        2,
        "--html",
    ),
    "export -o a folder": (
        lambda c: ["export", str(c.run_id), "--format", "torchscript", "-o", str(c.tmp), "--db", c.db],
        2,
        "is a folder",
    ),
    "export -o under a file": (
        lambda c: (
            ["export", str(c.run_id), "--format", "torchscript", "--db", c.db, "-o", _under_a_file(c)]
        ),
        2,
        "cannot write",
    ),
    "export -o a full disk": (
        lambda c: ["export", str(c.run_id), "--format", "torchscript", "-o", _dev_full(), "--db", c.db],
        1,
        "cannot write /dev/full: No space left on device",
    ),
    "runs export -o a full disk": (
        lambda c: ["runs", "export", str(c.run_id), "-o", _dev_full(), "--db", c.db],
        1,
        "cannot write /dev/full: No space left on device",
    ),
    "demo into a path under a file": (
        lambda c: ["demo", str(Path(c.file("plain.txt", "x")) / "demo"), "--items", "2"],
        2,
        "cannot write the demo dataset to",
    ),
    "runs list --status that does not exist": (
        lambda c: ["runs", "list", "--status", "bogus", "--db", c.db],
        2,
        "invalid choice: 'bogus'",
    ),
    "a device that is not there": (
        lambda c: _train(c, "--device", "cuda:99"),
        2,
        "'cuda:99' is not available on this machine",
    ),
    # eval on a dataset with no item the run can score (#4: exit 0 and empty evaluations stored)
    "eval with no item the run can score": (
        lambda c: ["eval", str(c.run_id), "--data", str(c.unknown_labels), "--quiet", "--db", c.db],
        2,
        "can be scored by run",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_flags_and_specs_give_one_line(ctx, case, capsys, monkeypatch):
    """Issue 13: each hostile flag, spec or output path exits with its code and one line naming what is
    wrong; no traceback, no "run None", no run or evaluation recorded, nothing written."""
    monkeypatch.setenv("MMSTUDIO_HOME", str(ctx.home))
    build, code, fragment = CASES[case]
    argv = build(ctx)
    runs, evaluations = ctx.runs(), ctx.evaluations()
    files = sorted(ctx.tmp.rglob("*"))
    assert run_cli(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and "run None" not in err
    assert fragment in err, err
    said = [line for line in err.splitlines() if line.startswith("error: ") or ": error: " in line]
    assert len(said) == 1 and fragment in said[0], err
    assert said[0] == err.strip().splitlines()[-1], err  # the message is one line, and the last
    assert ctx.runs() == runs and ctx.evaluations() == evaluations
    assert sorted(ctx.tmp.rglob("*")) == files  # nothing written (the spec files were written before)


# --- the boundary in main() ----------------------------------------------------------------------


def _own_errors():
    from mmstudio.data.types import DatasetFormatError
    from mmstudio.models import SpecError, SpecIssue
    from mmstudio.models.registry import UnknownNameError
    from mmstudio.training.checkpoints import CheckpointError
    from mmstudio.training.device import DeviceUnavailableError
    from mmstudio.training.exports import ExportUnavailable
    from mmstudio.training.resume import ResumeError
    from mmstudio.training.trainer import TrainingFailed

    two = [SpecIssue("error", "fusion", "gated needs both"), SpecIssue("error", "head", "no such head")]
    return {
        "CheckpointError": (
            CheckpointError("best.json has no tensor fc.weight"),
            2,
            "has no tensor fc.weight",
        ),
        "SpecError": (SpecError(two), 2, "2 errors: fusion: gated needs both; head: no such head"),
        "UnknownNameError": (UnknownNameError("unknown fusion 'x'"), 2, "error: unknown fusion 'x'"),
        "ResumeError": (ResumeError("run 3 has no checkpoint"), 2, "run 3 has no checkpoint"),
        "DeviceUnavailableError": (DeviceUnavailableError("no CUDA here"), 2, "no CUDA here"),
        "DatasetFormatError": (DatasetFormatError("not a dataset"), 2, "not a dataset"),
        "TrainingFailed": (TrainingFailed("the loss is nan"), 1, "the loss is nan"),
        "ExportUnavailable": (ExportUnavailable("pip install onnx"), 1, "pip install onnx"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "CheckpointError",
        "SpecError",
        "UnknownNameError",
        "ResumeError",
        "DeviceUnavailableError",
        "DatasetFormatError",
        "TrainingFailed",
        "ExportUnavailable",
    ],
)
def test_the_projects_own_errors_become_one_line_wherever_raised(name, capsys, monkeypatch):
    """Issue 13: a CheckpointError, SpecError, ResumeError... raised anywhere under a command is one line
    'error: ...' with exit 2 (bad input) or 1 (a failed job), not a traceback."""
    error, code, fragment = _own_errors()[name]

    def command(_args):
        raise error

    monkeypatch.setattr("mmstudio.cli.runs.cmd_list", command)
    assert main(["runs", "list"]) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err, err


@pytest.mark.parametrize("error", [RuntimeError("a bug"), KeyError("model"), TypeError("a bug")])
def test_a_real_bug_keeps_its_traceback(error, monkeypatch):
    """Issue 13: only the project's own errors are turned into a line; anything else is a bug, raised."""

    def command(_args):
        raise error

    monkeypatch.setattr("mmstudio.cli.runs.cmd_list", command)
    with pytest.raises(type(error)):
        main(["runs", "list"])


# --- the problems CSV and a closed pipe ------------------------------------------------------------


def test_the_problems_csv_escapes_cells_a_spreadsheet_would_run(tmp_path, capsys):
    """Issue 13: file names and captions that start like a formula (=, +, -, @, tab, CR) are written with
    a leading ' (OWASP CSV injection), through data check --problems-csv and write_problems_csv."""
    from PIL import Image

    from mmstudio.data.report import write_problems_csv
    from mmstudio.data.types import Problem, ProblemKind

    Image.new("RGB", (16, 16), "red").save(tmp_path / "ok.png")
    names = ["=HYPERLINK(1).png", "+1+2.png", "-3+4.png", "@SUM(A1).png"]
    rows = "".join(f'"{name}",a caption\n' for name in names)
    (tmp_path / "data.csv").write_text("image,text\nok.png,a red square\n" + rows, encoding="utf-8")
    out = tmp_path / "problems.csv"
    assert main(["data", "check", str(tmp_path / "data.csv"), "--problems-csv", str(out)]) == 0
    capsys.readouterr()
    with out.open(newline="", encoding="utf-8") as f:
        written = list(csv.reader(f))[1:]
    assert sorted(row[5] for row in written) == sorted("'" + name for name in names)
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for row in written for cell in row)

    problems = [
        Problem(ProblemKind.EMPTY_TEXT, 1, "\tTAB.png", "=1+1", True, "d.csv"),
        Problem(ProblemKind.EMPTY_TEXT, 2, "\rCR.png", "a message", False, "d.csv"),
    ]
    with write_problems_csv(problems, tmp_path / "p.csv").open(newline="", encoding="utf-8") as f:
        direct = list(csv.reader(f))[1:]
    assert [row[5] for row in direct] == ["'\tTAB.png", "'\rCR.png"]
    assert direct[0][3] == "'=1+1" and direct[0][1] == "1"  # numbers are numbers


@pytest.mark.slow
def test_runs_show_into_a_closed_pipe_ends_quietly(ctx):
    """Issue 13: ``mmstudio runs show ID | head``: the reader is gone before the run is printed; the
    command ends with exit 0 and no BrokenPipeError traceback."""
    import os

    env = {**os.environ, "MMSTUDIO_HOME": str(ctx.home)}
    for argv in (["runs", "show", str(ctx.run_id)], ["runs", "list", "--json"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "mmstudio", *argv, "--db", ctx.db],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        proc.stdout.close()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert b"Traceback" not in err and b"BrokenPipe" not in err


# --- property-based: the spec parser and the checkpoint meta schema ------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _component_strategy(slot: str):
    from mmstudio.models.spec import REGISTRIES

    names = st.sampled_from([*REGISTRIES[slot], "nope"])
    params = st.dictionaries(
        st.sampled_from(["width", "blocks", "embed_dim", "hidden", "dropout", "pooling", "x"]), _SCALARS
    )
    return _JSON | names | st.builds(lambda name, extra: {"name": name, **extra}, names | _SCALARS, params)


def _spec_strategy():
    from mmstudio.models.spec import COMPONENTS
    from mmstudio.vocabulary import TASKS

    fields = {"task": st.sampled_from([*TASKS, "nope"]) | _SCALARS}
    fields.update({slot: _component_strategy(slot) for slot in COMPONENTS})
    specs = st.fixed_dictionaries({}, optional={**fields, "extra": _JSON})
    return specs | _JSON


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_spec_parsing_raises_only_spec_errors(data):
    """Issue 13: any JSON given as a model spec is a ModelSpec or a SpecError (never a KeyError,
    TypeError...); a parsed spec validates to a list of issues, and is plain JSON again."""
    from mmstudio.models import ModelContext, ModelSpec, SpecError

    doc = data.draw(_spec_strategy())
    try:
        spec = ModelSpec.from_dict(doc)
    except SpecError:
        return
    json.dumps(spec.to_dict())
    issues = spec.validate(ModelContext(vocab_size=50, num_outputs=3, image_size=32, max_len=16))
    assert all(issue.level in ("error", "warning") for issue in issues)


@settings(max_examples=80, deadline=None)
@given(
    meta=st.fixed_dictionaries(
        {},
        optional={
            "model": _JSON,
            "train": _JSON,
            "labels": _JSON,
            "tokenizer": _JSON,
            "epoch": _JSON,
            "run_id": _JSON,
        },
    )
    | _JSON
)
def test_the_checkpoint_meta_schema_raises_only_checkpoint_errors(meta):
    """Issue 13: any JSON as a checkpoint's meta passes the schema or is a CheckpointError naming it."""
    from mmstudio.training.checkpoints import CheckpointError, check_model_meta

    try:
        check_model_meta(meta, "best.json")
    except CheckpointError as exc:
        assert str(exc).startswith("best.json")


def _train_field_strategy():
    from dataclasses import fields

    from mmstudio.training.spec import TrainSpec

    names = [f.name for f in fields(TrainSpec)]
    choices = st.sampled_from(["adamw", "cosine", "auto", "cpu", "cuda:0", "val/accuracy", "word", "crop"])
    return st.fixed_dictionaries({}, optional={name: _SCALARS | choices | _JSON for name in names})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_job_and_train_spec_parsing_raise_only_type_or_value_errors(data):
    """Issue 13: any JSON as a job file's train section or as a whole run job is a TrainSpec / RunJob or
    a TypeError / ValueError with a message (what build_job turns into a usage line), never another
    exception; a parsed TrainSpec round-trips."""
    from mmstudio.training.spec import RunJob, TrainSpec

    train = data.draw(_train_field_strategy() | _JSON)
    try:
        spec = TrainSpec.from_dict(train)
    except (TypeError, ValueError) as exc:
        assert str(exc)
    else:
        assert TrainSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    job = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "dataset": st.fixed_dictionaries({"path": st.text(min_size=1, max_size=8)}) | _JSON,
                "model": _spec_strategy(),
                "train": _train_field_strategy() | _JSON,
                "name": _SCALARS,
                "resume_run_id": _SCALARS,
                "version": _SCALARS,
            },
        )
        | _JSON
    )
    try:
        RunJob.from_dict(job)
    except (TypeError, ValueError) as exc:
        assert str(exc)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "not valid JSON: it is nested too deeply"),
        ('{"task": ' + "1" * 5000 + "}", "not valid JSON: Exceeds the limit"),
        ('{"task": "classification",', "not valid JSON: Expecting"),
        ('"abc"', "a model spec must be a JSON object, not str"),
    ],
    ids=["nested", "long integer", "truncated", "a string"],
)
def test_a_model_spec_from_json_text_is_a_spec_error(text, fragment):
    """Issue 13: ModelSpec.from_json raises SpecError for any text that
    is not a spec object: RecursionError and the long-integer ValueError were raised as they were."""
    from mmstudio.models import ModelSpec, SpecError

    with pytest.raises(SpecError) as exc:
        ModelSpec.from_json(text)
    assert fragment in str(exc.value)
