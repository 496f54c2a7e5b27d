"""Fixtures of the Qt tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REMOTE_TRAINER = Path(__file__).parents[1] / "remote_trainer.py"


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
