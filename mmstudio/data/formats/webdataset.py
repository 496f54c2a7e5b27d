"""``webdataset``: ``.tar`` shards whose members share a key (``a/b/0001.jpg``, ``a/b/0001.txt``, ...).

The key is the member path up to the first dot of its base name, as WebDataset splits it; the rest
is the field (``jpg``, ``txt``, ``cls``, ``json``, ``seg.png``). Each shard's headers are read once,
seeking past the image data (only the small text, label and JSON members are read); images stay in
the shard and are referred to as ``ImageRef(path=shard, member=name)``.

Labels: a ``.cls`` member holds a class id ("5"), a ``.label`` member or the ``.json``'s ``label`` /
``class`` field a name ("people"). The name wins where a sample has one, and the ids the names go
with are kept (:attr:`~mmstudio.data.types.DatasetSource.label_names`), so a sample with only a
``.cls`` is named as the others with that id are; an id named differently by different samples is a
``label_mismatch`` warning on each sample that disagrees with the most common name.
"""

from __future__ import annotations

import glob
import json
import os
import re
import tarfile
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from mmstudio.data._common import (
    SPLIT_FILE_NAME,
    TAR_SUFFIXES,
    Detection,
    RefusedFile,
    SafeReader,
    is_tar_name,
    list_dir,
    list_names,
    normalize_split,
    relpath,
    splits_from_names,
)
from mmstudio.data.formats import FormatReader
from mmstudio.data.formats._table import cell
from mmstudio.data.preview import Preview, cell_text
from mmstudio.data.types import ColumnRoles, DatasetFormatError, DatasetSource, Problem, ProblemKind, Record
from mmstudio.formatting import plural
from mmstudio.progress import check_cancel

IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp", "bmp")
TEXT_FIELDS = ("txt", "caption", "text", "json.text", "json.caption")
LABEL_FIELDS = ("cls", "label", "json.label", "json.class")
ID_FIELD = "cls"  # a class id ("5"): named by the name fields where a sample has both
NAME_FIELDS = ("label", "json.label", "json.class")
_SHOWN_NAMES = 5  # id → name pairs the reason lists
_READ_FIELDS = frozenset({"txt", "caption", "text", "cls", "label", "json"})
_MAX_SMALL_MEMBER = 16 << 20
_KEY = re.compile(r"^((?:.*/|)[^./][^.]*)\.([^/]*)$")
_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


def is_pattern(text: str) -> bool:
    return any(c in text for c in "*?[") or bool(_BRACE.search(text))


def expand_pattern(pattern: str) -> list[Path]:
    """Files matching a glob (``shard-*.tar``) or a brace pattern (``shard-{000..009}.tar``,
    ``{train,val}.tar``), sorted; brace-expanded names that do not exist are left out."""
    found: dict[str, None] = {}
    for name in _expand_braces(os.path.expanduser(pattern)):
        matches = sorted(glob.glob(name)) if any(c in name for c in "*?[") else [name]
        found.update(dict.fromkeys(m for m in matches if os.path.isfile(m)))
    return [Path(m) for m in found]


def _expand_braces(pattern: str) -> list[str]:
    m = _BRACE.search(pattern)
    if m is None:
        return [pattern]
    head, body, tail = pattern[: m.start()], m.group(1), pattern[m.end() :]
    r = _RANGE.match(body)
    if r:
        a, b = r.groups()
        width = len(a) if a.startswith("0") and len(a) > 1 else 0
        step = 1 if int(b) >= int(a) else -1
        choices = [str(i).zfill(width) for i in range(int(a), int(b) + step, step)]
    elif "," in body:
        choices = body.split(",")
    else:
        return [pattern]
    return [out for c in choices for out in _expand_braces(head + c + tail)]


def locate(path: Path) -> Detection | None:
    if path.is_file():
        if not is_tar_name(path.name):
            return None
        return Detection("webdataset", f"{path.name}: a tar shard (WebDataset)", path.parent, [path])
    if not path.is_dir():
        return None
    shards = [f for f in list_dir(path)[1] if is_tar_name(f.name)]
    if shards:
        return Detection("webdataset", f"folder with {_count(shards)}: WebDataset", path, shards)
    split_dirs = [d for d in list_dir(path)[0] if normalize_split(d.name)]
    shards = [f for d in split_dirs for f in list_dir(d)[1] if is_tar_name(f.name)]
    if shards:
        names = list_names(d.name for d in split_dirs)
        reason = f"folder with split folders ({names}) of {_count(shards)}: WebDataset"
        return Detection("webdataset", reason, path, shards)
    return None


