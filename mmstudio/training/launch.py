"""Launch files for training beyond this machine: a job spec and the ``torchrun`` and SLURM scripts that
train it with ``mmstudio train`` (the Train page's "Export launch command…").

:func:`plan_launch` takes a :class:`~mmstudio.training.spec.RunJob`, the store's URL and a
:class:`LaunchLayout` (processes per node, nodes, the rendezvous, SLURM options) and returns a
:class:`LaunchPlan`: the text of the three files, the command line, and warnings for the user.
:meth:`LaunchPlan.write` writes them to a folder:

- ``job.json``: the job (:meth:`RunJob.to_dict`, read by ``mmstudio train job.json``) with the dataset's
  path made absolute and no store in it;
- ``launch.sh``: ``torchrun --standalone --nproc-per-node N -m mmstudio --db URL train job.json`` on one
  machine, or, on several, the same ``torchrun --nnodes M ... --rdzv-backend c10d`` run on each node;
- ``slurm.sbatch``: ``#SBATCH`` lines and ``srun torchrun`` once per node, meeting at the first node.

Every word is quoted with :func:`shlex.quote`; both scripts pass their own arguments on to ``mmstudio
train`` (``bash launch.sh --epochs 3``). A store URL with a password is never written: the scripts read
it from ``MMSTUDIO_DB`` (``mmstudio`` reads the store from there when ``--db`` is not given), which
also keeps it off the command lines other users of a node can list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shlex
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmstudio import __version__, paths
from mmstudio.preferences import DB_ENV
from mmstudio.training.spec import RunJob

#: The files a launch folder holds, in the order they are written.
JOB_FILE, LAUNCH_FILE, SBATCH_FILE = "job.json", "launch.sh", "slurm.sbatch"
#: The rendezvous port (torchrun's usual master port).
DEFAULT_PORT = 29500
#: Where ``launch.sh`` on several nodes reads the first node's host name when none was given.
RDZV_HOST_ENV = "MMSTUDIO_RDZV_HOST"
#: Folders that are one machine's own, never the same on every node of a cluster.
LOCAL_PREFIXES = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/", "/private/", "/var/folders/", "/Volumes/")

_SLURM_NAME = re.compile(r"[A-Za-z0-9_.+-]+(,[A-Za-z0-9_.+-]+)*")  # a partition or account (a list: a,b)
_SLURM_TIME = re.compile(r"\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}")  # minutes, h:m:s, days-h[:m[:s]]
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+-]+")  # a path an #SBATCH line can hold as it is


def _count(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")


@dataclass(frozen=True)
class SlurmOptions:
    """What ``slurm.sbatch`` asks SLURM for; an empty or zero option is left to the cluster's default.
    ``time`` is a SLURM time limit (``90``, ``04:00:00``, ``1-12``)."""

    partition: str = ""
    time: str = ""
    account: str = ""
    gpus_per_node: int = 0
    cpus_per_task: int = 0

    def __post_init__(self) -> None:
        for name in ("partition", "account"):
            value = getattr(self, name).strip()
            object.__setattr__(self, name, value)
            if value and not _SLURM_NAME.fullmatch(value):
                raise ValueError(
                    f"The SLURM {name} {value!r} is not a name (letters, digits, _ . + -; a list with commas)"
                )
        object.__setattr__(self, "time", self.time.strip())
        if self.time and not _SLURM_TIME.fullmatch(self.time):
            raise ValueError(
                f"The time limit {self.time!r} is not one SLURM reads: minutes (90), hours:minutes:seconds "
                "(04:00:00) or days-hours (1-12)"
            )
        _count("GPUs per node", self.gpus_per_node, 0, 1024)
        _count("CPUs per task", self.cpus_per_task, 0, 100_000)


@dataclass(frozen=True)
class LaunchLayout:
    """Where a job trains: ``nproc_per_node`` processes (one per GPU) on each of ``nnodes`` machines.
    On several nodes they meet at a c10d rendezvous on the first node's ``port``; ``rdzv_host`` names
    that node for ``launch.sh`` ('': the script reads it from ``MMSTUDIO_RDZV_HOST``; under SLURM the
    script finds it itself)."""

    nproc_per_node: int = 1
    nnodes: int = 1
    port: int = DEFAULT_PORT
    rdzv_host: str = ""
    slurm: SlurmOptions = field(default_factory=SlurmOptions)

    def __post_init__(self) -> None:
        _count("Processes per node", self.nproc_per_node, 1, 1024)
        _count("Nodes", self.nnodes, 1, 100_000)
        _count("The rendezvous port", self.port, 1, 65535)
        object.__setattr__(self, "rdzv_host", self.rdzv_host.strip())
        if self.rdzv_host and not _HOST.fullmatch(self.rdzv_host):
            raise ValueError(f"The first node {self.rdzv_host!r} is not a host name or address")


@dataclass(frozen=True)
class LaunchPlan:
    """What :func:`plan_launch` made: ``files`` (name -> text) to write to ``folder``, the
    ``command`` ``launch.sh`` runs (one line, to copy), the store as a person may see it, whether the
    scripts read it from ``MMSTUDIO_DB``, and ``warnings``, a sentence each."""

    folder: Path
    job: RunJob
    files: dict[str, str]
    command: str
    store: str
    store_from_env: bool
    warnings: tuple[str, ...]

    def write(self) -> list[Path]:
        """Write the files to :attr:`folder` (made if missing; files of the same names are replaced,
        others left alone); the scripts are executable. Returns their paths."""
        self.folder.mkdir(parents=True, exist_ok=True)
        written = []
        for name, text in self.files.items():
            path = self.folder / name
            path.write_text(text, encoding="utf-8")
            if name != JOB_FILE:
                path.chmod(0o755)
            written.append(path)
        return written


def default_launch_folder(job: RunJob) -> Path:
    """A new folder for ``job``'s launch files: ``<data folder>/launch/<name>-<date-time>``."""
    return paths.data_dir() / "launch" / f"{_slug(job.name or 'run')}-{time.strftime('%Y%m%d-%H%M%S')}"


