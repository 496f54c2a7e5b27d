"""``coco``: COCO captions JSON (``images[]`` with ``id`` + ``file_name``, ``annotations[]`` with
``image_id`` + ``caption``).

One record per caption; ``group`` is the image id, so every caption of an image lands in the same split.
No labels: a retrieval (contrastive) task. Images are looked for beside the JSON, in an ``images/``
folder, or in the folder the file name points to (``annotations/captions_train2017.json`` →
``train2017/``). Several caption files whose names say their split (``captions_train2017.json``,
``captions_val2017.json``) are read together, each as its split.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mmstudio.data._common import (
    SPLIT_FILE_NAME,
    Detection,
    list_dir,
    list_names,
    relpath,
    sniff_json,
    splits_from_names,
)
from mmstudio.data.formats import FormatReader, check_fixed_roles
from mmstudio.data.formats._table import decode_text, parse_json_document, read_data_file
from mmstudio.data.types import ColumnRoles, DatasetFormatError, DatasetSource, Problem, ProblemKind, Record

ROLES = ColumnRoles(image="images[].file_name", text="annotations[].caption")
_NOT_CAPTIONS = re.compile(r"instances|keypoints|panoptic|stuff|person")


def locate(path: Path) -> Detection | None:
    if path.is_file():
        if path.suffix.lower() != ".json" or sniff_json(path) != "coco":
            return None
        reason = f"{path.name}: a COCO captions file (images[] and annotations[])"
        return Detection("coco", reason, _root(path), [path])
    files = caption_files(path)
    if not files:
        return None
    others = []
    if len(files) > 1 and splits_from_names(files) is None:
        files, others = files[:1], files[1:]
    names = list_names(relpath(f, path) for f in files)
    reason = f"folder with COCO captions JSON ({names}): coco"
    if others:
        reason += (
            f" (not read: {list_names(relpath(f, path) for f in others)}; give a file's path to read it)"
        )
    return Detection("coco", reason, path, files)


def caption_files(folder: Path) -> list[Path]:
    """COCO caption files at the top of ``folder`` or in its ``annotations/`` folder."""
    out = []
    for where in (folder, folder / "annotations"):
        for f in list_dir(where)[1] if where.is_dir() else []:
            if f.suffix.lower() != ".json" or _NOT_CAPTIONS.search(f.name.lower()):
                continue
            if sniff_json(f) == "coco":
                out.append(f)
    return out


def _root(json_path: Path) -> Path:
    folder = json_path.parent
    return folder.parent if folder.name.lower() == "annotations" else folder


def read(detection: Detection, columns: ColumnRoles | None = None, *, cancel=None) -> DatasetSource:
    split_of = splits_from_names(detection.paths) or {}
    roles = ColumnRoles(image=ROLES.image, text=ROLES.text, split=SPLIT_FILE_NAME if split_of else None)
    check_fixed_roles(columns, roles, "coco")
    loaded = [(p, _load(p, detection.contain(p))) for p in detection.paths]
    image_dirs = {p: _image_dir(p, data) for p, data in loaded}
    root = Path(os.path.commonpath([str(detection.root), *map(str, image_dirs.values())]))
    records: list[Record] = []
    problems: list[Problem] = []
    for path, data in loaded:
        _read_file(path, data, image_dirs[path], root, split_of.get(path), records, problems)
    folders = list_names(sorted({relpath(d, root) for d in image_dirs.values()}))
    return DatasetSource(
        format="coco",
        root=root,
        reason=f"{detection.reason}; images in {folders}",
        columns=roles,
        records=records,
        available_columns=[ROLES.image, ROLES.text],
        files=list(detection.paths),
        problems=problems,
        task="retrieval",
    )


def _load(path: Path, root: Path | None = None) -> dict:
    data = parse_json_document(decode_text(read_data_file(path, root), path), path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetFormatError(f"{path} is not a COCO file: it has no images[] list")
    annotations = data.get("annotations")
    if not isinstance(annotations, list):
        raise DatasetFormatError(f"{path} is not a COCO captions file: it has no annotations[] list")
    if annotations and not any(isinstance(a, dict) and "caption" in a for a in annotations):
        raise DatasetFormatError(
            f"{path} has no captions: it looks like a COCO instances / keypoints file. mmstudio needs the "
            f"captions file (captions_*.json)"
        )
    return data


def _image_dir(path: Path, data: dict) -> Path:
    """The folder the ``file_name`` of most sampled images exists in (the JSON's folder when none)."""
    names = [n for i in data["images"][:50] if isinstance(i, dict) and _usable_name(n := i.get("file_name"))]
    folder, root = path.parent, _root(path)
    stem = re.sub(r"^captions?_", "", path.stem, flags=re.IGNORECASE)
    candidates = [
        folder,
        folder / "images",
        root / "images",
        root / stem,
        folder / stem,
        root / "images" / stem,
    ]
    candidates.append(root)
    for candidate in dict.fromkeys(candidates):
        if names and sum((candidate / n).is_file() for n in names) * 2 >= len(names):
            return candidate
    return folder


def _usable_name(value: object) -> bool:
    return isinstance(value, str) and bool(value) and "\x00" not in value


def _id_text(value: object) -> str | None:
    """An image id as the report writes it; None for an id that is no number or string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return str(value)


def _json_kind(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _images(path, data, source, problems) -> tuple[dict, dict]:
    """``{image id: file name}`` of the usable ``images[]`` entries, and ``{id: why}`` for the ids whose
    captions cannot be paired: an entry whose file name is not a string, an id two entries with
    different files share (which image a caption is of cannot be known)."""
    files: dict[object, str] = {}
    broken: dict[object, str] = {}
    for number, image in enumerate(data["images"], 1):
        where = f"{source} images[{number - 1}]"
        if not isinstance(image, dict) or "id" not in image:
            continue
        image_id, name = image["id"], image.get("file_name")
        if _id_text(image_id) is None:
            message = f"{where} has an id that is {_json_kind(image_id)}; an id is a number or a string"
            problems.append(_malformed(None, None, message, source))
            continue
        if not _usable_name(name):
            what = "no file_name" if name is None else f"a file_name that is {_json_kind(name)}"
            if isinstance(name, str):
                what = "an empty file_name" if not name else "a file_name with a NUL byte"
            broken.setdefault(image_id, f"images[{number - 1}] (id {image_id}) has {what}")
            problems.append(_malformed(None, None, f"{where} has {what}; give it the image's path", source))
            continue
        known = files.get(image_id)
        if known is not None and known != name:
            message = (
                f"{where}: image id {image_id} is given to two images, {known} and {name}; the captions "
                f"of id {image_id} cannot be paired with either. Give each image its own id"
            )
            problems.append(_malformed(None, name, message, source))
            broken[image_id] = f"image id {image_id} is given to two images ({known} and {name})"
            continue
        files[image_id] = name
    for image_id in broken:
        files.pop(image_id, None)
    return files, broken


def _read_file(path, data, image_dir, root, split, records, problems) -> None:
    source = relpath(path, root)
    files, broken = _images(path, data, source, problems)
    for number, ann in enumerate(data["annotations"], 1):
        where = f"{source} annotation {number}"
        if not isinstance(ann, dict) or "image_id" not in ann:
            problems.append(_malformed(number, None, f"{where} has no image_id; fix or remove it", source))
            continue
        image_id = ann["image_id"]
        if _id_text(image_id) is None:
            message = f"{where} has an image_id that is {_json_kind(image_id)}; it must be an image's id"
            problems.append(_malformed(number, None, message, source))
            continue
        if image_id in broken:
            message = f"{where} refers to image_id {image_id}, which cannot be used: {broken[image_id]}"
            problems.append(_malformed(number, None, message, source))
            continue
        if image_id not in files:
            message = (
                f"{where} refers to image_id {image_id}, which is not in images[]; "
                f"add the image or remove the caption"
            )
            problems.append(_malformed(number, None, message, source))
            continue
        caption = ann.get("caption")
        if caption is not None and not isinstance(caption, str):
            message = f"{where}: the caption is not a string"
            problems.append(_malformed(number, files[image_id], message, source))
            continue
        image = relpath(image_dir / files[image_id], root)
        records.append(Record(number, source, image, caption, None, split, str(image_id)))


def _malformed(row: int | None, path: str | None, message: str, source: str) -> Problem:
    return Problem(ProblemKind.MALFORMED_ROW, row, path, message, True, source)


READER = FormatReader(
    name="coco",
    title="COCO captions",
    looks_for="a COCO captions .json",
    expects="a COCO captions .json file (images[] and annotations[] with captions), or a folder with one",
    locate=locate,
    read=read,
    suffixes=(".json",),
    folder_rank=20,
    file_rank=30,
)
