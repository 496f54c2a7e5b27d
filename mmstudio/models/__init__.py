"""Models: registries of text encoders, image encoders, fusions and heads; ``ModelSpec`` → ``nn.Module``.

Qt-free; imports torch but not torchvision, which loads only when a torchvision backbone is built.
See ``docs/architecture.md`` for the contracts (spec JSON, batch keys, outputs) shared with training.

    spec = default_spec("classification")
    ctx = ModelContext(vocab_size=5000, num_outputs=6, image_size=64, max_len=32)
    spec.validate(ctx)          # [SpecIssue(...)], nothing built
    summarize(spec, ctx)        # shapes, parameters, memory, on the meta device
    model = build_model(spec, ctx)
"""

from mmstudio.models._common import EncoderOutput
from mmstudio.models.catalog import (
    PRESET_HELP,
    PRESETS,
    default_spec,
    describe_registries,
    harmonize,
    head_fits,
    matching_preset,
    preset_fits,
    preset_spec,
    preset_title,
    resolve_spec,
    switch_entry,
)
from mmstudio.models.context import ModelContext
from mmstudio.models.fusion import FUSIONS
from mmstudio.models.heads import HEADS, TASK_OUTPUTS, contrastive_loss, task_loss
from mmstudio.models.image import IMAGE_ENCODERS
from mmstudio.models.model import MultimodalModel, build_model, example_batch
from mmstudio.models.registry import Entry, Param, Registry, UnavailableError, UnknownNameError
from mmstudio.models.spec import COMPONENTS, REGISTRIES, ModelSpec, SpecError, SpecIssue
from mmstudio.models.summary import BlockSummary, ModelSummary, summarize
from mmstudio.models.text import TEXT_ENCODERS
from mmstudio.vocabulary import TASKS

__all__ = [
    "COMPONENTS",
    "FUSIONS",
    "HEADS",
    "IMAGE_ENCODERS",
    "PRESETS",
    "PRESET_HELP",
    "REGISTRIES",
    "TASKS",
    "TASK_OUTPUTS",
    "TEXT_ENCODERS",
    "BlockSummary",
    "EncoderOutput",
    "Entry",
    "ModelContext",
    "ModelSpec",
    "ModelSummary",
    "MultimodalModel",
    "Param",
    "Registry",
    "SpecError",
    "SpecIssue",
    "UnavailableError",
    "UnknownNameError",
    "build_model",
    "contrastive_loss",
    "default_spec",
    "describe_registries",
    "example_batch",
    "harmonize",
    "head_fits",
    "matching_preset",
    "preset_fits",
    "preset_spec",
    "preset_title",
    "resolve_spec",
    "summarize",
    "switch_entry",
    "task_loss",
]
