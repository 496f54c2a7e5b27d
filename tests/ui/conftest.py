"""Fixtures of the Qt tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REMOTE_TRAINER = Path(__file__).parents[1] / "remote_trainer.py"
#: A tiny text-only job that trains fast on the small demo (tests stop it long before its end).
TINY_MODEL = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "none"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.0},
}
TINY_TRAIN = {
    "epochs": 400,
    "batch_size": 25,
    "image_size": 32,
    "max_len": 16,
    "device": "cpu",
    "log_every_steps": 1,
    "early_stopping": False,
}


@pytest.fixture(autouse=True)
def _no_unexpected_modal_questions(monkeypatch):
    """A modal question nobody answers would hang the test run: one a test did not ask for fails the
    test at once, naming the question (a test that expects one patches ``QMessageBox.question``)."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(_parent, title, text, *_args, **_kwargs):
        raise AssertionError(f"an unexpected question was asked: {title}: {text}")

    monkeypatch.setattr(QMessageBox, "question", unexpected)


class RemoteRun:
    """A run trained by another process into the store (``tests/remote_trainer.py``), and its id."""

    def __init__(self, url: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(REMOTE_TRAINER), url, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the remote trainer did not start: {self.proc.communicate()[1]}")
        self.run_id: int = json.loads(line)["run_id"]

    def finish(self) -> None:
        """Wait for it to end; it must end well."""
        _out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def remote():
    """``remote(url, *args)``: start a remote trainer on the store at ``url`` (its options as in
    ``tests/remote_trainer.py``); it is killed after the test if still running."""
    started: list[RemoteRun] = []

    def start(url: str, *args: str) -> RemoteRun:
        started.append(RemoteRun(url, *args))
        return started[-1]

    yield start
    for run in started:
        run.kill()


class TrainingProcess:
    """A real ``mmstudio train`` in a process of its own, training into the store at ``url`` as it would
    in a terminal or on another machine: a tiny job (:data:`TINY_MODEL`) on ``data``, named ``name``.
    Its stderr goes to a file (a long run would fill a pipe nobody reads)."""

    def __init__(self, url: str, data: Path, folder: Path, name: str, **train) -> None:
        from mmstudio.data.spec import DatasetSpec
        from mmstudio.training.spec import RunJob, TrainSpec

        self.url, self.name = url, name
        job = RunJob(
            dataset=DatasetSpec(str(data)),
            model=TINY_MODEL,
            train=TrainSpec(**{**TINY_TRAIN, **train}),
            name=name,
        )
        spec = folder / f"{name}.json"
        spec.write_text(json.dumps(job.to_dict()), encoding="utf-8")
        self.stderr_path = folder / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in wait / kill)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mmstudio", "--db", url, "train", str(spec), "--json"],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.run_id = 0

    def training(self, steps: int = 5) -> bool:
        """Whether its run is running and has logged ``steps`` losses (its id then in ``run_id``); for
        ``qtbot.waitUntil``. Fails at once if the process ended."""
        from mmstudio.store import Store

        if self.proc.poll() is not None:
            raise AssertionError(f"mmstudio train ended early: {self.stderr_path.read_text()[-3000:]}")
        with Store.open(self.url, mark_orphans=False, read_only=True) as store:
            for run in store.list_runs(status="running"):
                if run.name == self.name and len(store.read_curve(run.id, "train/loss").step) >= steps:
                    self.run_id = run.id
                    return True
        return False

    def wait(self, timeout: float = 120) -> tuple[dict, str]:
        """Wait for it to end; it must end well: its ``--json`` summary and its stderr."""
        out, _ = self.proc.communicate(timeout=timeout)
        self._stderr.close()
        err = self.stderr_path.read_text(encoding="utf-8")
        assert self.proc.returncode == 0, err[-3000:]
        return json.loads(out), err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self._stderr.close()


@pytest.fixture
def trainer(tmp_path):
    """``trainer(url, data, name, **train)``: start a real ``mmstudio train`` of a tiny job on the store
    at ``url`` (:class:`TrainingProcess`); it is killed after the test if still running."""
    started: list[TrainingProcess] = []

    def start(url: str, data: Path, name: str, **train) -> TrainingProcess:
        started.append(TrainingProcess(url, data, tmp_path, name, **train))
        return started[-1]

    yield start
    for process in started:
        process.kill()
