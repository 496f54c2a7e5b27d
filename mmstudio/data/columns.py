"""Which column holds the image, the text, the label and the split: guessed, or given by the user.

Names decide first (``caption`` is text, ``file_name`` is the image); when no name decides, the values
do (paths with image extensions, long strings with spaces, few distinct values, split names). A role
that was guessed from values, or that several columns could play, makes the guess *uncertain* and the
GUI asks the user to confirm it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mmstudio.data._common import IMAGE_EXTENSIONS, list_names, normalize_split
from mmstudio.data.types import ColumnRoles, ColumnsUnknown, DatasetFormatError

ROLES = ("image", "text", "label", "split")

# Exact (normalised) names for each role, the most telling first.
ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "image": (
        "image", "image_path", "img", "img_path", "file_name", "filename", "image_file", "image_filename",
        "image_name", "img_name", "imagepath", "imgpath", "filepath", "file_path", "file", "path",
        "images", "picture", "photo", "img_file",
    ),
    "text": (
        "text", "caption", "captions", "sentence", "description", "title", "prompt", "alt_text", "content",
        "body", "review", "comment", "tweet", "utterance", "summary", "query", "question", "abstract",
    ),
    "label": (
        "label", "labels", "class", "class_name", "classname", "category", "target", "y", "label_name",
        "class_label", "tag", "sentiment",
    ),
    "split": ("split", "subset", "fold", "set", "partition", "dataset_split", "stage"),
}  # fmt: skip

# Words that mark a role inside a longer name (``caption_en``, ``product_title``); confirmed by values.
ROLE_WORDS: dict[str, frozenset[str]] = {
    "image": frozenset({"image", "img", "file", "filename", "path", "photo", "picture"}),
    "text": frozenset({"text", "caption", "sentence", "description", "title", "prompt"}),
    "label": frozenset({"label", "class", "category", "target"}),
    "split": frozenset({"split", "subset", "fold", "partition"}),
}

# Columns that are never labels however few values they have.
NOT_LABELS = frozenset(
    {"id", "idx", "index", "key", "width", "height", "w", "h", "size", "url", "md5", "sha1", "sha256", "hash",
     "license", "author", "date", "time", "timestamp", "created", "source", "score", "length"}
)  # fmt: skip


@dataclass(frozen=True)
class RoleGuess:
    """Guessed roles; ``how`` says per role whether it came from ``given``, a ``name`` or the ``values``."""

    roles: ColumnRoles
    certain: bool
    how: dict[str, str]


def normalize_name(name: str) -> str:
    """``"Image Path"``, ``"imagePath"`` and ``"image-path"`` all become ``"image_path"``."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip())
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def guess_roles(
    columns: Sequence[str], sample: Sequence[Mapping[str, object]], roles: Sequence[str] = ROLES
) -> RoleGuess:
    """Guess the role of each column from its name, else from the values in ``sample`` (a few rows).

    Only ``roles`` are guessed (the others are left ``None``).
    """
    found: dict[str, str] = {}
    how: dict[str, str] = {}
    certain = True
    for role in roles:  # 1. exact names
        matches = [c for c in columns if c not in found.values() and normalize_name(c) in ROLE_NAMES[role]]
        if matches:
            matches.sort(key=lambda c: ROLE_NAMES[role].index(normalize_name(c)))
            found[role], how[role] = matches[0], "name"
            certain = certain and len(matches) == 1
    for role in roles:  # 2. a role word inside a longer name, when the values agree
        if role in found:
            continue
        free = [c for c in columns if c not in found.values()]
        matches = [c for c in free if _has_role_word(c, role) and _values_fit(role, _values(sample, c))]
        if matches:
            found[role], how[role] = matches[0], "name"
            certain = certain and len(matches) == 1
    for role in ("image", "split", "text", "label"):  # 3. values alone
        if role in found or role not in roles:
            continue
        free = [c for c in columns if c not in found.values()]
        column = _guess_from_values(role, free, sample)
        if column is not None:
            found[role], how[role] = column, "values"
            certain = False
    return RoleGuess(ColumnRoles(**found), certain, how)


