"""``torchrun --nproc-per-node 2 -m mmstudio train``: two real processes joined by Gloo on the CPU train
one run, recorded once by rank 0, with one curve, and the same losses as one process training the same
global batches from the same seed.

Why the losses agree, and how closely: each process takes every second item of the global batch that
one process would train on, scales its mean loss by its share of the batch, and DDP averages the two
gradients, so the update is the one process's update in exact arithmetic. What differs is only the
order of float32 additions (two half-batch sums added by the all-reduce, against one sum), a relative
error near 1e-7 per operation; after twenty AdamW steps on these small smooth models it stays below
1e-5 (measured: see ``TOLERANCE``). The models have no BatchNorm (on a CPU each process normalises
with its own share's statistics; on CUDA the trainer converts it to SyncBatchNorm) and no dropout:
with them, the two runs would differ by design, not by rounding.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.training.checkpoints import read_checkpoint_meta
from mmstudio.training.runner import run_job
from mmstudio.training.spec import RunJob, TrainSpec

pytestmark = pytest.mark.slow

#: The largest difference allowed between a torchrun run's training loss and one process's, per step.
#: Measured: 4.8e-7 for both tests (two float32 ulps at these losses near 2); a 100× margin.
TOLERANCE = 5e-5
_TRAIN = {
    "epochs": 2,
    "batch_size": 25,  # 192 training items: 7 full batches and one of 17 an epoch, split 9 / 8
    "image_size": 32,
    "max_len": 16,
    "device": "cpu",
    "log_every_steps": 1,
    "checkpoint_every_s": 0.0,
    "lr": 3e-3,
    "seed": 3,
    "modality_dropout": 0.0,
    "early_stopping": False,
}
_TEXT_ONLY = {
    "task": "classification",
    "text_encoder": {"name": "bag", "embed_dim": 16},
    "image_encoder": {"name": "none"},
    "head": {"name": "mlp", "hidden": 32, "dropout": 0.0},
}


def torchrun(args: list[str], db_url: str, nproc: int = 2, timeout: float = 240):
    """``torchrun --standalone --nproc-per-node N -m mmstudio --db URL ARGS`` as a user types it (in
    the test's MMSTUDIO_HOME, where this process finds the store's checkpoints too)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "mmstudio",
        "--db",
        db_url,
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def write_job(path, data, model: dict, **train) -> RunJob:
    job = RunJob(dataset=DatasetSpec(str(data)), model=model, train=TrainSpec(**{**_TRAIN, **train}))
    path.write_text(json.dumps(job.to_dict()), encoding="utf-8")
    return job


def losses(url: str, run_id: int) -> tuple[list[int], np.ndarray]:
    with Store.open(url) as store:
        curve = store.read_curve(run_id, "train/loss")
    return curve.step.tolist(), np.asarray(curve.value)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("fresh_postgres_url")


def test_two_processes_train_one_run_with_the_losses_of_one_process(store_url, small_demo, tmp_path):
    spec = tmp_path / "job.json"
    job = write_job(spec, small_demo, _TEXT_ONLY)
    done = torchrun(["train", str(spec), "--json"], store_url)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)  # one summary: rank 0 speaks for the job
    assert summary["status"] == "completed" and summary["steps"] == 16  # 2 epochs × 8 global batches
    assert "× 2 processes (gloo)" in summary["device"]

    with Store.open(store_url) as store:
        runs = store.list_runs()
        assert [r.id for r in runs] == [summary["run_id"]]  # recorded once, not once per process
        run = runs[0]
        assert run.status.value == "completed" and "2 processes" in run.device
        assert {e.split for e in store.list_evaluations(run.id)} >= {"val", "test"}
        checkpoints = store.run_dir(run.id)
    assert (checkpoints / "best.json").is_file() and (checkpoints / "last.json").is_file()
    steps, distributed = losses(store_url, run.id)
    assert steps == list(range(1, 17))  # one curve: each step once

    single = run_job(RunJob.from_dict({**job.to_dict(), "db_url": store_url}))
    assert single.status == "completed", single.message
    assert losses(store_url, single.run_id)[0] == steps
    difference = np.abs(distributed - losses(store_url, single.run_id)[1])
    assert difference.max() < TOLERANCE, difference
    assert distributed[-1] < distributed[0]  # and it learnt


def test_the_contrastive_loss_sees_the_whole_global_batch(small_demo, tiny_vit_dir, tmp_path):
    """Each process's embeddings are gathered (with their gradients): the negatives are the global
    batch's, so two processes compute one process's loss, and train the image tower as it would."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    model = {
        "task": "contrastive",
        "text_encoder": {"name": "bag", "embed_dim": 16},
        "image_encoder": {"name": "hf", "model": str(tiny_vit_dir), "finetune": "full"},
        "head": {"name": "projection", "dim": 16},
    }
    spec = tmp_path / "job.json"
    job = write_job(spec, small_demo, model, epochs=1, feature_cache=False)
    done = torchrun(["train", str(spec), "--json"], url)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = json.loads(done.stdout)["run_id"]
    single = run_job(RunJob.from_dict({**job.to_dict(), "db_url": url}))
    assert single.status == "completed", single.message
    (steps, distributed), (single_steps, alone) = losses(url, run_id), losses(url, single.run_id)
    assert steps == single_steps == list(range(1, 9))
    assert np.abs(distributed - alone).max() < TOLERANCE, (distributed, alone)


def test_a_global_batch_smaller_than_the_processes_is_refused_in_a_sentence(small_demo, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    spec = tmp_path / "job.json"
    write_job(spec, small_demo, _TEXT_ONLY, batch_size=1)
    done = torchrun(["train", str(spec)], url)
    assert done.returncode != 0
    said = "the batch size (1) is the global batch, shared by the 2 processes: make it at least 2"
    assert done.stderr.count(said) == 1  # rank 0 says it for both
    # torchrun prints its own traceback when a process exits non-zero; none comes from mmstudio
    assert f"{os.sep}mmstudio{os.sep}" not in done.stderr.replace(sys.executable, "")
    with Store.open(url) as store:
        assert store.list_runs() == []


def test_gradient_accumulation_under_torchrun_matches_one_process(small_demo, tmp_path):
    """Two batches to a step: the first backward skips DDP's all-reduce (``no_sync``), the second
    averages both; the update is still one process's."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    spec = tmp_path / "job.json"
    job = write_job(spec, small_demo, _TEXT_ONLY, epochs=1, accumulation=2)
    done = torchrun(["train", str(spec), "--json"], url)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = json.loads(done.stdout)["run_id"]
    single = run_job(RunJob.from_dict({**job.to_dict(), "db_url": url}))
    (steps, distributed), (single_steps, alone) = losses(url, run_id), losses(url, single.run_id)
    assert steps == single_steps == [1, 2, 3, 4]  # 8 batches, 2 to a step
    assert np.abs(distributed - alone).max() < TOLERANCE, (distributed, alone)


