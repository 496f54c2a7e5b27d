"""Completing partial model requests (the command line's and job files') for a dataset."""

import pytest

from mmstudio.models import (
    HEADS,
    PRESETS,
    ModelContext,
    SpecError,
    build_model,
    default_spec,
    harmonize,
    head_fits,
    matching_preset,
    preset_fits,
    preset_spec,
    preset_title,
    resolve_spec,
    switch_entry,
)

CTX = ModelContext(vocab_size=100, num_outputs=4, image_size=32, max_len=8)


def test_empty_request_is_the_default_for_the_dataset():
    spec = resolve_spec({}, task="classification", has_text=True, has_image=False)
    assert spec == default_spec("classification", has_text=True, has_image=False)
    assert spec.image_encoder["name"] == "none" and spec.fusion["name"] == "none"


def test_an_encoder_set_to_none_drops_the_fusion():
    spec = resolve_spec({"image_encoder": "none"}, task="classification", has_text=True, has_image=True)
    assert spec.text_encoder["name"] == "textcnn" and spec.fusion["name"] == "none"


def test_components_override_a_preset_and_keep_their_params():
    spec = resolve_spec(
        {"preset": "gated", "text_encoder": {"name": "gru", "hidden": 32}},
        task="classification",
        has_text=True,
        has_image=True,
    )
    assert spec.fusion["name"] == "gated"
    assert spec.text_encoder["name"] == "gru" and spec.text_encoder["hidden"] == 32
    assert "layers" in spec.text_encoder  # defaults filled from the registry


def test_every_preset_resolves():
    for name in PRESETS:
        spec = resolve_spec({"preset": name}, task="classification", has_text=True, has_image=True)
        assert spec.task == "classification"


def test_task_in_the_request_wins_and_contrastive_has_no_fusion():
    spec = resolve_spec({"task": "contrastive"}, task="classification", has_text=True, has_image=True)
    assert spec.task == "contrastive" and spec.fusion["name"] == "none"


def test_unknown_keys_and_names_are_explained():
    with pytest.raises(ValueError, match="unknown model spec key"):
        resolve_spec({"encoder": "x"}, task="classification", has_text=True, has_image=True)
    spec = resolve_spec({"text_encoder": "nope"}, task="classification", has_text=True, has_image=True)
    with pytest.raises(SpecError, match="textcnn"):  # the message lists what exists
        build_model(spec, ModelContext(vocab_size=10, num_outputs=2, image_size=32, max_len=8))


# --- the rules of choosing, shared by the Model page and resolve_spec -------------------------------


def test_harmonize_follows_a_task_change_with_the_head_and_the_fusion():
    spec = preset_spec("gated").to_dict()
    spec["task"] = "contrastive"
    out, notes = harmonize(spec, "task")
    assert (out["head"], out["fusion"]) == ({"name": "projection"}, {"name": "none"})
    assert notes == [
        "head set to projection for contrastive",
        "fusion set to none: contrastive retrieval compares the two embeddings",
    ]
    assert spec["head"]["name"] == "mlp"  # the argument is left alone
    out["task"] = "classification"
    back, notes = harmonize(out, "task")
    assert (back["head"], back["fusion"]) == ({"name": "mlp"}, {"name": "concat"})
    assert notes == ["head set to mlp for classification", "fusion set to concat to combine text and image"]


def test_harmonize_follows_the_encoders_with_the_fusion():
    spec = preset_spec("gated").to_dict()
    spec["image_encoder"] = {"name": "none"}
    out, notes = harmonize(spec, "image_encoder")
    assert out["fusion"] == {"name": "none"} and notes == [
        "fusion set to none: a single modality has nothing to fuse"
    ]
    out["image_encoder"] = {"name": "small_cnn"}
    again, notes = harmonize(out, "image_encoder")
    assert again["fusion"] == {"name": "concat"} and len(notes) == 1
    assert harmonize(again, "text_encoder") == (again, [])  # nothing implied: nothing changed


def test_harmonize_keeps_what_was_set_for_validation_to_explain():
    spec = preset_spec("text_only").to_dict()
    spec["fusion"] = {"name": "gated"}  # one modality: gated cannot work, but it is what the user chose
    assert harmonize(spec, "fusion") == (spec, [])
    contrastive = {**preset_spec("early_concat", "contrastive").to_dict(), "fusion": {"name": "sum"}}
    assert harmonize(contrastive, ["task", "fusion"])[0]["fusion"] == {"name": "sum"}
    mlp = {**contrastive, "fusion": {"name": "none"}, "head": {"name": "mlp"}}
    assert harmonize(mlp, {"head"})[0]["head"] == {"name": "mlp"}
    asked = resolve_spec(
        {"task": "contrastive", "head": "mlp"}, task="classification", has_text=True, has_image=True
    )
    assert asked.head["name"] == "mlp" and [i.component for i in asked.errors(CTX)] == ["head"]


def test_resolve_spec_keeps_a_given_fusion_and_completes_a_missing_one():
    given = resolve_spec(
        {"task": "contrastive", "fusion": "gated"}, task="classification", has_text=True, has_image=True
    )
    assert given.fusion["name"] == "gated"  # kept: validation says contrastive takes no fusion
    assert any(i.component == "fusion" for i in given.errors(CTX))
    unknown = resolve_spec({"fusion": "telepathy"}, task="classification", has_text=True, has_image=False)
    assert unknown.fusion["name"] == "telepathy"


def test_switching_an_entry_keeps_the_shared_parameters_that_fit():
    spec = default_spec().to_dict()
    spec["text_encoder"]["embed_dim"] = 96
    bag = switch_entry(spec, "text_encoder", "bag")
    assert bag["text_encoder"] == {"name": "bag", "embed_dim": 96}
    assert spec["text_encoder"]["name"] == "textcnn"  # the argument is left alone
    transformer = switch_entry(spec, "text_encoder", "transformer")
    assert transformer["text_encoder"] == {"name": "transformer"}  # no embed_dim there
    spec["text_encoder"]["embed_dim"] = 10**9  # out of bag's range: left to the default
    assert switch_entry(spec, "text_encoder", "bag")["text_encoder"] == {"name": "bag"}
    assert switch_entry(spec, "fusion", "telepathy")["fusion"] == {"name": "telepathy"}


def test_which_heads_and_presets_serve_a_task():
    heads = head_fits("contrastive")
    assert heads["projection"][0] and not heads["mlp"][0]
    assert heads["mlp"][1] == "Serves classification, multilabel, regression, not contrastive"
    assert head_fits("regression")["mlp"] == (True, HEADS.get("mlp").help)
    assert all(ok for ok, _ in preset_fits("classification").values())
    contrastive = preset_fits("contrastive")
    assert not any(ok for ok, _ in contrastive.values())
    assert contrastive["late_fusion"][1].startswith("Not for contrastive: ")


def test_a_spec_matches_its_preset_until_it_is_edited():
    assert matching_preset(preset_spec("gated", "regression").to_dict()) == "gated"
    edited = preset_spec("gated").to_dict()
    edited["fusion"]["dim"] = 64
    assert matching_preset(edited) is None
    assert matching_preset({"task": "ranking"}) is None
    assert preset_title("cross_attention") == "Cross-attention"
    assert preset_title("early_concat") == "Early concat"