def locate_pattern(pattern: str) -> Detection:
    shards = expand_pattern(pattern)
    if not shards:
        raise DatasetFormatError(f"no file matches the pattern {pattern}; check the folder and shard names")
    others = [s.name for s in shards if not is_tar_name(s.name)]
    if others:
        raise DatasetFormatError(
            f"the pattern {pattern} matches files that are not .tar shards ({list_names(others[:5])}); "
            f"patterns are for WebDataset shards"
        )
    root = Path(os.path.commonpath([str(s.parent.absolute()) for s in shards]))
    reason = f"the pattern {pattern} matches {_count(shards)}: WebDataset"
    return Detection("webdataset", reason, root, shards)


def _count(shards: list[Path]) -> str:
    return plural(len(shards), ".tar shard")


def read(detection: Detection, columns: ColumnRoles | None = None, *, cancel=None) -> DatasetSource:
    root = detection.root
    split_of = splits_from_names(detection.paths, root) or {}
    problems: list[Problem] = []
    shards = []
    for shard in detection.paths:
        check_cancel(cancel, "dataset loading")
        samples, problem = scan_shard(shard, relpath(shard, root), detection.contain(shard))
        shards.append((shard, samples))
        if problem is not None:
            problems.append(problem)
    available = _available_fields(shards)
    roles = _roles(columns, available)
    naming = roles.label is None or roles.label in NAME_FIELDS  # names wanted: the ids are mapped
    names = _label_names(shards, roles.label) if naming else LabelNames()
    records = []
    used: dict[str, Counter] = {"image": Counter(), "text": Counter(), "label": Counter()}
    for shard, samples in shards:
        source = relpath(shard, root)
        for row, (key, fields) in enumerate(samples.items(), 1):
            record = _record(
                row, source, shard, key, fields, roles, split_of.get(shard), used, problems, names
            )
            if record is not None:
                records.append(record)
    shown = ColumnRoles(
        image=_most_common(used["image"]),
        text=_most_common(used["text"]),
        label=_most_common(used["label"]),
        split=SPLIT_FILE_NAME if split_of else None,
    )
    return DatasetSource(
        format="webdataset",
        root=root,
        reason=detection.reason + names.reason(),
        columns=shown,
        records=records,
        available_columns=available,
        files=list(detection.paths),
        problems=problems,
        task="classification" if shown.label else "retrieval",
        roles_certain=True,
        label_names=dict(names.of_id),
    )


def scan_shard(
    shard: Path, source: str, root: Path | None = None
) -> tuple[dict[str, dict[str, object]], Problem | None]:
    """The samples of a shard, ``key → {field: value}``: image fields hold the member name, text and
    label fields their bytes, ``json`` the parsed object (or the exception when it is not JSON). What
    was read before a damaged part of the shard is kept, and the damage reported. With ``root``, a
    shard that is (or is in) a link leading out of that folder is refused; a shard that is no regular
    file (a FIFO, a device) is never opened for good."""
    samples: dict[str, dict[str, object]] = {}
    try:
        fd = SafeReader(root).open(shard)
    except RefusedFile as exc:
        message = f"shard {source} is refused: {exc}"
        kind = ProblemKind.PATH_OUTSIDE_DATASET if exc.kind == "outside" else ProblemKind.MALFORMED_ROW
        return samples, Problem(kind, None, source, message, True, source)
    except OSError as exc:
        message = f"shard {source} cannot be opened ({exc.strerror or exc}); check its permissions"
        return samples, Problem(ProblemKind.MALFORMED_ROW, None, source, message, True, source)
    try:
        with os.fdopen(fd, "rb") as f:
            plain = _is_plain_tar(f.read(6))
            f.seek(0)
            with tarfile.open(fileobj=f, mode="r:*") as tar:
                for info in tar:
                    m = _KEY.match(info.name) if info.isfile() else None
                    if m is None:
                        continue
                    key, field = m.group(1), m.group(2).lower()
                    if field in IMAGE_FIELDS:
                        span = (info.offset_data, info.size) if plain else None
                        samples.setdefault(key, {})[field] = _Member(info.name, span)
                    elif field in _READ_FIELDS and info.size <= _MAX_SMALL_MEMBER:
                        member = tar.extractfile(info)
                        data = member.read() if member is not None else b""
                        samples.setdefault(key, {})[field] = _parse_json(data) if field == "json" else data
    except (tarfile.TarError, OSError, EOFError) as exc:
        kept = plural(len(samples), "sample")
        message = (
            f"shard {source} cannot be read to the end ({exc}); the {kept} before the damage "
            f"{'is' if len(samples) == 1 else 'are'} used. Re-create or re-download the shard"
        )
        return samples, Problem(ProblemKind.MALFORMED_ROW, None, source, message, True, source)
    return samples, None