def plan_launch(job: RunJob, db_url: str, layout: LaunchLayout, folder: str | os.PathLike[str]) -> LaunchPlan:
    """The launch files of ``job`` for ``layout``, to be written to ``folder`` (made absolute), training
    into the store ``db_url``. Raises ``ValueError`` with a sentence for the user for a job that cannot
    be launched this way or a store that is not a URL."""
    if job.resume_run_id is not None:
        raise ValueError(
            f"Resuming run {job.resume_run_id} is not exported: resume it with "
            f"'mmstudio train --resume {job.resume_run_id}'"
        )
    folder = Path(os.path.abspath(os.path.expanduser(folder)))
    store = _Store.parse(db_url)
    given_path = job.dataset.path
    path = given_path if os.path.isabs(given_path) else os.path.abspath(os.path.expanduser(given_path))
    job = dataclasses.replace(job, db_url=None, dataset=dataclasses.replace(job.dataset, path=path))
    job_text = job.to_json() + "\n"
    job_file = str(folder / JOB_FILE)
    mmstudio = ["-m", "mmstudio", *store.args, "train", job_file]
    rdzv_id = "mmstudio-" + hashlib.sha256(job_text.encode()).hexdigest()[:10]
    port = layout.port
    # The command to copy names the first node, or reads it as launch.sh does (where the variable wins).
    host = layout.rdzv_host or _Raw(f'"${RDZV_HOST_ENV}"')
    command = _torchrun(layout, mmstudio, rdzv_id, _Raw(f"{_word(host)}:{port}"))
    launch = _torchrun(layout, mmstudio, rdzv_id, _Raw(f'"$rdzv_host":{port}'))
    srun = _torchrun(
        layout, mmstudio, _Raw('"$SLURM_JOB_ID"'), _Raw(f'"$head":{port}'), nnodes=_Raw('"$SLURM_NNODES"')
    )
    # srun starts one torchrun per node (--ntasks-per-node=1), with the CPUs the job asked for each.
    cpus = layout.slurm.cpus_per_task
    srun[0] = ["srun", *(["--cpus-per-task", str(cpus)] if cpus else []), *srun[0]]
    about = _About(job, store, layout, job_file)
    files = {
        JOB_FILE: job_text,
        LAUNCH_FILE: _launch_script(about, launch),
        SBATCH_FILE: _sbatch_script(about, srun, folder),
    }
    return LaunchPlan(
        folder=folder,
        job=job,
        files=files,
        command=_line(command),
        store=store.shown,
        store_from_env=store.from_env,
        warnings=tuple(_warnings(job, store, layout, given_path=given_path, folder=folder)),
    )


