"""The launch files of a job (``mmstudio.training.launch``): job.json reads back as the same job; the
scripts pass ``bash -n`` and, run by bash, give torchrun (and srun) the argv that torchrun's own parser
and mmstudio's own parser accept, from which ``mmstudio train`` builds the very job the GUI held; a
store password never reaches a file; the warnings say what would go wrong on a cluster.

``torchrun``, ``srun`` and ``scontrol`` are the edge of what can run here (no cluster, no DDP yet): the
scripts are run by the real bash with small recorders of those programs first on PATH, so what is
checked is exactly what bash would hand them."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from torch.distributed.run import get_args_parser

from mmstudio.cli import build_parser
from mmstudio.cli.train import build_job
from mmstudio.data.spec import DatasetSpec
from mmstudio.training.launch import (
    DEFAULT_PORT,
    JOB_FILE,
    LAUNCH_FILE,
    RDZV_HOST_ENV,
    SBATCH_FILE,
    LaunchLayout,
    SlurmOptions,
    default_launch_folder,
    plan_launch,
)
from mmstudio.training.spec import RunJob, TrainSpec

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="the launch scripts are bash scripts; no bash here")

PASSWORD = "s3cr@t pass"
SECRET_URL = "postgresql+psycopg://bob:s3cr%40t%20pass@db.example:5432/runs"
PLAIN_URL = "postgresql+psycopg://bob@db.example/runs"
MODEL = {"task": "classification", "text_encoder": {"name": "textcnn"}, "fusion": {"name": "concat"}}


def _job(path="/data/pairs", **train) -> RunJob:
    return RunJob(
        dataset=DatasetSpec(path=path, val_fraction=0.2, seed=7),
        model=MODEL,
        train=TrainSpec(epochs=3, batch_size=16, lr=1e-3, **train),
        name="night run",
        experiment="cluster",
        db_url="sqlite:////somewhere/else.db",  # the GUI's: never what the files say
    )


def _recorders(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A bin folder with ``torchrun``, ``srun`` and ``scontrol`` recorders, and the environment that puts
    it first on PATH. Each recorder writes its argv, NUL-separated, to ``<name>.args`` (and torchrun
    the MMSTUDIO_DB it sees to ``torchrun.db``); scontrol answers ``show hostnames gpu[01-02]``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = 'printf "%s\\0" "$@" > "$RECORDS/$(basename "$0").args"\n'
    (bin_dir / "torchrun").write_text(
        f'#!/bin/sh\n{record}printf "%s" "${{MMSTUDIO_DB-unset}}" > "$RECORDS/torchrun.db"\n'
    )
    (bin_dir / "srun").write_text(f"#!/bin/sh\n{record}")
    (bin_dir / "scontrol").write_text(
        '#!/bin/sh\n[ "$1 $2 $3" = "show hostnames gpu[01-02]" ] || exit 3\nprintf "gpu01\\ngpu02\\n"\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    records = tmp_path / "records"
    records.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MMSTUDIO_DB", RDZV_HOST_ENV))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", RECORDS=str(records))
    return records, env


def _run(script: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BASH, str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _argv(records: Path, name: str) -> list[str]:
    return (records / f"{name}.args").read_text().split("\0")[:-1]


def _mmstudio_args(torchrun_argv: list[str]):
    """torchrun's argv through torchrun's own parser, then what it runs through mmstudio's: a flag
    either does not know fails here."""
    launched = get_args_parser().parse_args(torchrun_argv)
    assert launched.module and launched.training_script == "mmstudio"
    return launched, build_parser().parse_args(launched.training_script_args)


# --- job.json ----------------------------------------------------------------------------------------


def test_job_json_reads_back_as_the_job_without_its_store(tmp_path):
    job = _job()
    plan = plan_launch(job, PLAIN_URL, LaunchLayout(), tmp_path / "launch")
    written = plan.write()
    assert [p.name for p in written] == [JOB_FILE, LAUNCH_FILE, SBATCH_FILE]
    doc = json.loads((tmp_path / "launch" / JOB_FILE).read_text())
    assert doc["db_url"] is None
    assert RunJob.from_dict(doc) == dataclasses.replace(job, db_url=None) == plan.job
    assert os.access(tmp_path / "launch" / LAUNCH_FILE, os.X_OK)
    assert os.access(tmp_path / "launch" / SBATCH_FILE, os.X_OK)


def test_a_relative_dataset_path_is_written_absolute_and_said(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan = plan_launch(_job(path="pairs/manifest.csv"), PLAIN_URL, LaunchLayout(), "out")
    assert plan.folder == tmp_path / "out"
    absolute = str(tmp_path / "pairs" / "manifest.csv")
    assert RunJob.from_json(plan.files[JOB_FILE]).dataset.path == absolute
    assert any("pairs/manifest.csv" in w and absolute in w for w in plan.warnings)


def test_the_default_folder_is_new_and_named_after_the_run(mmstudio_home):
    from mmstudio import paths

    folder = default_launch_folder(dataclasses.replace(_job(), name="night run #2"))
    assert folder.parent == paths.data_dir() / "launch" and not folder.exists()
    assert folder.name.startswith("night-run-2-")
    assert default_launch_folder(dataclasses.replace(_job(), name=None)).name.startswith("run-")


# --- one machine -----------------------------------------------------------------------------------------


def test_the_single_node_command_is_torchrun_standalone_with_mmstudio_train(tmp_path):
    folder = tmp_path / "launch"
    plan = plan_launch(_job(), PLAIN_URL, LaunchLayout(nproc_per_node=4), folder)
    job_file = str(folder / JOB_FILE)
    assert shlex.split(plan.command) == [
        "torchrun",
        "--standalone",
        "--nproc-per-node",
        "4",
        "-m",
        "mmstudio",
        "--db",
        PLAIN_URL,
        "train",
        job_file,
    ]
    launched, args = _mmstudio_args(shlex.split(plan.command)[1:])
    assert launched.standalone and launched.nproc_per_node == "4"
    assert (args.command, args.spec, args.db) == ("train", job_file, PLAIN_URL)


def test_launch_sh_run_by_bash_trains_the_same_job_through_the_cli(tmp_path):
    folder = tmp_path / "it's a $HOME folder"  # quoting: a quote, a space and a dollar in the path
    job = _job()
    plan = plan_launch(job, PLAIN_URL, LaunchLayout(nproc_per_node=2), folder)
    plan.write()
    records, env = _recorders(tmp_path)
    done = _run(folder / LAUNCH_FILE, env, "--epochs", "9")
    assert done.returncode == 0, done.stderr
    argv = _argv(records, "torchrun")
    assert shlex.split(plan.command) == ["torchrun", *argv[:-2]]  # the script adds only "$@"
    _launched, args = _mmstudio_args(argv)
    assert args.spec == str(folder / JOB_FILE) and args.epochs == 9
    built = build_job(args)  # what `mmstudio train` would train: the job the GUI held, in this store
    assert built == dataclasses.replace(job, db_url=PLAIN_URL, train=dataclasses.replace(job.train, epochs=9))


@pytest.mark.parametrize("nnodes", [1, 3])
@pytest.mark.parametrize("url", [PLAIN_URL, SECRET_URL, "sqlite:////shared/runs.db"])
def test_both_scripts_pass_bash_n(tmp_path, nnodes, url):
    slurm = SlurmOptions(
        partition="gpu,debug", time="1-12:00", gpus_per_node=4, cpus_per_task=8, account="ml"
    )
    layout = LaunchLayout(nproc_per_node=4, nnodes=nnodes, slurm=slurm)
    plan_launch(_job(), url, layout, tmp_path / "a b").write()
    for name in (LAUNCH_FILE, SBATCH_FILE):
        checked = subprocess.run([BASH, "-n", str(tmp_path / "a b" / name)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{name}: {checked.stderr}"


# --- several machines --------------------------------------------------------------------------------------


def test_launch_sh_on_several_nodes_meets_at_a_c10d_rendezvous(tmp_path):
    folder = tmp_path / "launch"
    plan = plan_launch(_job(), PLAIN_URL, LaunchLayout(nproc_per_node=8, nnodes=2, port=29611), folder)
    plan.write()
    records, env = _recorders(tmp_path)

    refused = _run(folder / LAUNCH_FILE, env)  # no first node named: the script says which variable
    assert refused.returncode != 0 and RDZV_HOST_ENV in refused.stderr
    assert not (records / "torchrun.args").exists()

    done = _run(folder / LAUNCH_FILE, {**env, RDZV_HOST_ENV: "node7.cluster"})
    assert done.returncode == 0, done.stderr
    launched, args = _mmstudio_args(_argv(records, "torchrun"))
    assert not launched.standalone
    assert (launched.nnodes, launched.nproc_per_node) == ("2", "8")
    assert (launched.rdzv_backend, launched.rdzv_endpoint) == ("c10d", "node7.cluster:29611")
    assert launched.rdzv_id.startswith("mmstudio-")
    assert (args.command, args.spec) == ("train", str(folder / JOB_FILE))
    assert f'"${RDZV_HOST_ENV}":29611' in plan.command  # the command to copy reads the same variable


def test_a_named_first_node_is_in_the_command_and_the_variable_still_wins(tmp_path):
    folder = tmp_path / "launch"
    plan = plan_launch(_job(), PLAIN_URL, LaunchLayout(nnodes=2, rdzv_host="head01"), folder)
    launched, _args = _mmstudio_args(shlex.split(plan.command)[1:])
    assert launched.rdzv_endpoint == f"head01:{DEFAULT_PORT}"
    plan.write()
    records, env = _recorders(tmp_path)
    assert _run(folder / LAUNCH_FILE, env).returncode == 0
    assert _mmstudio_args(_argv(records, "torchrun"))[0].rdzv_endpoint == f"head01:{DEFAULT_PORT}"
    assert _run(folder / LAUNCH_FILE, {**env, RDZV_HOST_ENV: "other"}).returncode == 0
    assert _mmstudio_args(_argv(records, "torchrun"))[0].rdzv_endpoint == f"other:{DEFAULT_PORT}"


# --- SLURM ------------------------------------------------------------------------------------------------


def _sbatch_options(text: str) -> dict[str, str]:
    """The #SBATCH options, which sbatch reads only before the first command."""
    options, lines = {}, text.splitlines()
    assert lines[0].startswith("#!")
    for line in lines[1:]:
        if not line.startswith("#"):
            break
        if line.startswith("#SBATCH "):
            key, _, value = line.removeprefix("#SBATCH ").partition("=")
            options[key] = value
    assert sum(line.startswith("#SBATCH") for line in lines) == len(options)  # none after a command
    return options