class _Member(NamedTuple):
    """An image member: its name and, in an uncompressed shard, where its bytes are."""

    name: str
    span: tuple[int, int] | None


_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")


def _is_plain_tar(head: bytes) -> bool:
    """True for an uncompressed tar (by its first bytes), whose members can be read by offset (gzip,
    bzip2, xz, zstd: no)."""
    return not any(head.startswith(magic) for magic in _COMPRESSED_MAGIC)


def _parse_json(data: bytes) -> object:
    try:
        return json.loads(data.decode("utf-8", errors="surrogateescape"))
    except (ValueError, RecursionError) as exc:  # not JSON, nested too deep, a number too long
        return exc


def _available_fields(shards) -> list[str]:
    seen: dict[str, None] = {}
    for _, samples in shards:
        for n, fields in enumerate(samples.values()):
            if n >= 1000:
                break
            for field, value in fields.items():
                if field != "json":
                    seen[field] = None
                elif isinstance(value, dict):
                    seen.update(dict.fromkeys(f"json.{k}" for k in value))
    return sorted(seen)


def _roles(columns: ColumnRoles | None, available: list[str]) -> ColumnRoles:
    if columns is None:
        return ColumnRoles()
    for role, name in columns.to_dict().items():
        if name and role != "split" and name not in available:
            raise DatasetFormatError(
                f"field '{name}' (chosen as the {role}) is in no sample of the shards; available fields: "
                f"{list_names(available)}"
            )
    return columns


def _pick(fields: dict, chosen: str | None, preferred: tuple[str, ...]) -> tuple[str, object] | None:
    for name in (chosen,) if chosen else preferred:
        if name.startswith("json."):
            doc = fields.get("json")
            if isinstance(doc, dict) and doc.get(name[5:]) is not None:
                return name, doc[name[5:]]
        elif name in fields:
            return name, fields[name]
    return None


class LabelNames:
    """The names of the ``.cls`` ids: ``of_id`` the most common name of each id; ``counts`` how many
    samples give each id each name (an id with more than one name: the samples disagree); ``field``
    the name field that gives them (``json.label``)."""

    def __init__(self, counts: dict[str, Counter] | None = None, field: str = "") -> None:
        self.counts, self.field = counts or {}, field
        self.of_id = {i: c.most_common(1)[0][0] for i, c in sorted(self.counts.items(), key=_id_order)}

    def reason(self) -> str:
        """``"; labels: the names the samples give the .cls ids (3 → people, 5 → animals)"`` or ``""``."""
        if not self.of_id:
            return ""
        pairs = [f"{i} → {n}" for i, n in list(self.of_id.items())[:_SHOWN_NAMES]]
        more = len(self.of_id) - len(pairs)
        listed = ", ".join(pairs) + (f" and {more:,} more" if more else "")
        return f"; labels: the names the samples give the .cls ids ({listed})"

    def mismatch(self, class_id: str, name: str) -> str | None:
        """What is wrong when a sample names ``class_id`` ``name`` (None: nothing)."""
        usual = self.of_id.get(class_id)
        if usual is None or usual == name:
            return None
        others = self.counts[class_id][usual]
        return (
            f"names its .cls id {class_id} '{name}', where {plural(others, 'other sample')} "
            f"{'names' if others == 1 else 'name'} it '{usual}'; '{name}' is used. Give each id one name"
        )


def _id_order(pair: tuple[str, Counter]) -> tuple[int, int | str]:
    key = pair[0]
    return (0, int(key)) if key.lstrip("-").isdigit() else (1, key)


def _label_names(shards, chosen: str | None) -> LabelNames:
    """Which name the samples that have both give each ``.cls`` id (the name field ``chosen``, or
    the first of :data:`NAME_FIELDS` a sample has)."""
    counts: dict[str, Counter] = {}
    used: Counter = Counter()
    for _, samples in shards:
        for fields in samples.values():
            if ID_FIELD not in fields or isinstance(fields.get("json"), Exception):
                continue
            picked = _pick(fields, chosen, NAME_FIELDS)
            class_id, name = _text(fields[ID_FIELD]), _text(picked[1]) if picked is not None else None
            if class_id and name and name != class_id:
                counts.setdefault(class_id, Counter())[name] += 1
                used[picked[0]] += 1
    return LabelNames(counts, _most_common(used) or "")


