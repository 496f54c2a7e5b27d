"""A dataset loaded for display: what the Datasets page shows, all computed off the GUI thread.

:func:`load_overview` loads a :class:`~mmstudio.data.spec.DatasetSpec` and sums the dataset up
(:class:`Overview`: the statistics, the search index). When the user may be asked, it gives
:class:`ColumnsNeeded` instead of an error when no column could be told to hold the images or the
text, and a preview of the first rows when the roles were guessed with doubt: the page then shows the
column-mapping dialog. A folder that holds several datasets (manifests whose names do not say their
split) gives :class:`ChoiceNeeded`: the page lists them to choose one. The lines the page's header
shows about a dataset are written here too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mmstudio.data.dataset import Dataset
from mmstudio.data.detect import detect_format
from mmstudio.data.formats import roles_choosable
from mmstudio.data.preview import Preview, read_preview
from mmstudio.data.search import SearchIndex
from mmstudio.data.spec import DatasetSpec
from mmstudio.data.stats import DatasetStats, dataset_stats
from mmstudio.data.types import SPLITS, ColumnRoles, ColumnsUnknown, DatasetFormatError, SeveralDatasets
from mmstudio.formatting import format_bytes, plural
from mmstudio.progress import TaskState

log = logging.getLogger(__name__)


@dataclass
class Overview:
    """A loaded dataset with everything the page shows about it."""

    dataset: Dataset
    stats: DatasetStats
    index: SearchIndex
    preview: Preview | None = None  # the first rows, when the column roles were guessed with doubt


@dataclass
class ColumnsNeeded:
    """The columns could not be told apart: the user has to choose them."""

    format: str
    preview: Preview
    roles: ColumnRoles  # the roles that could be guessed
    message: str  # why the load failed


@dataclass
class ChoiceNeeded:
    """The path is a folder of several datasets: the user has to choose one of ``choices``."""

    folder: Path
    choices: list[Path]
    message: str  # why the load failed, naming the files


def overview(dataset: Dataset) -> Overview:
    """Sum ``dataset`` up: its statistics and its search index (and its labels, which pages ask for)."""
    dataset.labels  # noqa: B018 - computed here, once: the pages ask for it when the dataset lands
    return Overview(dataset, dataset_stats(dataset.items), SearchIndex.of(dataset.items))


def load_overview(
    spec: DatasetSpec, *, ask_columns: bool = False, state: TaskState | None = None
) -> Overview | ColumnsNeeded | ChoiceNeeded:
    """Load ``spec`` and sum it up. ``state`` hears what is being done ("Checking 1,200 images") and
    cancels the load.

    ``ask_columns``: a person is there to answer. Then a folder of several datasets gives
    :class:`ChoiceNeeded` instead of an error; and (with no roles in the spec) a dataset whose image or
    text column cannot be told gives :class:`ColumnsNeeded`, and one whose roles were guessed with
    doubt comes with a preview of its first rows.
    """
    state = state if state is not None else TaskState()

    def progress(done: int, total: int) -> None:
        if not state.message.startswith("Checking"):
            state.message = f"Checking {plural(total, 'image')}"
        state.progress(done, total)

    ask = ask_columns and spec.columns is None
    state.set_message("Reading the dataset")
    try:
        dataset = spec.load(progress=progress, cancel=state)
    except ColumnsUnknown as exc:
        needed = columns_needed(spec, str(exc)) if ask else None
        if needed is None:
            raise
        return needed
    except SeveralDatasets as exc:
        if not ask_columns:
            raise
        return ChoiceNeeded(exc.folder, exc.choices, str(exc))
    state.set_message("Summarising")
    result = overview(dataset)
    if ask and not dataset.source.roles_certain and roles_choosable(dataset.format):
        try:
            result.preview = read_preview(dataset.format, dataset.source.files)
        except (DatasetFormatError, OSError, ValueError):
            log.warning("no column preview for %s", spec.path, exc_info=True)
    return result


def columns_needed(spec: DatasetSpec, message: str) -> ColumnsNeeded | None:
    """What the user needs to choose the columns of ``spec``'s dataset, whose load failed with
    ``message``; None when its first rows cannot be read, or they tell the image and text columns."""
    from mmstudio.data.columns import guess_roles

    try:
        detection = detect_format(spec.path, spec.format)
        preview = read_preview(detection.format, detection.paths)
    except (DatasetFormatError, OSError, ValueError):
        return None
    if not preview.columns:
        return None
    guess = guess_roles(preview.columns, preview.rows)
    if guess.roles.image and guess.roles.text:
        return None  # the columns are not what failed
    return ColumnsNeeded(detection.format, preview, guess.roles, message)


# --- what the page's header says ---------------------------------------------------------------


def display_name(path: str | os.PathLike, dataset: Dataset | None = None) -> str:
    """The dataset's name: its folder's (or, before it is loaded, the last part of its path)."""
    if dataset is not None:
        return dataset.root.name or str(dataset.root)
    text = os.fspath(path)
    return Path(text).name or text


def summary_line(dataset: Dataset, stats: DatasetStats) -> str:
    """``"1,382 usable pairs, 7 skipped, 2 warnings  ·  6 labels  ·  classification  ·  train 1,100 /
    val 140 / test 142"``."""
    report = dataset.report
    parts = [report.summary() + (f", {plural(report.warnings, 'warning')}" if report.warnings else "")]
    if stats.labels:
        parts.append(plural(len(stats.labels), "label"))
    parts.append("classification" if dataset.task == "classification" else "image–text retrieval")
    parts.append(splits_text(stats.splits))
    return "  ·  ".join(parts)


def choice_prompt(needed: ChoiceNeeded) -> tuple[str, str]:
    """What the dialog that lists a folder's datasets says: the question, and how to name files so
    that they are read together as one dataset's splits."""
    name = needed.folder.name or str(needed.folder)
    prompt = (
        f"The folder {name} holds {plural(len(needed.choices), 'dataset file')} whose names do not each "
        f"say a split. Choose the one to open."
    )
    hint = (
        "Files named for their split (x_train.csv, x_val.csv or x_validation.csv, x_test.csv) are read "
        "together as one dataset with those splits."
    )
    return prompt, hint


def choice_text(path: Path) -> str:
    """One file to choose from: ``"manifest_train.csv  ·  2.1 KiB"``."""
    try:
        return f"{path.name}  ·  {format_bytes(path.stat().st_size)}"
    except OSError:
        return path.name


def splits_text(splits: Mapping[str, int]) -> str:
    """``"train 800 / val 100 / test 100"``."""
    return " / ".join(f"{name} {splits.get(name, 0):,}" for name in SPLITS)


def columns_text(columns: ColumnRoles) -> str:
    """``"Columns: image = path, text = caption"`` (the roles a column plays)."""
    return "Columns: " + ", ".join(f"{role} = {name}" for role, name in columns.to_dict().items() if name)