def _torchrun(
    layout: LaunchLayout, mmstudio: list[str], rdzv_id: str, endpoint: str, *, nnodes: str | None = None
) -> list[list[str]]:
    """The torchrun command's words, an option and its value in a chunk: ``--standalone`` on one node,
    else a c10d rendezvous at ``endpoint`` (``nnodes``: the number of nodes as the script says it)."""
    if layout.nnodes == 1:
        where = [["--standalone"]]
    else:
        where = [
            ["--nnodes", nnodes or str(layout.nnodes)],
            ["--rdzv-id", rdzv_id],
            ["--rdzv-backend", "c10d"],
            ["--rdzv-endpoint", endpoint],
        ]
    return [["torchrun"], *where[:1], ["--nproc-per-node", str(layout.nproc_per_node)], *where[1:], mmstudio]


# --- the store ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Store:
    url: str
    shown: str  # the password as ***
    backend: str
    from_env: bool  # a password: the scripts read the URL from MMSTUDIO_DB
    example: str = ""  # the URL with PASSWORD in place of the password, for the scripts' comment

    @property
    def args(self) -> list[str]:
        return [] if self.from_env else ["--db", self.url]

    @classmethod
    def parse(cls, text: str) -> _Store:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        text = text.strip()
        if not text:
            raise ValueError("Say which store the runs go to: a database URL such as postgresql://host/runs")
        if "://" not in text:
            if not os.path.isabs(os.path.expanduser(text)):
                raise ValueError(f"The store {text!r} is neither a database URL nor an absolute path")
            text = f"sqlite:///{os.path.expanduser(text)}"
        if "\n" in text or "\r" in text:
            raise ValueError("The store's URL spans lines; give it on one line")
        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            shown = re.sub(r"(//[^/@:]*:)[^@/]*@", r"\1***@", text)  # no password, even in a bad URL
            raise ValueError(f"The store {shown!r} is not a database URL") from None
        backend = url.get_backend_name()
        if backend == "sqlite" and (not url.database or url.database == ":memory:"):
            raise ValueError(f"The store {text!r} names no file: the runs would be lost when training ends")
        if backend == "sqlite" and not url.database.startswith("file:") and not os.path.isabs(url.database):
            raise ValueError(f"The SQLite store {text!r} is a relative path: give the file's absolute path")
        in_query = {k: "PASSWORD" for k in url.query if k.lower() == "password"}  # ?password=...
        secret = url.password is not None or bool(in_query)
        masked = url.update_query_dict(in_query) if in_query else url
        masked = masked.set(password="PASSWORD") if url.password is not None else masked
        example = masked.render_as_string(hide_password=False)  # the scripts' comment: export ...=
        shown = example.replace("PASSWORD", "***") if secret else example
        return cls(text, shown, backend, secret, example)


# --- the scripts -----------------------------------------------------------------------------------------


class _Raw(str):
    """A word the script writes as it is (it expands a variable), instead of quoting it."""


def _word(word: str) -> str:
    return str(word) if isinstance(word, _Raw) else shlex.quote(word)


def _line(chunks: list[list[str]]) -> str:
    return " ".join(_word(w) for chunk in chunks for w in chunk)


def _lines(chunks: list[list[str]]) -> str:
    """The command over several lines (an option and its value on each), ending with ``"$@"``."""
    lines = [" ".join(_word(w) for w in chunk) for chunk in chunks]
    return " \\\n    ".join(lines) + ' "$@"\n'


