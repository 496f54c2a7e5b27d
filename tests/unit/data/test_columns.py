"""Column-role guessing from names and values, and the roles a caller gives."""

from __future__ import annotations

import pytest

from mmstudio.data.columns import guess_roles, normalize_name, resolve_roles
from mmstudio.data.types import ColumnRoles, DatasetFormatError


def rows(**columns) -> list[dict[str, object]]:
    n = len(next(iter(columns.values())))
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("Image Path", "image_path"),
        ("imagePath", "image_path"),
        ("image-path", "image_path"),
        (" Caption ", "caption"),
    ],
)
def test_normalize_name(name, normal):
    assert normalize_name(name) == normal


@pytest.mark.parametrize(
    ("columns", "roles"),
    [
        (["image", "text", "label", "split"], ColumnRoles("image", "text", "label", "split")),
        (["file_name", "caption", "class"], ColumnRoles("file_name", "caption", "class")),
        (
            ["ImagePath", "Description", "Category", "Fold"],
            ColumnRoles("ImagePath", "Description", "Category", "Fold"),
        ),
        (["filepath", "prompt", "target", "subset"], ColumnRoles("filepath", "prompt", "target", "subset")),
        (["img", "sentence", "y"], ColumnRoles("img", "sentence", "y")),
    ],
)
def test_names_decide(columns, roles):
    guess = guess_roles(columns, [])
    assert guess.roles == roles
    assert guess.certain
    assert set(guess.how.values()) == {"name"}


def test_a_role_word_inside_a_longer_name_needs_values_that_fit():
    sample = rows(
        image_id=[1, 2, 3], photo_file=["a.jpg", "b.jpg", "c.jpg"], caption_en=["a b", "c d", "e f"]
    )
    guess = guess_roles(list(sample[0]), sample)
    assert guess.roles.image == "photo_file"  # image_id holds numbers, not paths
    assert guess.roles.text == "caption_en"


def test_values_decide_when_names_do_not():
    sample = rows(
        a=[f"pics/{i}.jpeg" for i in range(8)],
        b=[f"a longer sentence about picture {i}" for i in range(8)],
        c=["red", "blue"] * 4,
        d=["train", "train", "valid", "test"] * 2,
    )
    guess = guess_roles(["a", "b", "c", "d"], sample)
    assert guess.roles == ColumnRoles(image="a", text="b", label="c", split="d")
    assert not guess.certain
    assert set(guess.how.values()) == {"values"}


def test_no_label_guessed_from_metadata_or_when_several_could_be():
    sample = rows(
        image=[f"{i}.png" for i in range(8)],
        text=[f"some words {i}" for i in range(8)],
        width=[32, 64] * 4,
        height=[32, 64] * 4,
    )
    assert guess_roles(list(sample[0]), sample).roles.label is None
    sample = rows(
        image=[f"{i}.png" for i in range(8)],
        text=[f"some words {i}" for i in range(8)],
        color=["red", "blue"] * 4,
        shade=["light", "dark", "mid", "pale"] * 2,
    )
    assert guess_roles(list(sample[0]), sample).roles.label is None


def test_two_columns_with_text_names_make_the_guess_uncertain():
    guess = guess_roles(["image", "title", "description"], [])
    assert guess.roles.text == "description" and not guess.certain


def test_given_roles_override_guesses():
    sample = rows(image=["a.png"], caption=["x y"], other=["z w"], label=["l"])
    guess = resolve_roles(list(sample[0]), sample, ColumnRoles(text="other"), "data.csv")
    assert guess.roles == ColumnRoles("image", "other", "label", None)
    assert guess.how["text"] == "given"


def test_empty_string_means_no_such_column():
    sample = rows(image=["a.png"], caption=["x y"], label=["l"])
    guess = resolve_roles(list(sample[0]), sample, ColumnRoles(label=""), "data.csv")
    assert guess.roles.label is None


def test_a_given_column_that_does_not_exist_lists_the_columns():
    with pytest.raises(
        DatasetFormatError, match=r"column 'cap' \(chosen as the text column\) is not in data.csv; "
    ):
        resolve_roles(["image", "caption"], [], ColumnRoles(text="cap"), "data.csv")
    with pytest.raises(DatasetFormatError, match="available columns: image, caption"):
        resolve_roles(["image", "caption"], [], ColumnRoles(text="cap"), "data.csv")


def test_no_image_or_text_column_is_explained():
    with pytest.raises(DatasetFormatError, match=r"holds the image paths.*columns: id, name.*image=COLUMN"):
        resolve_roles(["id", "name"], rows(id=[1, 2], name=["x", "y"]), None, "data.csv")
    with pytest.raises(DatasetFormatError, match="holds the text"):
        resolve_roles(["image"], rows(image=["a.png"]), None, "data.csv")


def test_manifest_roles_are_uncertain_when_guessed_from_values(tmp_path, build):
    from mmstudio.data.dataset import read_source

    for i in range(4):
        build.image(tmp_path / f"{i}.png")
    build.csv(tmp_path / "d.csv", ["a", "b"], [[f"{i}.png", f"picture number {i} of four"] for i in range(4)])
    source = read_source(tmp_path / "d.csv")
    assert source.columns == ColumnRoles(image="a", text="b")
    assert source.roles_certain is False
