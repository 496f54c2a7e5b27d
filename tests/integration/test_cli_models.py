"""``mmstudio models pull|list|rm|import`` as users call them, against a local hub on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmstudio.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fakehub = _load("mmstudio_tests_fakehub", ROOT / "tests" / "fakehub.py")
REPO = "tiny-org/tiny-bert"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return fakehub.write_tiny_bert(tmp_path_factory.mktemp("cli-models") / "tiny-bert")


@pytest.fixture
def hub(tiny_bert, tmp_path, monkeypatch):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with fakehub.FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        server.sha = server.add_repo(REPO, tiny_bert)
        yield server


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_pull_list_rm(hub, capsys):
    start = time.perf_counter()
    code, out, err = run(capsys, "models", "pull", REPO, "--json")
    seconds = time.perf_counter() - start
    assert code == 0, err
    doc = json.loads(out)
    assert doc["id"] == REPO and doc["revision"] == hub.sha and doc["source"] == "huggingface"
    assert (
        doc["downloaded_bytes"] == doc["size_bytes"] > 0 and Path(doc["path"], "model.safetensors").is_file()
    )
    print(f"pulled {doc['size_bytes']} bytes in {doc['seconds']} s ({seconds:.2f} s with the command)")

    code, out, err = run(capsys, "models", "pull", REPO)  # again: nothing new
    assert code == 0 and "nothing new" in err and f"hf:{REPO}" in err

    code, out, _ = run(capsys, "models", "list", "--json")
    listed = json.loads(out)
    assert code == 0 and [(m["id"], m["source"], m["revision"]) for m in listed] == [
        (REPO, "huggingface", hub.sha)
    ]
    assert set(listed[0]) == {"id", "source", "revision", "size_bytes", "path"}
    code, out, _ = run(capsys, "models", "list")
    assert code == 0 and REPO in out and "huggingface" in out

    code, _, err = run(capsys, "models", "rm", REPO)  # stdin is not a terminal: --yes is needed
    assert code == 2 and "--yes" in err
    code, _, err = run(capsys, "models", "rm", REPO, "--yes")
    assert code == 0 and f"removed {REPO}" in err
    code, out, err = run(capsys, "models", "list")
    assert code == 0 and out == "" and "models pull" in err
    code, _, err = run(capsys, "models", "rm", REPO, "--yes")
    assert code == 2 and err.count("\n") == 1


def test_rm_asks_on_a_terminal(tiny_bert, capsys, monkeypatch):
    assert main(["models", "import", str(tiny_bert), "--name", "asked"]) == 0
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    answers = iter(["n", "y"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    code, _, err = run(capsys, "models", "rm", "asked")
    assert code == 0 and "nothing removed" in err
    code, _, err = run(capsys, "models", "rm", "asked")
    assert code == 0 and "removed asked" in err
    code, _, err = run(capsys, "models", "rm", "asked")
    assert code == 2 and "is not on this machine" in err


def test_errors_are_one_line(hub, capsys, monkeypatch):
    code, _, err = run(capsys, "models", "pull", "nobody/nothing")
    assert code == 2 and err.startswith("error: there is no model nobody/nothing") and err.count("\n") == 1
    hub.add_repo("old/pickled", files={"config.json": b"{}", "pytorch_model.bin": b"x"})
    code, _, err = run(capsys, "models", "pull", "old/pickled")
    assert code == 2 and "no safetensors weights" in err and err.count("\n") == 1
    code, _, err = run(capsys, "models", "pull", "torchvision:nonet")
    assert code == 2 and "no model named 'nonet'" in err
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    code, _, err = run(capsys, "models", "pull", REPO)
    assert code == 1 and err.startswith("error: could not reach http://127.0.0.1:9") and err.count("\n") == 1
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(capsys, "models", "pull", REPO)
    assert code == 1 and "HF_HUB_OFFLINE" in err


def test_import_a_folder_then_list_and_remove_it(tiny_bert, capsys):
    code, out, err = run(capsys, "models", "import", str(tiny_bert), "--name", "offline-bert", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (
        doc["id"] == "offline-bert" and doc["source"] == "imported" and doc["revision"].startswith("sha256:")
    )
    code, _, err = run(capsys, "models", "import", str(tiny_bert), "--name", "offline-bert")
    assert code == 2 and "already imported" in err
    code, _, err = run(capsys, "models", "import", str(tiny_bert / "nothing-here"))
    assert code == 2 and "does not exist" in err
    code, out, _ = run(capsys, "models", "list", "--json")
    assert [m["id"] for m in json.loads(out)] == ["offline-bert"]
    code, _, err = run(capsys, "models", "rm", "offline-bert", "-y")
    assert code == 0 and "removed offline-bert" in err


def test_help_and_startup_import_no_hub_client():
    code = (
        "import sys\nfrom mmstudio.cli import build_parser\nbuild_parser()\n"
        "print([m for m in ('huggingface_hub', 'transformers', 'torch') if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr
    with pytest.raises(SystemExit) as exc:
        main(["models", "pull", "--help"])
    assert exc.value.code == 0


@pytest.mark.slow
def test_ctrl_c_stops_a_pull_and_the_next_pull_completes(hub, tmp_path, capsys):
    big = os.urandom(6 << 20)
    hub.add_repo("tiny-org/big", files={"config.json": b"{}", "model.safetensors": big})
    hub.rate = 1 << 20  # 1 MiB/s: the pull takes six seconds
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mmstudio", "models", "pull", "tiny-org/big"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not hub.gets("/model.safetensors") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(1.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    stopped_in = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    assert stopped_in < 3, stopped_in  # at the next 1 MiB chunk, not at the end of the file
    assert not list((tmp_path / "hf").rglob("*.incomplete"))
    hub.rate = 0
    code, out, err = run(capsys, "models", "pull", "tiny-org/big", "--json")
    assert code == 0, err
    assert Path(json.loads(out)["path"], "model.safetensors").read_bytes() == big