def _comment(text: str) -> list[str]:
    """``text`` as comment lines of at most 100 characters (a long word, a path, stays whole)."""
    return textwrap.wrap(
        " ".join(text.split()),
        98,
        initial_indent="# ",
        subsequent_indent="# ",
        break_long_words=False,
        break_on_hyphens=False,
    )


@dataclass(frozen=True)
class _About:
    """What both scripts say about the job in their comments."""

    job: RunJob
    store: _Store
    layout: LaunchLayout
    job_file: str

    def header(self, what: str, usage: str) -> list[str]:
        return [
            *_comment(f"{what}. {usage}"),
            *_comment(f"Written by mmstudio {__version__} (the Train page's Export launch command)."),
            "#",
            *_comment(f"The job: {self.job.title}. Its spec: {self.job_file}."),
            *_comment(f"The dataset: {self.job.dataset.path} (every node reads it at this path)."),
            *_comment(f"The store: {self.store.shown} (rank 0 records the run in it)."),
            *_comment(
                "Checkpoints go to mmstudio's data folder on the machine of rank 0; MMSTUDIO_HOME set to a "
                "shared folder keeps them where every machine sees them."
            ),
        ]

    def store_lines(self, *, sbatch: bool) -> list[str]:
        if not self.store.from_env:
            return []
        where = "before sbatch (it passes your environment to the job)" if sbatch else "before running this"
        return [
            *_comment(
                f"The store's URL holds a password, so it is not written in these files: mmstudio reads it "
                f"from {DB_ENV}, which you set {where}, e.g."
            ),
            f"#   export {DB_ENV}={shlex.quote(self.store.example)}",
            f': "${{{DB_ENV}:?set {DB_ENV} to the store URL, see the comment above}}"',
        ]


def _launch_script(about: _About, words: list[list[str]]) -> str:
    layout, port = about.layout, about.layout.port
    each = _processes(layout.nproc_per_node)
    if layout.nnodes == 1:
        lines = about.header(
            f"Trains on this machine with {each}", "Run: bash launch.sh [mmstudio train options]"
        )
    else:
        lines = about.header(
            f"Trains on {layout.nnodes} machines with {each} each",
            "Run on each of them: bash launch.sh [mmstudio train options]",
        )
    lines += ["", "set -eu", *about.store_lines(sbatch=False)]
    if layout.nnodes > 1 and layout.rdzv_host:
        lines += [
            *_comment(f"The machines meet at the first one, port {port} ({RDZV_HOST_ENV} names another)."),
            f"rdzv_host=${{{RDZV_HOST_ENV}:-{layout.rdzv_host}}}",
        ]
    elif layout.nnodes > 1:
        lines += [
            *_comment(
                f"The machines meet at the first one, port {port}: set {RDZV_HOST_ENV} to its host name."
            ),
            f'rdzv_host="${{{RDZV_HOST_ENV}:?set {RDZV_HOST_ENV} to the host name of the first machine}}"',
        ]
    return "\n".join(["#!/usr/bin/env bash", *lines, _lines(words)])


def _sbatch_script(about: _About, words: list[list[str]], folder: Path) -> str:
    layout, slurm = about.layout, about.layout.slurm
    name = _slug(about.job.name or "train")
    options = [
        f"--job-name=mmstudio-{name}",
        f"--nodes={layout.nnodes}",
        "--ntasks-per-node=1",  # one torchrun per node; it starts the node's processes
    ]
    if slurm.gpus_per_node:
        options.append(f"--gpus-per-node={slurm.gpus_per_node}")
    if slurm.cpus_per_task:
        options.append(f"--cpus-per-task={slurm.cpus_per_task}")
    for option, value in (("time", slurm.time), ("partition", slurm.partition), ("account", slurm.account)):
        if value:
            options.append(f"--{option}={value}")
    if _PLAIN_PATH.fullmatch(str(folder)):  # #SBATCH lines are not shell: no quoting, so no odd paths
        options.append(f"--output={folder}/slurm-%j.out")
    each = _processes(layout.nproc_per_node)
    where = "1 node" if layout.nnodes == 1 else f"{layout.nnodes} nodes with {each} each"
    lines = about.header(
        f"Trains under SLURM on {where}" + (f" with {each}" if layout.nnodes == 1 else ""),
        "Submit: sbatch slurm.sbatch [mmstudio train options]",
    )
    lines += ["", "set -eu", *about.store_lines(sbatch=True)]
    if layout.nnodes > 1:
        lines += [
            *_comment(f"The nodes meet at the job's first node, port {layout.port}."),
            'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
        ]
    return "\n".join(["#!/bin/bash", *(f"#SBATCH {option}" for option in options), *lines, _lines(words)])