def _text(value: object) -> str | None:
    """A label value as text, stripped (None for nothing usable)."""
    value = _scalar(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="surrogateescape")
    return value.strip() or None if isinstance(value, str) else None


def _label(fields: dict, roles: ColumnRoles, names: LabelNames, problem) -> tuple[str, object] | None:
    """The label field used and its value: a chosen field as it is, else a name where the sample
    has one, else its ``.cls`` id under the name the other samples give it (or the id)."""
    if roles.label is not None and roles.label not in NAME_FIELDS:
        return _pick(fields, roles.label, LABEL_FIELDS)
    named = _pick(fields, roles.label, NAME_FIELDS)
    class_id = _text(fields[ID_FIELD]) if ID_FIELD in fields else None
    if named is not None:
        name = _text(named[1])
        if class_id is not None and name is not None and (message := names.mismatch(class_id, name)):
            problem(ProblemKind.LABEL_MISMATCH, message, skipped=False)
        return named
    if class_id is None:
        return None
    if class_id in names.of_id:
        return names.field, names.of_id[class_id]
    return (ID_FIELD, fields[ID_FIELD]) if roles.label is None else None


def _record(row, source, shard, key, fields, roles, split, used, problems, names) -> Record | None:
    def problem(kind: ProblemKind, message: str, skipped: bool = True) -> None:
        problems.append(Problem(kind, row, key, f"sample {key} of {source} {message}", skipped, source))

    if isinstance(fields.get("json"), Exception):
        problem(ProblemKind.MALFORMED_ROW, f"has a .json member that is not JSON ({fields['json']}); fix it")
        return None
    image = _pick(fields, roles.image, IMAGE_FIELDS)
    if image is None:
        wanted = f".{roles.image}" if roles.image else ".jpg, .jpeg, .png, .webp or .bmp"
        problem(ProblemKind.MISSING_IMAGE, f"has no image ({wanted} member); add one or remove the sample")
        return None
    text = _pick(fields, roles.text, TEXT_FIELDS)
    if text is None:
        wanted = roles.text or ".txt, .caption, .text or a text / caption field in its .json"
        problem(ProblemKind.EMPTY_TEXT, f"has no text ({wanted}); add a caption or remove the sample")
        return None
    label = _label(fields, roles, names, problem)
    used["image"][image[0]] += 1
    used["text"][text[0]] += 1
    if label is not None:
        used["label"][label[0]] += 1
    label_value = _scalar(label[1]) if label is not None else None
    if isinstance(label_value, bytes):
        label_value = label_value.decode("utf-8", errors="surrogateescape")
    member = image[1]
    if isinstance(member, _Member):
        return Record(
            row, source, member.name, _scalar(text[1]), label_value, split, None, shard, member.span
        )
    return Record(row, source, str(member), _scalar(text[1]), label_value, split, None, shard)


def _scalar(value: object) -> str | bytes | None:
    """Member bytes as they are (validation decodes them); a JSON value as a string (None for a list
    or an object, which validation reports as missing)."""
    if isinstance(value, bytes):
        return value
    try:
        return cell(value)
    except ValueError:
        return None


def _most_common(counter: Counter) -> str | None:
    return counter.most_common(1)[0][0] if counter else None


def shard_preview(shard: Path, limit: int) -> Preview:
    """The first ``limit`` samples of a shard, one column per member extension (and per key of a
    ``.json`` member); the roles may name any of them but the key."""
    samples, _ = scan_shard(shard, shard.name)
    rows: list[dict[str, str]] = []
    seen: dict[str, None] = {}
    for n, (key, fields) in enumerate(samples.items()):
        if n >= limit:
            break
        row = {"__key__": key}
        for name, value in fields.items():
            if name == "json" and isinstance(value, dict):
                row.update({f"json.{k}": cell_text(v) for k, v in value.items()})
            else:
                row[name] = cell_text(getattr(value, "name", value))
        seen.update(dict.fromkeys(row))
        rows.append(row)
    choices = [c for c in seen if c != "__key__"]
    return Preview(shard.name, list(seen), rows, sorted(choices))


READER = FormatReader(
    name="webdataset",
    title="WebDataset shards",
    looks_for="WebDataset .tar shards",
    expects="a .tar shard, a folder of .tar shards, or a shard pattern (shard-*.tar, shard-{000..009}.tar)",
    locate=locate,
    read=read,
    suffixes=TAR_SUFFIXES,
    folder_rank=30,
    file_rank=20,
    roles_choosable=True,
    preview=shard_preview,
    is_pattern=is_pattern,
    locate_pattern=locate_pattern,
)
