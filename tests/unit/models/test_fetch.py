"""Fetching, listing, importing and resolving pretrained models, against a local hub on 127.0.0.1.

No test reaches a real hub: ``HF_ENDPOINT`` points at :mod:`tests.fakehub`, ``HF_HOME`` and
``TORCH_HOME`` at temporary folders.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import threading
from pathlib import Path

import pytest

from mmstudio.models import fetch
from mmstudio.models.fetch import ModelNotCached, ResolvedModel
from mmstudio.progress import Cancelled, TaskState


def _load_fakehub():
    path = Path(__file__).resolve().parents[2] / "fakehub.py"
    spec = importlib.util.spec_from_file_location("mmstudio_tests_fakehub", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fakehub = _load_fakehub()
REPO = "tiny-org/tiny-bert"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return fakehub.write_tiny_bert(tmp_path_factory.mktemp("tiny-bert") / "tiny-bert")


@pytest.fixture
def hub(tiny_bert, tmp_path, monkeypatch):
    """The fake hub serving the tiny BERT (plus a pickle and a TF file that must never be fetched), with
    HF_HOME and TORCH_HOME in tmp_path."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with fakehub.FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        server.sha = server.add_repo(
            REPO,
            tiny_bert,
            {"pytorch_model.bin": b"pickle" * 100, "tf_model.h5": b"h5" * 100, "README.md": b"#"},
        )
        yield server


def test_resolve_a_local_folder_is_the_folder_and_its_weights_hash(tiny_bert):
    resolved = fetch.resolve(str(tiny_bert))
    assert isinstance(resolved, ResolvedModel)
    assert resolved.path == tiny_bert.resolve() and resolved.source == "local"
    expected = hashlib.sha256(b"model.safetensors\0" + (tiny_bert / "model.safetensors").read_bytes())
    assert resolved.revision == f"sha256:{expected.hexdigest()}"
    assert fetch.resolve(f"hf:{tiny_bert}") == resolved  # the train command's hf: prefix
    with pytest.raises(ValueError, match="is a file"):
        fetch.resolve(str(tiny_bert / "model.safetensors"))


def test_a_model_that_is_not_here_names_the_pull_and_import_commands(hub):
    with pytest.raises(ModelNotCached) as exc:
        fetch.resolve("some-org/absent-model")
    assert "mmstudio models pull some-org/absent-model" in str(exc.value)
    assert "mmstudio models import" in str(exc.value)
    assert isinstance(exc.value, FileNotFoundError) and exc.value.ref == "some-org/absent-model"
    import pickle

    again = pickle.loads(pickle.dumps(exc.value))
    assert isinstance(again, ModelNotCached) and str(again) == str(exc.value)
    assert hub.requests == []  # resolving never reaches the network
    with pytest.raises(ModelNotCached):
        fetch.resolve("not a model id!")


def test_import_copies_a_folder_without_its_pickles_and_resolves_by_name(tiny_bert, tmp_path):
    src = tmp_path / "exported"
    import shutil

    shutil.copytree(tiny_bert, src)
    (src / "pytorch_model.bin").write_bytes(b"not loaded")
    model = fetch.import_model(src, name="my-bert")
    target = fetch.imported_dir() / "my-bert"
    assert model.path == target and model.source == "imported"
    assert (target / "model.safetensors").is_file() and (target / "vocab.txt").is_file()
    assert not (target / "pytorch_model.bin").exists()
    card = json.loads((target / "mmstudio-model.json").read_text())
    local = fetch.resolve(str(src))
    assert card == {"id": "my-bert", "source": "imported", "revision": local.revision, "origin": str(src)}
    assert fetch.resolve("my-bert") == ResolvedModel(target, "my-bert", local.revision, "imported")
    assert [m.id for m in fetch.list_models() if m.source == "imported"] == ["my-bert"]
    with pytest.raises(FileExistsError, match="already imported"):
        fetch.import_model(src, name="my-bert")
    assert [m.id for m in fetch.remove("my-bert")] == ["my-bert"]
    assert not target.exists()
    with pytest.raises(ModelNotCached):
        fetch.resolve("my-bert")


