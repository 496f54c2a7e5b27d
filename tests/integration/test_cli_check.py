"""``mmstudio train --check``: the Model page's checks from the command line, on the small demo dataset;
nothing is trained or recorded."""

import json

import pytest
import torch
from torch import nn

from mmstudio.cli import main
from mmstudio.models import TEXT_ENCODERS, EncoderOutput

SMALL = ["--batch-size", "16", "--image-size", "32", "--max-len", "16"]


def runs_in(db: str, capsys) -> list:
    assert main(["runs", "list", "--db", db, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_check_prints_the_architecture_and_one_batch(small_demo, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["train", "--data", str(small_demo), "--preset", "gated", *SMALL, "--check", "--db", db]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("For small-demo") and "a vocabulary of" in lines[0]
    fusion = next(line for line in lines if line.startswith("Fusion"))
    assert "gated" in fusion and "→ [B, 256]" in fusion and "parameters" in fusion
    assert any(line.startswith("Total: ") for line in lines)
    assert any(line.startswith("Training memory ≈ ") and "at batch size 16" in line for line in lines)
    assert "A batch of 16 training items went through: logits [B, 6]" in out
    assert runs_in(db, capsys) == []  # nothing recorded


def test_check_json_report(small_demo, capsys):
    code = main(["train", "--data", str(small_demo), *SMALL, "--check", "--json", "--quiet"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == 0 and doc["ok"] and captured.err == ""  # --quiet: nothing on stderr
    assert {"spec", "dataset", "context", "issues", "summary", "check"} <= set(doc)
    assert doc["spec"]["fusion"]["name"] == "concat"  # the spec training would pick for the data
    assert doc["context"]["vocab_size"] == doc["dataset"]["vocab_size"] > 2
    assert [b["name"] for b in doc["summary"]["blocks"]] == [
        "text_encoder",
        "image_encoder",
        "fusion",
        "head",
    ]
    assert doc["summary"]["memory_bytes"] > 0
    check = doc["check"]
    assert check["outputs"]["logits"] == [16, 6] and check["finite"] and check["backward_s"] is not None


def test_check_exits_2_with_the_validation_errors(small_demo, capsys):
    argv = ["train", "--data", str(small_demo), "--image-encoder", "none", "--fusion", "gated", *SMALL]
    assert main([*argv, "--check", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: the model spec has 1 error:\n- fusion: gated fusion combines")
    assert main([*argv, "--check", "--quiet", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert not doc["ok"] and doc["check"] is None and doc["summary"] is None
    assert [i["component"] for i in doc["issues"]] == ["fusion"]
    assert main(["train", "--data", str(small_demo), "--check", "--quiet", "--preset", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


class NotANumber(nn.Module):
    """A real text encoder whose features are NaN: the model builds, the loss cannot be finite."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 8)
        self.out_dim = 8

    def forward(self, tokens, lengths):
        x = self.embedding(tokens) * torch.tensor(float("nan"))
        return EncoderOutput(x.mean(dim=1), x, tokens != 0)


@pytest.fixture
def nan_encoder():
    TEXT_ENCODERS.register("test_nan", help="Test: NaN features")(lambda *, ctx: NotANumber(ctx.vocab_size))
    yield
    TEXT_ENCODERS._entries.pop("test_nan", None)


def test_check_exits_1_when_the_batch_fails(small_demo, capsys, nan_encoder):
    argv = ["train", "--data", str(small_demo), "--text-encoder", "test_nan", *SMALL, "--check", "--quiet"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "The loss is not finite" in captured.out
    assert captured.err == "error: the check failed: the loss is not finite\n"