def test_the_slurm_script_asks_for_the_nodes_and_runs_torchrun_once_per_node(tmp_path):
    folder = tmp_path / "launch"
    slurm = SlurmOptions(partition="gpu", time="04:00:00", gpus_per_node=4, cpus_per_task=32, account="proj")
    plan = plan_launch(_job(), PLAIN_URL, LaunchLayout(nproc_per_node=4, nnodes=2, slurm=slurm), folder)
    plan.write()
    assert _sbatch_options(plan.files[SBATCH_FILE]) == {
        "--job-name": "mmstudio-night-run",
        "--nodes": "2",
        "--ntasks-per-node": "1",
        "--gpus-per-node": "4",
        "--cpus-per-task": "32",
        "--time": "04:00:00",
        "--partition": "gpu",
        "--account": "proj",
        "--output": f"{folder}/slurm-%j.out",
    }
    records, env = _recorders(tmp_path)
    slurm_env = {**env, "SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_NNODES": "2", "SLURM_JOB_ID": "4242"}
    done = _run(folder / SBATCH_FILE, slurm_env, "--lr", "0.01")
    assert done.returncode == 0, done.stderr
    srun = _argv(records, "srun")
    assert srun[:3] == ["--cpus-per-task", "32", "torchrun"]
    launched, args = _mmstudio_args(srun[3:])
    assert (launched.nnodes, launched.nproc_per_node) == ("2", "4")
    assert (launched.rdzv_id, launched.rdzv_backend, launched.rdzv_endpoint) == (
        "4242",
        "c10d",
        "gpu01:29500",
    )
    assert (args.db, args.spec, args.lr) == (PLAIN_URL, str(folder / JOB_FILE), 0.01)


