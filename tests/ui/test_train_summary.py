"""The Train page's summary says which pretrained encoders' features a run will cache, or why not."""

from __future__ import annotations

from mmstudio.data.dataset import load_dataset
from mmstudio.training.spec import TrainSpec
from mmstudio.ui.train.summary import JobSummaryWidget


def _spec(finetune: str = "frozen") -> dict:
    return {
        "task": "classification",
        "text_encoder": {"name": "hf", "model": "/models/minilm", "finetune": finetune},
        "image_encoder": {"name": "resnet18", "pretrained": True, "freeze_backbone": True},
        "fusion": {"name": "concat"},
        "head": {"name": "mlp"},
    }


def test_the_summary_says_which_features_are_cached_and_why_not(qtbot, small_demo):
    summary = JobSummaryWidget()
    qtbot.addWidget(summary)
    dataset = load_dataset(small_demo)

    summary.show_job(dataset, _spec(), TrainSpec())
    text = summary.features_label.text()
    assert not summary.features_label.isHidden()
    assert "text features cached from frozen hf:/models/minilm" in text
    assert "image features cached from frozen resnet18" in text

    summary.show_job(dataset, _spec("top:2"), TrainSpec(augment_image="light"))
    text = summary.features_label.text()
    assert "text features computed every step by hf:/models/minilm (fine-tuned)" in text
    assert "image features computed every step by resnet18 (augmented: augment_image light)" in text

    summary.show_job(dataset, _spec(), TrainSpec(feature_cache=False))
    assert summary.features_label.text().count("(feature cache off)") == 2

    summary.show_job(dataset, None, TrainSpec())  # the default model trains its encoders from scratch
    assert summary.features_label.isHidden() and summary.features_label.text() == ""
    # the line above it: what picks the checkpoint and what the data chose (the core's sentence)
    settings = summary.settings_label.text()
    assert settings.startswith("<b>Training:</b> best checkpoint by val/accuracy")
    assert "early stopping after 5 evaluations without improvement" in settings
    summary.show_job(None, None, TrainSpec())
    assert summary.settings_label.text() == ""