def test_import_refuses_a_folder_with_only_pickled_weights(tmp_path):
    src = tmp_path / "old"
    src.mkdir()
    (src / "config.json").write_text("{}")
    (src / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"no \.safetensors weights.*pytorch_model\.bin"):
        fetch.import_model(src)
    with pytest.raises(ValueError, match="not a model folder"):
        fetch.import_model(tmp_path)


def test_pull_fetches_only_what_a_model_needs_and_resolve_finds_its_commit(hub, tiny_bert):
    seen = []
    pulled = fetch.pull(REPO, progress=lambda done, total: seen.append((done, total)))
    assert pulled.revision == hub.sha and pulled.source == "huggingface"
    names = sorted(p.name for p in pulled.path.iterdir())
    assert "model.safetensors" in names and "config.json" in names and "vocab.txt" in names
    assert "tokenizer.json" in names
    assert not {"pytorch_model.bin", "tf_model.h5", "README.md"} & set(names)
    assert not hub.gets("pytorch_model.bin") and not hub.gets("tf_model.h5")
    assert (pulled.path / "model.safetensors").read_bytes() == (tiny_bert / "model.safetensors").read_bytes()
    assert seen and seen[-1][0] == seen[-1][1] == pulled.size_bytes
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    assert pulled.downloaded_bytes == pulled.size_bytes

    assert fetch.is_cached(REPO) and not fetch.is_cached("tiny-org/other")
    resolved = fetch.resolve(REPO)
    assert resolved == ResolvedModel(pulled.path, REPO, hub.sha, "huggingface")
    assert fetch.resolve(f"{REPO}@{hub.sha}").path == pulled.path
    listed = [m for m in fetch.list_models() if m.source == "huggingface"]
    assert [(m.id, m.revision) for m in listed] == [(REPO, hub.sha)]
    assert listed[0].size_bytes >= pulled.size_bytes - 4096  # scan_cache_dir counts blocks on disk

    n = len(hub.requests)
    again = fetch.pull(REPO)  # everything is here: nothing is fetched again
    assert again.downloaded_bytes == 0 and not [
        r for r in hub.requests[n:] if r[0] == "GET" and "/resolve/" in r[1]
    ]

    import huggingface_hub.constants
    from transformers import AutoModel, AutoTokenizer

    hub_requests = len(hub.requests)
    with pytest.MonkeyPatch.context() as mp:  # transformers loads the snapshot with no network at all
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        assert AutoModel.from_pretrained(resolved.path).config.hidden_size == 16
        assert AutoTokenizer.from_pretrained(resolved.path)("the cat")["input_ids"][0] == 2  # [CLS]
    assert len(hub.requests) == hub_requests

    assert [m.id for m in fetch.remove(REPO)] == [REPO]
    with pytest.raises(ModelNotCached):
        fetch.resolve(REPO)


def test_an_interrupted_transfer_resumes_where_it_stopped(hub):
    """huggingface_hub writes a file in chunks (1 MiB as pull sets it) and, when the connection drops,
    asks for the rest with a Range request from the last chunk it wrote: a 4 MiB file dropped half-way
    resumes at 2 MiB."""
    import os

    big = os.urandom(4 << 20)
    hub.add_repo("tiny-org/big", files={"config.json": b"{}", "model.safetensors": big})
    hub.drop_once.add("model.safetensors")
    fractions = []
    state = TaskState(lambda fraction, message: fractions.append(fraction))  # what the GUI hands over
    pulled = fetch.pull("tiny-org/big", progress=state, cancel=state)
    assert fractions[-1] == 1.0
    gets = hub.gets("/model.safetensors")
    assert len(gets) == 2 and gets[0][2] == "" and gets[1][2] == f"bytes={2 << 20}-"
    assert (pulled.path / "model.safetensors").read_bytes() == big


