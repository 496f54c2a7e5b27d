"""Fixtures of the store tests: a fresh SQLite store file per test, in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mmstudio.store import Store


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No test may touch the user's real store.
    monkeypatch.setenv("MMSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MMSTUDIO_DB", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    (tmp_path / "store").mkdir(exist_ok=True)
    return tmp_path / "store" / "mmstudio.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as s:
        yield s