def _slug(name: str) -> str:
    """``name`` as a file or SLURM job name: letters, digits, ``_ . -``, at most 40 of them."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:40] or "run"


def _processes(n: int) -> str:
    return "1 process" if n == 1 else f"{n} processes"


# --- warnings ----------------------------------------------------------------------------------------


def _warnings(
    job: RunJob, store: _Store, layout: LaunchLayout, *, given_path: str, folder: Path
) -> list[str]:
    """What may go wrong on the cluster, a sentence each, for the dialog to show before exporting."""
    said = []
    if store.backend == "sqlite":
        if layout.nnodes > 1:
            said.append(
                f"The store is a SQLite file and the job spans {layout.nnodes} nodes: a SQLite file on a "
                "shared filesystem is unsafe (its locks do not hold over NFS). Use a PostgreSQL store; "
                "'mmstudio db copy' moves the runs you have into it."
            )
        else:
            said.append(
                "The store is a SQLite file: right for launch.sh on this machine, but a cluster node "
                "(slurm.sbatch) would write it over a shared filesystem, which is unsafe. Use a PostgreSQL "
                "store there; 'mmstudio db copy' moves the runs you have into it."
            )
    path = job.dataset.path
    if path != given_path:
        said.append(f"The dataset's path {given_path} is written as {path}, so every node finds it.")
    if _looks_local(path):
        said.append(
            f"The dataset is in {path}, a folder that looks local to this machine: every node reads it at "
            "that path, so copy it to a shared filesystem first."
        )
    if _looks_local(f"{folder}/"):
        said.append(
            f"The launch folder {folder} looks local to this machine: the nodes read {JOB_FILE} from it, so "
            "choose a folder on a shared filesystem."
        )
    device = job.train.device
    gpus = layout.slurm.gpus_per_node
    if device == "mps":
        said.append(
            "The device is Apple MPS, which has no distributed backend: choose auto or cuda for the cluster."
        )
    elif device == "cpu" and gpus:
        said.append(
            f"The device is the CPU (Gloo) but the SLURM job asks for {gpus} GPUs per node, which would sit "
            "idle: choose auto or cuda, or ask for no GPUs."
        )
    if device != "cpu" and gpus and layout.nproc_per_node > gpus:
        said.append(
            f"{_processes(layout.nproc_per_node).capitalize()} per node but {gpus} GPUs: NCCL needs one GPU "
            "per process; ask for as many GPUs as processes."
        )
    processes = layout.nproc_per_node * layout.nnodes
    if job.train.batch_size < processes:
        said.append(
            f"The batch size ({job.train.batch_size}) is the global batch, shared by the {processes} "
            f"processes: 'mmstudio train' refuses less than {processes}; raise it (or pass --batch-size)."
        )
    pretrained = _pretrained(job.model)
    if pretrained:
        said.append(
            f"The model starts from pretrained weights ({', '.join(pretrained)}) and training never "
            "downloads: fetch them on the cluster first ('mmstudio models pull')."
        )
    return said


def _looks_local(path: str) -> bool:
    """Whether ``path`` is in a folder that is one machine's own (temporary files, a mounted volume, a
    Windows drive)."""
    return path.startswith(LOCAL_PREFIXES) or re.match(r"[A-Za-z]:[\\/]", path) is not None


def _pretrained(model: dict) -> list[str]:
    names = []
    for slot in ("text_encoder", "image_encoder"):
        component = model.get(slot)
        if not isinstance(component, dict):
            continue
        if component.get("name") == "hf" and component.get("model"):
            names.append(f"hf:{component['model']}")
        elif component.get("pretrained"):
            names.append(str(component.get("name")))
    return names