def _rank_pids(launcher_pid: int) -> dict[int, int]:
    """``{rank: pid}`` of the processes torchrun started (read from their environment: Linux)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        except (OSError, ValueError, IndexError):
            continue
        if parent == launcher_pid and b"RANK" in env:
            found[int(env[b"RANK"])] = int(entry)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the ranks' pids in /proc (Linux)")
def test_a_process_killed_mid_run_stops_every_rank_and_the_run_resumes(small_demo, tmp_path):
    import signal
    import time

    from mmstudio.training.distributed import PEER_LOST, Terminated

    url = f"sqlite:///{tmp_path / 'store.db'}"
    spec = tmp_path / "job.json"
    write_job(spec, small_demo, _TEXT_ONLY, epochs=400)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    launcher = subprocess.Popen(
        [*command, "-m", "mmstudio", "--db", url, "train", str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until a checkpoint exists and training goes on
            if os.path.exists(tmp_path / "store.db"):
                with Store.open(url, mark_orphans=False) as store:
                    runs = store.list_runs()
                    if runs and (store.run_dir(runs[0].id) / "last.json").is_file():
                        break
            time.sleep(0.2)
        else:
            raise AssertionError("no checkpoint within 120 s")
        os.kill(_rank_pids(launcher.pid)[1], signal.SIGKILL)  # the OOM killer, a lost machine
        _, stderr = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode != 0
    with Store.open(url) as store:
        run = store.get_run(runs[0].id)
    # rank 0 learnt it from its collective failing or from torchrun's SIGTERM, whichever came first
    assert run.status.value == "interrupted", (run.error_message, stderr[-2000:])
    assert run.error_message in (PEER_LOST, Terminated.message)

    with Store.open(url) as store:
        epochs = read_checkpoint_meta(store.run_dir(run.id) / "last")["epoch"] + 2
    done = torchrun(["train", "--resume", str(run.id), "--epochs", str(epochs), "--json"], url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["run_id"] == run.id
    steps, _ = losses(url, run.id)
    assert steps == list(range(1, epochs * 8 + 1))  # one curve, continued without a gap or a repeat


def _wait_for_training(url: str, timeout: float = 120) -> int:
    """The id of the store's run once it has logged a few steps."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Store.open(url, mark_orphans=False) as store:
            runs = store.list_runs()
            if runs and len(store.read_curve(runs[0].id, "train/loss").step) >= 5:
                return runs[0].id
        time.sleep(0.2)
    raise AssertionError(f"no run trained within {timeout} s")


@pytest.mark.parametrize("nproc", [None, 2], ids=["one process", "torchrun"])
def test_a_stop_asked_through_the_store_ends_the_run_cancelled_with_a_checkpoint(nproc, small_demo, tmp_path):
    """``mmstudio runs stop ID`` (what the app's Stop does for a run it follows): the run's own process
    stops at its next step, saves its checkpoint and ends cancelled; under torchrun every process
    stops at the same step (none is left waiting in a collective)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    spec = tmp_path / "job.json"
    write_job(spec, small_demo, _TEXT_ONLY, epochs=400)
    launcher = [sys.executable] if nproc is None else [sys.executable, "-m", "torch.distributed.run"]
    if nproc is not None:
        launcher += ["--standalone", f"--nproc-per-node={nproc}"]
    training = subprocess.Popen(
        [*launcher, "-m", "mmstudio", "--db", url, "train", str(spec), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = _wait_for_training(url)
        stop = subprocess.run(
            [sys.executable, "-m", "mmstudio", "--db", url, "runs", "stop", str(run_id), "--wait", "120"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        out, err = training.communicate(timeout=120)
    finally:
        if training.poll() is None:
            training.kill()
    assert stop.returncode == 0, stop.stderr
    assert (
        f"run {run_id} (run-{run_id}) asked to stop" in stop.stderr
        and f"run {run_id} cancelled" in stop.stderr
    )
    assert training.returncode == 0, err[-3000:]
    assert json.loads(out)["status"] == "cancelled"
    with Store.open(url) as store:
        run = store.get_run(run_id)
        assert run.status.value == "cancelled"
        folder = store.run_dir(run_id)
    meta = read_checkpoint_meta(folder / "last")
    steps, _ = losses(url, run_id)
    assert meta["step"] == steps[-1] < 400 * 8  # stopped early, its checkpoint at its last step
    assert "a stop was asked through the store" in err
