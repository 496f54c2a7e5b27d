"""The exported launch.sh run for real: bash, the real ``torchrun --standalone`` with two processes on
the CPU (DistributedDataParallel over Gloo), ``python -m mmstudio train job.json``; the run lands once
in the store the dialog named, completed, with the job's name, dataset and hyperparameters. (Several
nodes need a cluster: the unit tests check those scripts' argv.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmstudio.data.spec import DatasetSpec
from mmstudio.store import Store
from mmstudio.training.launch import LAUNCH_FILE, LaunchLayout, plan_launch
from mmstudio.training.spec import RunJob, TrainSpec

BIN = Path(sys.executable).parent
TORCHRUN = shutil.which("torchrun", path=str(BIN))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TORCHRUN is None, reason=f"no torchrun beside this Python ({BIN})"),
    pytest.mark.skipif(shutil.which("bash") is None, reason="launch.sh is a bash script; no bash here"),
]


def test_the_exported_launch_sh_trains_the_job_into_the_store(tmp_path, small_demo):
    url = f"sqlite:///{tmp_path / 'team.db'}"
    job = RunJob(
        dataset=DatasetSpec(path=str(small_demo), seed=3),
        model={"task": "classification", "text_encoder": {"name": "textcnn"}, "fusion": {"name": "concat"}},
        train=TrainSpec(epochs=1, batch_size=32, image_size=32, max_len=16, device="cpu", num_threads=1),
        name="exported",
    )
    plan = plan_launch(job, url, LaunchLayout(nproc_per_node=2), tmp_path / "launch")
    plan.write()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", str(plan.folder / LAUNCH_FILE), "--quiet"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with Store.open(url) as store:
        (summary,) = store.list_runs()
        run = store.get_run(summary.id)
    assert (run.name, run.status) == ("exported", "completed")
    assert "2 processes" in run.device  # one run for the two processes, recorded by rank 0
    assert run.dataset_spec["path"] == str(small_demo) and run.dataset_spec["seed"] == 3
    assert (run.train_spec["epochs"], run.train_spec["batch_size"]) == (1, 32)
    assert run.spec["text_encoder"]["name"] == "textcnn"
