"""Fixtures of the Qt tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_unexpected_modal_questions(monkeypatch):
    """A modal question nobody answers would hang the test run: one a test did not ask for fails the
    test at once, naming the question (a test that expects one patches ``QMessageBox.question``)."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(_parent, title, text, *_args, **_kwargs):
        raise AssertionError(f"an unexpected question was asked: {title}: {text}")

    monkeypatch.setattr(QMessageBox, "question", unexpected)