def test_a_single_node_slurm_job_runs_torchrun_standalone(tmp_path):
    folder = tmp_path / "launch"
    plan = plan_launch(_job(), PLAIN_URL, LaunchLayout(nproc_per_node=2), folder)
    plan.write()
    assert "scontrol" not in plan.files[SBATCH_FILE]
    assert "--gpus-per-node" not in _sbatch_options(plan.files[SBATCH_FILE])  # 0: the cluster's default
    records, env = _recorders(tmp_path)
    assert _run(folder / SBATCH_FILE, env).returncode == 0
    srun = _argv(records, "srun")
    assert srun[0] == "torchrun"
    launched, _args = _mmstudio_args(srun[1:])
    assert launched.standalone and launched.nproc_per_node == "2"


def test_a_folder_an_sbatch_line_cannot_hold_leaves_the_output_to_slurm(tmp_path):
    plan = plan_launch(_job(), PLAIN_URL, LaunchLayout(), tmp_path / "with space")
    assert "--output" not in _sbatch_options(plan.files[SBATCH_FILE])


# --- the store's password --------------------------------------------------------------------------------


def test_a_store_password_is_never_written_and_the_scripts_read_mmstudio_db(tmp_path):
    folder = tmp_path / "launch"
    plan = plan_launch(_job(), SECRET_URL, LaunchLayout(nproc_per_node=2, nnodes=2), folder)
    plan.write()
    assert plan.store_from_env and "***" in plan.store
    texts = [plan.command, plan.store, *(p.read_text() for p in folder.iterdir()), *plan.warnings]
    for secret in (PASSWORD, "s3cr%40t", "s3cr@t"):
        assert not any(secret in text for text in texts)
    assert "--db" not in shlex.split(plan.command)
    for name in (LAUNCH_FILE, SBATCH_FILE):
        assert "MMSTUDIO_DB" in plan.files[name] and "bob:PASSWORD@db.example" in plan.files[name]

    records, env = _recorders(tmp_path)
    env[RDZV_HOST_ENV] = "node1"
    refused = _run(folder / LAUNCH_FILE, env)
    assert refused.returncode != 0 and "MMSTUDIO_DB" in refused.stderr
    assert not (records / "torchrun.args").exists()
    done = _run(folder / LAUNCH_FILE, {**env, "MMSTUDIO_DB": SECRET_URL})
    assert done.returncode == 0, done.stderr
    _launched, args = _mmstudio_args(_argv(records, "torchrun"))
    assert not hasattr(args, "db")  # mmstudio falls back on MMSTUDIO_DB, which torchrun passes on
    assert (records / "torchrun.db").read_text() == SECRET_URL