def test_a_cancelled_pull_keeps_finished_files_and_the_next_pull_fetches_only_the_rest(hub):
    import os

    big = os.urandom(4 << 20)
    hub.add_repo(
        "tiny-org/big", files={"config.json": b"{}", "vocab.txt": b"a\nb\n", "model.safetensors": big}
    )
    hub.rate = 2 << 20  # 2 MiB/s: the small files finish long before the weights
    cancel = threading.Event()

    def progress(done, total):
        if done > (1 << 20):
            cancel.set()

    with pytest.raises(Cancelled, match="cancelled"):
        fetch.pull("tiny-org/big", progress=progress, cancel=cancel)
    cache = Path(fetch.hf_cache_dir())
    assert not list(cache.rglob("*.incomplete"))
    with pytest.raises(ModelNotCached, match="not finished"):
        fetch.resolve("tiny-org/big")
    kept = sorted(p.name for p in next(cache.glob("models--*/snapshots/*")).iterdir())
    assert kept == ["config.json", "vocab.txt"]
    hub.rate = 0
    pulled = fetch.pull("tiny-org/big")
    assert (pulled.path / "model.safetensors").read_bytes() == big
    assert len(hub.gets("/config.json")) == len(hub.gets("/vocab.txt")) == 1  # not fetched again
    assert pulled.downloaded_bytes == len(big)
    assert fetch.resolve("tiny-org/big").revision == hub.repos["tiny-org/big"]["sha"]


def test_a_sentence_transformers_export_is_pulled_and_imported_with_its_modules(hub, tiny_bert, tmp_path):
    """modules.json, sentence_bert_config.json and 1_Pooling/ come along; ONNX and OpenVINO exports and
    the pickled weights do not."""
    import shutil

    st = tmp_path / "st"
    shutil.copytree(tiny_bert, st)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (st / "modules.json").write_text(json.dumps(modules))
    (st / "sentence_bert_config.json").write_text('{"max_seq_length": 32, "do_lower_case": false}')
    (st / "1_Pooling").mkdir()
    (st / "1_Pooling" / "config.json").write_text(
        '{"word_embedding_dimension": 16, "pooling_mode_mean_tokens": true}'
    )
    (st / "onnx").mkdir()
    (st / "onnx" / "model.onnx").write_bytes(b"onnx")
    (st / "onnx" / "config.json").write_text("{}")
    (st / "openvino").mkdir()
    (st / "openvino" / "openvino_model.xml").write_text("<xml/>")
    (st / "pytorch_model.bin").write_bytes(b"pickle")
    wanted = {
        *(p.name for p in tiny_bert.iterdir()),
        "modules.json",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    }
    hub.add_repo("st-org/tiny-st", st)
    pulled = fetch.pull("st-org/tiny-st")
    got = {p.relative_to(pulled.path).as_posix() for p in pulled.path.rglob("*") if p.is_file()}
    assert got == wanted
    imported = fetch.import_model(st)
    got = {p.relative_to(imported.path).as_posix() for p in imported.path.rglob("*") if p.is_file()}
    assert got == wanted | {"mmstudio-model.json"}
    assert fetch.resolve("st").revision == fetch.resolve(str(st)).revision == imported.revision


def test_pull_refuses_a_repo_without_safetensors_and_unknown_names(hub):
    hub.add_repo("old-org/pickled", files={"config.json": b"{}", "pytorch_model.bin": b"x" * 10})
    with pytest.raises(ValueError, match=r"no safetensors weights.*pytorch_model\.bin"):
        fetch.pull("old-org/pickled")
    assert not hub.gets("pytorch_model.bin")
    with pytest.raises(ValueError, match="there is no model nobody/nothing"):
        fetch.pull("nobody/nothing")
    with pytest.raises(ValueError, match="has no revision v9"):
        fetch.pull(f"{REPO}@v9")
    with pytest.raises(ValueError, match="not a Hugging Face model id"):
        fetch.pull("a/b/c")


def test_offline_mode_never_reaches_the_hub_but_resolves_what_is_cached(hub, monkeypatch):
    fetch.pull(REPO)
    n = len(hub.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="HF_HUB_OFFLINE"):
        fetch.pull("another/model")
    assert fetch.resolve(REPO).revision == hub.sha
    assert len(hub.requests) == n
    with pytest.raises(ValueError, match="is a local path"):
        fetch.pull(str(fetch.resolve(REPO).path))


