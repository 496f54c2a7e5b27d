"""``sidecar``: class folders of images, each with its caption in a ``.txt`` file of the same stem.

``<root>/<class>/<stem>.<ext>`` + ``<root>/<class>/<stem>.txt``; the class folder is the label. An
optional split level, ``<root>/{train,val,test}/<class>/...``, gives the splits. Captions are read as
bytes (validation decodes them and reports text that is not UTF-8).
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path

from mmstudio.data._common import (
    CLASS_FOLDER,
    MAX_CAPTION_BYTES,
    SPLIT_FOLDER,
    Detection,
    RefusedFile,
    SafeReader,
    is_hidden,
    is_image_name,
    list_dir,
    list_names,
    normalize_split,
    relpath,
)
from mmstudio.data.formats import FormatReader, check_fixed_roles
from mmstudio.data.types import ColumnRoles, DatasetSource, Problem, ProblemKind, Record
from mmstudio.progress import check_cancel

IMAGE_FILE = "(image file)"
CAPTION_FILE = "(<stem>.txt)"
_MAX_DIRS_PROBED = 200


def locate(path: Path) -> Detection | None:
    if not path.is_dir() or not _has_captioned_image(path):
        return None
    splits, classes, _ = _layout(path)
    shown = list_names(sorted({c.name for c in classes})[:5]) + (", ..." if len(classes) > 5 else "")
    where = f"split folders ({list_names(s for s, _ in splits)}) of " if splits else ""
    reason = f"folder with {where}class folders ({shown}) of images with same-stem .txt captions: sidecar"
    return Detection("sidecar", reason, path, [])


def _has_captioned_image(root: Path) -> bool:
    """Whether some folder within three levels holds an image and its ``<stem>.txt``."""
    queue, probed = deque([(root, 0)]), 0
    while queue and probed < _MAX_DIRS_PROBED:
        folder, depth = queue.popleft()
        probed += 1
        dirs, files = list_dir(folder)
        names = {f.name for f in files}
        if any(is_image_name(f.name) and _caption_name(f.name, names) for f in files):
            return True
        if depth < 3:
            queue.extend((d, depth + 1) for d in dirs)
    return False


def _caption_name(image_name: str, names: set[str]) -> str | None:
    """``001.txt`` beside ``001.jpg`` (or ``001.jpg.txt``, as some captioning tools write)."""
    for name in (os.path.splitext(image_name)[0] + ".txt", image_name + ".txt"):
        if name in names:
            return name
    return None


def _layout(root: Path) -> tuple[list[tuple[str, Path]], list[Path], list[Path]]:
    """(split folders, class folders, top-level folders that are ignored because they are no split)."""
    top = list_dir(root)[0]
    splits = [(normalize_split(d.name), d) for d in top if normalize_split(d.name)]
    if not splits:
        return [], top, []
    classes = [c for _, d in splits for c in list_dir(d)[0]]
    return splits, classes, [d for d in top if not normalize_split(d.name)]


def read(detection: Detection, columns: ColumnRoles | None = None, *, cancel=None) -> DatasetSource:
    root = detection.root
    splits, classes, ignored = _layout(root)
    bases = splits or [(None, root)]
    records: list[Record] = []
    problems: list[Problem] = []
    reader = SafeReader(root)
    for split, base in bases:
        check_cancel(cancel, "dataset loading")
        _read_folder(base, root, split, None, records, problems, cancel, reader)  # images without a class
        for class_dir in list_dir(base)[0]:
            _read_folder(
                class_dir, root, split, class_dir.name, records, problems, cancel, reader, recursive=True
            )
    fixed = ColumnRoles(
        image=IMAGE_FILE,
        text=CAPTION_FILE,
        label=CLASS_FOLDER if classes else None,
        split=SPLIT_FOLDER if splits else None,
    )
    check_fixed_roles(columns, fixed, "sidecar")
    reason = detection.reason
    if ignored:
        reason += f"; folders that are not splits were ignored: {list_names(d.name for d in ignored)}"
    return DatasetSource(
        format="sidecar",
        root=root,
        reason=reason,
        columns=fixed,
        records=records,
        available_columns=[v for v in fixed.to_dict().values() if v],
        files=[],
        problems=problems,
        task="classification" if classes else "retrieval",
    )


def _read_folder(folder, root, split, label, records, problems, cancel, reader, *, recursive=False) -> None:
    walk = os.walk(folder) if recursive else [(str(folder), [], [f.name for f in list_dir(folder)[1]])]
    source = root.name
    for current, dirnames, filenames in walk:
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        check_cancel(cancel, "dataset loading")
        names = {n for n in filenames if not is_hidden(n)}
        for name in sorted(n for n in names if is_image_name(n)):
            row = len(records) + len(problems) + 1
            image = relpath(Path(current, name), root)
            caption = _caption_name(name, names)
            if caption is None:
                stem = os.path.splitext(name)[0]
                problems.append(
                    Problem(
                        ProblemKind.EMPTY_TEXT,
                        row,
                        image,
                        f"{image} has no caption: there is no {stem}.txt beside it. Write the caption in "
                        f"{stem}.txt (UTF-8) or remove the image",
                        True,
                        source,
                    )
                )
                continue
            try:
                text = read_caption(reader, Path(current, caption))
            except RefusedFile as exc:
                kind = ProblemKind.PATH_OUTSIDE_DATASET if exc.kind == "outside" else ProblemKind.EMPTY_TEXT
                message = f"the caption of {image} is refused: {exc}"
                problems.append(Problem(kind, row, image, message, True, source))
                continue
            except OSError as exc:
                problems.append(
                    Problem(
                        ProblemKind.EMPTY_TEXT,
                        row,
                        image,
                        f"the caption file {caption} of {image} cannot be read ({exc.strerror or exc}); "
                        f"check its permissions",
                        True,
                        source,
                    )
                )
                continue
            records.append(Record(row, source, image, text, label, split))


def read_caption(reader: SafeReader, path: Path, limit: int = MAX_CAPTION_BYTES) -> bytes:
    """A caption file's bytes: a regular file inside the dataset, only its first ``limit`` bytes (cut at
    a character boundary; validation then truncates the text and says so)."""
    data = reader.read(path, limit, truncate=True)
    if len(data) == limit:
        data = _whole_characters(data)
    return data


def _whole_characters(data: bytes) -> bytes:
    """UTF-8 ``data`` without the incomplete character a cut may have left at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # a lead byte: keep its character only when all its bytes are there
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


READER = FormatReader(
    name="sidecar",
    title="Class folders with .txt captions",
    looks_for="class folders of images with .txt captions (sidecar)",
    expects="a folder of class folders whose images have a caption in a .txt file of the same stem",
    locate=locate,
    read=read,
    folder_rank=50,  # last: a manifest or an imagefolder may hold images with .txt files too
)