def test_a_password_given_as_a_query_parameter_is_kept_out_too(tmp_path):
    url = "postgresql+psycopg://bob@db.example/runs?password=hunter2"
    plan = plan_launch(_job(), url, LaunchLayout(), tmp_path / "launch")
    assert plan.store_from_env
    assert not any("hunter2" in text for text in [plan.command, plan.store, *plan.files.values()])


# --- warnings and refusals ---------------------------------------------------------------------------------


def _warnings(job=None, url=PLAIN_URL, folder="/shared/launch", **layout) -> tuple[str, ...]:
    return plan_launch(job or _job(), url, LaunchLayout(**layout), folder).warnings


def test_a_clean_cluster_job_has_no_warnings():
    slurm = SlurmOptions(gpus_per_node=4)
    assert _warnings(nproc_per_node=4, nnodes=4, slurm=slurm) == ()


def test_a_sqlite_store_on_several_nodes_is_called_unsafe():
    (said,) = _warnings(url="sqlite:////shared/runs.db", nnodes=2)
    assert "SQLite" in said and "unsafe" in said and "PostgreSQL" in said and "mmstudio db copy" in said
    (one,) = _warnings(url="/shared/runs.db")  # a bare path is a SQLite file
    assert "SQLite" in one and "slurm.sbatch" in one


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"job": _job(path="/tmp/pairs")}, ("/tmp/pairs", "local")),
        ({"folder": "/tmp/launch"}, ("/tmp/launch", "local", "shared filesystem")),
        ({"job": _job(device="mps")}, ("MPS", "no distributed backend")),
        ({"job": _job(device="cpu"), "slurm": SlurmOptions(gpus_per_node=2)}, ("CPU", "idle")),
        ({"nproc_per_node": 4, "nnodes": 5}, ("batch size (16)", "20 processes", "refuses")),
        ({"nproc_per_node": 8, "slurm": SlurmOptions(gpus_per_node=4)}, ("8 processes", "4 GPUs", "NCCL")),
        (
            {"job": dataclasses.replace(_job(), model={"text_encoder": {"name": "hf", "model": "org/bert"}})},
            ("hf:org/bert", "mmstudio models pull"),
        ),
    ],
)
def test_what_would_go_wrong_on_a_cluster_is_said(kwargs, words):
    (said,) = _warnings(**kwargs)
    assert all(word in said for word in words), said


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: SlurmOptions(partition="gpu; rm -rf ~"), ("partition",)),
        (lambda: SlurmOptions(account="a b"), ("account",)),
        (lambda: SlurmOptions(time="4h"), ("time limit", "04:00:00")),
        (lambda: SlurmOptions(gpus_per_node=-1), ("GPUs per node",)),
        (lambda: LaunchLayout(nproc_per_node=0), ("Processes per node",)),
        (lambda: LaunchLayout(nnodes=0), ("Nodes",)),
        (lambda: LaunchLayout(port=70000), ("port",)),
        (lambda: LaunchLayout(rdzv_host="$(reboot)"), ("host name",)),
        (lambda: plan_launch(_job(), "", LaunchLayout(), "/x"), ("which store",)),
        (lambda: plan_launch(_job(), "runs.db", LaunchLayout(), "/x"), ("absolute path",)),
        (lambda: plan_launch(_job(), "sqlite:///runs.db", LaunchLayout(), "/x"), ("relative",)),
        (lambda: plan_launch(_job(), "sqlite://", LaunchLayout(), "/x"), ("names no file",)),
        (lambda: plan_launch(_job(), "not a url://x", LaunchLayout(), "/x"), ("not a database URL",)),
        (
            lambda: plan_launch(_job(), "postgresql://bob:pw@host:port/db", LaunchLayout(), "/x"),
            ("'postgresql://bob:***@host:port/db' is not a database URL",),
        ),
        (
            lambda: plan_launch(
                dataclasses.replace(_job(), resume_run_id=3), PLAIN_URL, LaunchLayout(), "/x"
            ),
            ("--resume 3",),
        ),
    ],
)
def test_what_cannot_be_launched_is_refused_with_a_reason(make, words):
    with pytest.raises(ValueError) as refused:
        make()
    assert all(word in str(refused.value) for word in words), str(refused.value)