def test_the_environment_is_read_when_pulling_not_when_huggingface_hub_was_imported(hub, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as if set at start, unset since
    old = "http://127.0.0.1:9"  # HF_ENDPOINT as it was at import: nothing listens there
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", old)
    monkeypatch.setattr(
        huggingface_hub.constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        old + "/{repo_id}/resolve/{revision}/{filename}",
    )
    assert fetch.pull(REPO).revision == hub.sha


def test_an_unreachable_hub_is_a_connection_error(hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(ConnectionError, match="could not reach"):
        fetch.pull(REPO)


# --- torchvision ---------------------------------------------------------------------------------


@pytest.fixture
def served_weights(hub, monkeypatch, tmp_path):
    """resnet18's DEFAULT weights URL pointed at the fake hub, serving a small state dict saved under a
    name that carries its own sha256 prefix (as torchvision's names do)."""
    import io

    import torch
    from torchvision.models import ResNet18_Weights

    buffer = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(2, 3)}, buffer)
    body = buffer.getvalue()
    name = f"resnet18-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    hub.files[f"/models/{name}"] = body
    monkeypatch.setattr(ResNet18_Weights.DEFAULT.value, "url", f"{hub.url}/models/{name}")
    return name, body


def test_pull_torchvision_weights_into_torch_home(hub, served_weights, tmp_path):
    name, body = served_weights
    seen = []
    pulled = fetch.pull("torchvision:resnet18", progress=lambda d, t: seen.append((d, t)))
    target = tmp_path / "torch" / "hub" / "checkpoints" / name
    assert pulled.path == target and target.read_bytes() == body
    assert pulled.id == "torchvision:resnet18.IMAGENET1K_V1" and seen[-1] == (len(body), len(body))
    assert pulled.revision == f"sha256:{hashlib.sha256(body).hexdigest()}"
    listed = [m for m in fetch.list_models() if m.source == "torchvision"]
    assert [(m.id, m.path) for m in listed] == [("torchvision:resnet18.IMAGENET1K_V1", target)]

    from mmstudio.models.image import find_pretrained_file

    assert find_pretrained_file("resnet18") == target  # where the image encoders look
    assert fetch.pull("torchvision:resnet18").downloaded_bytes == 0
    assert [m.id for m in fetch.remove("torchvision:resnet18")] == ["torchvision:resnet18.IMAGENET1K_V1"]
    assert not target.exists()


def test_torchvision_pull_resumes_a_partial_file_and_checks_the_hash(hub, served_weights, tmp_path):
    name, body = served_weights
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / f"{name}.partial").write_bytes(body[:100])
    pulled = fetch.pull("torchvision:resnet18.IMAGENET1K_V1")
    assert pulled.downloaded_bytes == len(body) - 100 and pulled.path.read_bytes() == body
    assert hub.gets(name)[-1][2] == "bytes=100-"
    pulled.path.unlink()
    hub.drop_once.add(f"/models/{name}")  # half the file, then the connection drops: kept, resumed
    with pytest.raises(ConnectionError, match="run the same pull again to resume it"):
        fetch.pull("torchvision:resnet18")
    assert (folder / f"{name}.partial").stat().st_size == len(body) // 2
    assert fetch.pull("torchvision:resnet18").path.read_bytes() == body
    assert hub.gets(name)[-1][2] == f"bytes={len(body) // 2}-"
    pulled.path.unlink()
    hub.files[f"/models/{name}"] = b"tampered" + body
    with pytest.raises(ValueError, match="does not match the hash"):
        fetch.pull("torchvision:resnet18")
    assert not list(folder.iterdir())
    with pytest.raises(ValueError, match="has no weights NOPE"):
        fetch.pull("torchvision:resnet18.NOPE")


def test_import_a_torchvision_file_under_the_name_torchvision_expects(hub, tmp_path):
    import torch
    import torchvision
    from safetensors.torch import save_file
    from torchvision.models import MobileNet_V3_Small_Weights

    state = torchvision.models.mobilenet_v3_small().state_dict()
    src = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(src))
    model = fetch.import_model(src, name="mobilenet_v3_small")
    expected = MobileNet_V3_Small_Weights.DEFAULT.url.rsplit("/", 1)[-1]
    assert model.path == tmp_path / "torch" / "hub" / "checkpoints" / expected
    loaded = torch.load(model.path, weights_only=True)
    assert set(loaded) == set(state)
    with pytest.raises(ValueError, match="does not hold resnet18 weights"):
        fetch.import_model(src, name="resnet18")
    with pytest.raises(ValueError, match="pass --name"):
        fetch.import_model(src)