def resolve_roles(
    columns: Sequence[str],
    sample: Sequence[Mapping[str, object]],
    given: ColumnRoles | None,
    where: str,
    *,
    require_text: bool = True,
) -> RoleGuess:
    """The caller's roles where given (``""`` means "no such column"), guesses for the rest.

    Raises :class:`DatasetFormatError` when a given column does not exist, and its
    :class:`ColumnsUnknown` when no column can be found for the image (or the text, with
    ``require_text``).
    """
    given_map = given.to_dict() if given is not None else {}
    for role, name in given_map.items():
        if name and name not in columns:
            raise DatasetFormatError(
                f"column '{name}' (chosen as the {role} column) is not in {where}; "
                f"available columns: {list_names(columns)}"
            )
    chosen = {role: name for role, name in given_map.items() if name is not None}
    taken = {name for name in chosen.values() if name}
    wanted = [r for r in ROLES if r not in chosen]
    guess = guess_roles([c for c in columns if c not in taken], sample, wanted)
    roles = {r: (chosen[r] or None) if r in chosen else getattr(guess.roles, r) for r in ROLES}
    how = {**guess.how, **{r: "given" for r in chosen}}
    result = RoleGuess(ColumnRoles(**roles), guess.certain, how)
    _require(result.roles, columns, where, require_text)
    return result


def _require(roles: ColumnRoles, columns: Sequence[str], where: str, require_text: bool) -> None:
    missing = [r for r in (("image", "text") if require_text else ("image",)) if getattr(roles, r) is None]
    if not missing:
        return
    what = {"image": "the image paths", "text": "the text (captions)"}
    raise ColumnsUnknown(
        f"could not tell which column of {where} holds {' or '.join(what[r] for r in missing)} "
        f"(columns: {list_names(columns)}). Rename the column to '{missing[0]}' or choose the column "
        f"roles explicitly ({missing[0]}=COLUMN)"
    )


def _has_role_word(column: str, role: str) -> bool:
    return bool(set(normalize_name(column).split("_")) & ROLE_WORDS[role])


def _values(sample: Sequence[Mapping[str, object]], column: str) -> list[str]:
    out = []
    for row in sample:
        v = row.get(column)
        if v is None or isinstance(v, dict | list):
            continue
        s = str(v).strip()
        if s:
            out.append(s)
    return out


def _looks_like_image(value: str) -> bool:
    return any(value.lower().endswith(ext) for ext in IMAGE_EXTENSIONS)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _values_fit(role: str, values: list[str]) -> bool:
    if not values:
        return False
    if role == "image":
        return sum(_looks_like_image(v) or "/" in v for v in values) >= len(values) / 2
    if role == "text":
        return not all(_is_number(v) for v in values)
    if role == "split":
        return all(normalize_split(v) for v in values)
    return len(set(values)) <= max(1, len(values) // 2) or len(values) < 5


def _guess_from_values(role: str, free: list[str], sample: Sequence[Mapping[str, object]]) -> str | None:
    scored = []
    for column in free:
        values = _values(sample, column)
        if not values:
            continue
        score = _value_score(role, column, values)
        if score is not None:
            scored.append((score, column))
    if not scored:
        return None
    if role == "label" and len(scored) > 1:
        return None  # several columns could be the label: better none than a wrong one (the GUI asks)
    return max(scored, key=lambda t: t[0])[1]


def _value_score(role: str, column: str, values: list[str]) -> float | None:
    n = len(values)
    if role == "image":
        share = sum(_looks_like_image(v) for v in values) / n
        return share if share >= 0.8 else None
    if role == "split":
        return 1.0 if all(normalize_split(v) for v in values) else None
    if role == "text":
        mean_len = sum(len(v) for v in values) / n
        spaced = sum(" " in v for v in values) / n
        return mean_len if mean_len >= 12 and spaced >= 0.5 else None
    distinct = len(set(values))
    if normalize_name(column) in NOT_LABELS or n < 4 or distinct < 2:
        return None
    if distinct > max(2, n // 2) or sum(len(v) for v in values) / n > 40:
        return None
    return -distinct
