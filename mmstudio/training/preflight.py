"""Preflight: what is known about a job before it trains, for the Model page and ``mmstudio train --check``.

Qt-free and light to import: torch and the model library load inside the functions that need them, so
the Model page imports this module at start and runs the heavy functions in the thread pool, and the
command line calls the same ones directly.

- :func:`resolve_model_spec` (with :func:`model_task`): the spec training picks for a dataset; the
  runner and the page's default spec are this one function.
- :func:`dataset_facts`: the vocabulary (the tokenizer fit on the training split, as training fits it:
  :func:`~mmstudio.training.data.fit_tokenizer`) and the labels; :func:`model_context`: the
  ``ModelContext`` fields a spec is checked and summarised against (the runner's check uses it too).
- :func:`job_problems`: why the data cannot train a model of the task at all (too few labels, no
  training items, a task the data cannot serve), for the Train page's Start and the runner.
- :func:`summarize_spec`: validation, then shapes, parameters and memory on the meta device.
- :func:`check_on_batch`: one real training batch through the built model: forward, loss, backward.
- The architecture as text: :func:`architecture_diagram` gives each block's title, name, shapes and
  parameter count, the totals and the memory estimate (:class:`DiagramData`), which the page draws and
  :meth:`DiagramData.text_lines` prints; :func:`describe_context` and :func:`describe_check` word the
  data and a check's outcome.
- :func:`check_job`: all of it for one dataset, model request and TrainSpec (``train --check``).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mmstudio.formatting import format_bytes, format_count, plural
from mmstudio.progress import Cancelled, check_cancel, user_message
from mmstudio.training.labels import regression_value, split_multilabel
from mmstudio.training.spec import DEFAULT_MAX_LEN, DEFAULT_PATIENCE, TrainSpec
from mmstudio.vocabulary import SLOT_TITLES, component_name, default_task

if TYPE_CHECKING:
    from mmstudio.data.dataset import Dataset
    from mmstudio.models.spec import ModelSpec
    from mmstudio.progress import TaskState

DEFAULT_VOCAB = 10_000  # the context without a dataset
DEFAULT_CLASSES = 10
MIN_VOCAB = 2  # <pad> and <unk>: the vocabulary a spec is checked against before a tokenizer is fit
LABELS_SHOWN = 4  # labels named under the diagram's head


def load_library() -> float:
    """Import the model library (torch and the registries); returns the seconds it took."""
    start = time.perf_counter()
    import mmstudio.models  # noqa: F401 (the import is the work)

    return time.perf_counter() - start


# --- the spec for a dataset ------------------------------------------------------------------------


def model_task(dataset: Dataset) -> str:
    """The task training picks by default: contrastive for a captions dataset (a retrieval), else
    classification."""
    return default_task(dataset.task)


def resolve_model_spec(request: Mapping[str, Any], dataset: Dataset | None = None) -> ModelSpec:
    """The complete ModelSpec for ``request`` (a ModelSpec dict, possibly partial) on ``dataset``: its
    task and the modalities it has decide the defaults (:func:`mmstudio.models.resolve_spec`). Without
    a dataset: as for one with texts, images and labels."""
    from mmstudio.models import resolve_spec

    if dataset is None:
        return resolve_spec(request, task="classification", has_text=True, has_image=True)
    return resolve_spec(
        request,
        task=model_task(dataset),
        has_text=dataset.columns.text is not None,
        has_image=dataset.columns.image is not None,
    )


def model_inputs(spec: ModelSpec, train: TrainSpec) -> tuple[TrainSpec, Any, Any]:
    """What a model's pretrained encoders ask of the data: ``(train, tokenizer, image_norm)``, where
    ``train`` has the image size a pretrained image encoder takes (a Hugging Face model's processor's,
    or a torchvision encoder's pretrained weights' crop size unless its ``preprocessing`` is ``run``),
    ``tokenizer`` is the ``to_dict()`` of a pretrained text encoder's own tokenizer and
    ``image_norm`` the image encoder's ``(mean, std)`` (both None for encoders trained from scratch:
    fit a tokenizer, ImageNet's mean and std). A model that cannot be found leaves everything as it
    is (validation says why)."""
    from mmstudio.models.fetch import ModelNotCached
    from mmstudio.models.pretrained import image_input, model_tokenizer

    tokenizer = norm = None
    try:
        tokenizer = model_tokenizer(spec) if spec.has_text else None
        wanted = image_input(spec) if spec.has_image else None
    except (ModelNotCached, FileNotFoundError, ValueError, ImportError):
        return train, tokenizer, None
    if wanted is not None:
        norm = (wanted["mean"], wanted["std"])
        if wanted["size"] is not None and wanted["size"] != train.image_size:
            train = dataclasses.replace(train, image_size=wanted["size"])
    return train, tokenizer, norm


def describe_image_input(spec: ModelSpec, train: TrainSpec) -> str:
    """The line a run's log (and ``train --check``) shows for a pretrained image encoder's own
    preprocessing: ``"image preprocessing from resnet18 IMAGENET1K_V1: 224 px, ImageNet mean/std"``;
    ``""`` when the image encoder takes the generic one (or none)."""
    from mmstudio.models.pretrained import IMAGENET_MEAN, IMAGENET_STD, image_input

    try:
        wanted = image_input(spec) if spec.has_image else None
    except (FileNotFoundError, ValueError, ImportError):  # ModelNotCached included
        return ""
    if wanted is None:
        return ""
    mean, std = ([round(float(x), 3) for x in wanted[key]] for key in ("mean", "std"))
    if mean == list(IMAGENET_MEAN) and std == list(IMAGENET_STD):
        norm = "ImageNet mean/std"
    else:
        norm = f"mean {', '.join(f'{x:g}' for x in mean)}, std {', '.join(f'{x:g}' for x in std)}"
    # preprocessing "run", or a run recorded before torchvision weights brought their own size
    own = wanted["size"] != train.image_size
    size = f"{train.image_size} px" + (" (the run's image size)" if own else "")
    return f"image preprocessing from {wanted['source']}: {size}, {norm}"


# --- training settings chosen from the data --------------------------------------------------------


def defaults_facts(
    dataset: Dataset, spec: ModelSpec | Mapping[str, Any] | None, train: TrainSpec
) -> dict[str, Any]:
    """The facts :func:`~mmstudio.training.defaults.suggest_defaults` reads, from the training split:
    its size, each text's length in words (as the word tokenizer splits them), the tokenizer, whether
    the text encoder is pretrained (its tokenizer counts other pieces), and the items per label.
    ``spec``: the model (a partial request, or None, is the default for the data). Standard library
    only: the Train page calls it for its summary."""
    from mmstudio.data.text import WORD_PATTERN

    request = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec or {})
    task = request.get("task") or model_task(dataset)
    text = request.get("text_encoder")
    has_text = dataset.columns.text is not None and (text is None or component_name(text) is not None)
    train_items = [item for item in dataset.items if item.split == "train"]
    facts: dict[str, Any] = {"task": task, "train_items": len(train_items), "tokenizer": train.tokenizer}
    if has_text:
        facts["text_lengths"] = [len(WORD_PATTERN.findall(item.text or "")) for item in train_items]
        facts["pretrained_text"] = component_name(text) in ("hf", "minilm")
    if task == "classification":
        counts: dict[str, int] = {}
        for item in train_items:
            if item.label:
                counts[item.label] = counts.get(item.label, 0) + 1
        facts["class_counts"] = counts
    return facts


def train_for_data(
    dataset: Dataset, spec: ModelSpec | Mapping[str, Any] | None, train: TrainSpec
) -> tuple[TrainSpec, list[str]]:
    """``train`` completed for a ``spec`` model on ``dataset`` as the runner completes it: the fields
    left at None chosen from the data (:func:`~mmstudio.training.defaults.apply_defaults`) and
    ``best_metric`` named (the task's key metric when none was chosen); and the lines that say so,
    for the run's log, ``train --check`` and the Train page's summary (``spec`` may be a partial
    request there, or None for the data's default model), with the image preprocessing a pretrained
    image encoder brings (:func:`describe_image_input`)."""
    from mmstudio.training.defaults import apply_defaults, describe_choices
    from mmstudio.vocabulary import describe_monitor

    request = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec or {})
    task = request.get("task") or model_task(dataset)
    train, notes = apply_defaults(train, defaults_facts(dataset, request, train))
    # what no rule chose (no text: no length to measure) takes the value it has without data, so a
    # stored spec names every setting
    train = dataclasses.replace(
        train,
        best_metric=train.monitor_for(task),
        patience=train.patience or DEFAULT_PATIENCE,
        max_len=train.max_len or DEFAULT_MAX_LEN,
        class_weights=bool(train.class_weights),
    )
    how = f"best checkpoint by {describe_monitor(train.best_metric or '')}"
    if train.stops_early:
        how += f"; early stopping after {plural(train.patience or 0, 'evaluation')} without improvement"
    else:
        how += "; no early stopping"
    lines = [how, *([describe_choices(notes)] if notes else [])]
    images = describe_image_input(spec, train) if hasattr(spec, "has_image") else ""
    if images:
        lines.append(images)
    # a modality the model does not read is not augmented (a slot left out: the default model reads it)
    reads = {
        slot: (request.get(slot) or {}).get("name") != "none" for slot in ("text_encoder", "image_encoder")
    }
    augmented = train.describe_augmentation(text=reads["text_encoder"], image=reads["image_encoder"])
    if augmented != "none":
        lines.append(f"training batches augmented: {augmented}")
    return train, lines


def settings_summary(dataset: Dataset | None, spec: Mapping[str, Any] | None, train: TrainSpec | None) -> str:
    """What the Train page's summary says of the training settings before a run, in the words of the
    run's log (:func:`train_for_data`): what picks the best checkpoint, early stopping, and what the
    dataset chooses of the settings left open, what is augmented; "" without a dataset or a valid
    training spec."""
    if dataset is None or train is None:
        return ""
    return "; ".join(train_for_data(dataset, spec, train)[1])


# --- the data's facts and the model's context ------------------------------------------------------


@dataclass(frozen=True)
class DatasetFacts:
    """What the model needs to know about a dataset, found the way training finds it."""

    name: str
    items: int
    task: str  # the task training picks by default (model_task)
    has_text: bool
    has_image: bool
    labels: tuple[str, ...]  # classification labels, sorted
    multilabels: tuple[str, ...]  # the distinct labels of 'a|b' cells
    vocab_size: int | None = None  # the tokenizer's (0 without text); None: no tokenizer fit
    tokenizer: Any = None  # the fitted tokenizer, reused by check_on_batch

    def labels_for(self, task: str) -> tuple[str, ...]:
        """The outputs' labels of a ``task`` model: the split labels for multilabel."""
        return self.multilabels if task == "multilabel" else self.labels

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly, without the tokenizer."""
        return {
            "name": self.name,
            "items": self.items,
            "task": self.task,
            "has_text": self.has_text,
            "has_image": self.has_image,
            "vocab_size": self.vocab_size,
            "labels": list(self.labels),
            "multilabels": list(self.multilabels),
        }


def dataset_facts(dataset: Dataset, train: TrainSpec | None = None, *, cancel: Any = None) -> DatasetFacts:
    """The dataset's labels and, given ``train``, its vocabulary: the tokenizer fit on the training
    split as :class:`~mmstudio.training.data.PreparedData` fits it (without ``train``, none is fit,
    and nothing imports torch)."""
    has_text = dataset.columns.text is not None
    has_image = dataset.columns.image is not None
    tokenizer = None
    if has_text and train is not None:
        from mmstudio.training.data import fit_tokenizer  # torch: only when a tokenizer is fit

        tokenizer = fit_tokenizer([item.text for item in dataset.items if item.split == "train"], train)
    check_cancel(cancel, "reading the dataset's vocabulary and labels")
    multilabels = sorted({x for item in dataset.items if item.label for x in split_multilabel(item.label)})
    vocab_size = None
    if train is not None:
        vocab_size = 0 if tokenizer is None else int(tokenizer.vocab_size)
    return DatasetFacts(
        name=dataset.root.name or str(dataset.root),
        items=len(dataset.items),
        task=model_task(dataset),
        has_text=has_text,
        has_image=has_image,
        labels=tuple(dataset.labels),
        multilabels=tuple(multilabels),
        vocab_size=vocab_size,
        tokenizer=tokenizer,
    )


def model_context(
    task: str,
    train: TrainSpec,
    facts: DatasetFacts | None = None,
    *,
    has_text: bool | None = None,
    has_image: bool | None = None,
) -> dict[str, Any]:
    """The ``ModelContext`` fields of a ``task`` model on the data ``facts`` describe, at ``train``'s
    sizes, as training will see them: the vocabulary (the least one, ``<pad>`` and ``<unk>``, while no
    tokenizer is fit), the outputs (the labels; one value for regression, none for contrastive), the
    image size, the text length and the modalities. Without facts (no dataset, or its facts still on
    their way): a 10,000-word vocabulary, 10 classes, and the modalities as given."""
    if facts is None:
        vocab, classes = DEFAULT_VOCAB, DEFAULT_CLASSES
    else:
        vocab = facts.vocab_size or MIN_VOCAB
        classes = len(facts.labels_for(task))
        has_text, has_image = facts.has_text, facts.has_image
    return {
        "vocab_size": vocab,
        "num_outputs": {"regression": 1, "contrastive": 0}.get(task, classes),
        "image_size": train.image_size,
        "max_len": train.max_len or DEFAULT_MAX_LEN,
        "has_text": has_text,
        "has_image": has_image,
        "unimodal_heads": train.fusion_guard,
    }


def labels_note(facts: DatasetFacts | None, task: str) -> str:
    """The first few labels of a ``task`` model's outputs, for the diagram: ``"a, b, c, d, …"``."""
    if facts is None:
        return ""
    labels = facts.labels_for(task)
    shown = ", ".join(labels[:LABELS_SHOWN])
    return shown + (", …" if len(labels) > LABELS_SHOWN else "")


def describe_context(
    train: TrainSpec, facts: DatasetFacts | None = None, dataset_name: str | None = None
) -> str:
    """The data the shapes are for, in a sentence: ``facts`` when known; else a dataset being read
    (``dataset_name``); else none, and the defaults the shapes assume."""
    length = train.max_len or DEFAULT_MAX_LEN
    sizes = f"{train.image_size} px images, texts of {length} tokens, batch size {train.batch_size}"
    if facts is not None:
        parts = [plural(facts.items, "pair")]
        if facts.has_text and facts.vocab_size is not None:
            parts.append(f"a vocabulary of {facts.vocab_size:,} tokens")
        if not facts.has_image:
            parts.append("no images")
        if not facts.has_text:
            parts.append("no text")
        parts.append(plural(len(facts.labels), "label"))
        return (
            f"For {facts.name} ({', '.join(parts)}) at {sizes}; "
            "image size and text length are training settings."
        )
    if dataset_name is not None:
        return f"Reading the vocabulary and labels of {dataset_name}…"
    return (
        f"No dataset loaded: shapes assume a {DEFAULT_VOCAB:,}-word vocabulary, {DEFAULT_CLASSES} "
        f"classes, {sizes}. Open a dataset to see its real sizes."
    )


# --- what stands in the way of training ------------------------------------------------------------

#: The examples of bad labels a problem names.
_EXAMPLES = 3


def job_problems(
    dataset: Dataset, request: Mapping[str, Any] | None = None, *, cancel: Any = None
) -> list[str]:
    """Why a model of ``request`` (a model spec, possibly partial; empty or None: the default for the
    data) cannot train on ``dataset``, a sentence each, for people; ``[]`` when nothing in the data
    stands in the way.

    These are the data's own problems, whatever the model's parameters: no usable items, none in the
    training split, too few labels for the task (a classification needs two), labels that are not
    numbers for a regression, a contrastive model without texts or images, and an encoder the spec
    names for a modality the data lacks. The spec's own errors are :meth:`ModelSpec.validate`'s (the
    Model page shows them; the runner checks both). Standard library only, one pass over the items:
    the Train page runs it in the thread pool whenever the dataset or the model changes, and the
    runner refuses the same jobs before a run is recorded for them."""
    request = dict(request or {})
    task = request.get("task") or model_task(dataset)
    name = dataset.root.name or str(dataset.root)
    if not dataset.items:
        return [f"{name} has no usable items: its problems report says why"]
    check_cancel(cancel, "checking the dataset")
    problems = _split_problems(dataset, name)
    if task == "contrastive":
        missing = [
            m
            for m, there in (("texts", dataset.columns.text), ("images", dataset.columns.image))
            if not there
        ]
        if missing:
            problems.append(
                f"a contrastive model matches texts with images, and {name} has no {' and no '.join(missing)}"
            )
    else:
        problems += _label_problems(dataset, task, name)
    for slot, column, modality, other in (
        ("text_encoder", dataset.columns.text, "texts", "an image"),
        ("image_encoder", dataset.columns.image, "images", "a text"),
    ):
        block = request.get(slot)
        encoder = block if isinstance(block, str) and block != "none" else component_name(block)
        if encoder and column is None and task != "contrastive":
            title = SLOT_TITLES[slot].lower()
            problems.append(
                f"{name} has no {modality}, so the {title} ({encoder}) has nothing to read: set the "
                f"{title} to none for {other}-only model"
            )
    return problems


def _split_problems(dataset: Dataset, name: str) -> list[str]:
    counts = {"train": 0, "val": 0, "test": 0}
    for item in dataset.items:
        counts[item.split] = counts.get(item.split, 0) + 1
    if counts["train"]:
        return []
    return [
        f"{name} has no items in the training split ({counts['val']:,} validation and "
        f"{counts['test']:,} test items): check its split column, or lower the validation and test "
        "fractions"
    ]


def _label_problems(dataset: Dataset, task: str, name: str) -> list[str]:
    labelled = [item.label for item in dataset.items if item.label]
    if not labelled:
        return [
            f"{name} has no labels, so it cannot train a {task} model: name its label column, or choose "
            "the contrastive task for image-text pairs without labels"
        ]
    if task == "regression":
        bad = [label for label in labelled if regression_value(label) is None]
        if not bad:
            return []
        shown = ", ".join(repr(label) for label in bad[:_EXAMPLES]) + (", …" if len(bad) > _EXAMPLES else "")
        which = "the labels" if len(bad) == len(labelled) else f"{len(bad):,} of the {len(labelled):,} labels"
        return [
            f"{which} of {name} are not numbers ({shown}), so it cannot train a regression model: choose "
            "the classification task, or fix those labels"
        ]
    if task == "classification" and len(dataset.labels) < 2:
        return [
            f"{name} has a single label ({dataset.labels[0]!r}), and a classification model needs at least "
            "two to tell apart: add items of another label, or open a dataset with two labels or more"
        ]
    if task == "multilabel" and not {x for label in labelled for x in split_multilabel(label)}:
        return [f"{name} has no labels, so it cannot train a multilabel model: name its label column"]
    return []


# --- validation and the summary --------------------------------------------------------------------


def summarize_spec(spec: Mapping[str, Any], context: Mapping[str, Any], batch_size: int) -> dict[str, Any]:
    """Validate ``spec`` for ``context`` (:func:`model_context`) and, when it has no error, summarise it
    on the meta device: ``{"issues", "summary", "error", "seconds"}`` (``SpecIssue.to_dict()``s,
    ``ModelSummary.to_dict()`` or None, why a valid spec could not be built or None)."""
    from mmstudio.models import ModelContext, ModelSpec, SpecError, summarize

    start = time.perf_counter()
    ctx = ModelContext(**context)
    try:
        model_spec = ModelSpec.from_dict(spec)
    except SpecError as exc:
        return {"issues": [i.to_dict() for i in exc.issues], "summary": None, "error": None, "seconds": 0.0}
    issues = model_spec.validate(ctx)
    summary, error = None, None
    if not any(i.level == "error" for i in issues):
        try:
            summary = summarize(model_spec, ctx, batch_size=batch_size).to_dict()
        except Exception as exc:  # a builder that fails on valid params: say so
            error = user_message(exc)
    return {
        "issues": [i.to_dict() for i in issues],
        "summary": summary,
        "error": error,
        "seconds": time.perf_counter() - start,
    }


# --- check on a batch ------------------------------------------------------------------------------


def check_on_batch(
    spec: Mapping[str, Any],
    dataset: Dataset,
    train: TrainSpec,
    facts: DatasetFacts | None = None,
    *,
    state: TaskState | None = None,
) -> dict[str, Any]:
    """Build the model and run one real training batch of ``dataset`` through it: forward, loss and
    backward (no optimiser step), on the CPU.

    The batch is prepared as training prepares it, from the first training items, with the vocabulary
    and labels of the whole dataset (``facts``, found here when not given); the images are decoded into
    a temporary cache, so a quick check never writes the dataset's real cache. ``state`` hears what is
    being done and may cancel. Returns the batch size, every output's shape, the loss, whether it is
    finite, the timings and the data's messages (items left out)."""
    import torch

    from mmstudio.models import ModelContext, ModelSpec, build_model
    from mmstudio.training.data import PreparedData

    model_spec = ModelSpec.from_dict(spec)
    task = model_spec.task
    train, own_tokenizer, image_norm = model_inputs(model_spec, train)
    if facts is None or facts.vocab_size is None:
        facts = dataset_facts(dataset, train, cancel=state)
    items = [item for item in dataset.items if item.split == "train"][: train.batch_size]
    if not items:
        raise ValueError("the dataset has no training items to make a batch of")
    _say(state, f"Preparing {len(items)} training items…")
    start = time.perf_counter()
    subset = dataclasses.replace(
        dataset, items=items, fingerprint=f"{dataset.fingerprint}-check-{len(items)}"
    )
    labels = list(facts.labels_for(task)) if task in ("classification", "multilabel") else None
    with tempfile.TemporaryDirectory(prefix="mmstudio-check-") as cache:
        data = PreparedData(
            subset,
            train,
            task,
            need_text=model_spec.has_text,
            need_image=model_spec.has_image,
            labels=labels,
            tokenizer=own_tokenizer or facts.tokenizer,
            cancel=state,
            cache_root=cache,
            image_norm=image_norm,
        )
        batch = data.batch(data.splits["train"])
    prepare_s = time.perf_counter() - start
    check_cancel(state, "the check")
    _say(state, "Building the model…")
    ctx = ModelContext(**model_context(task, train, facts))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train.seed)
        model = build_model(model_spec, ctx)
    model.train()
    check_cancel(state, "the check")
    _say(state, "Forward pass…")
    start = time.perf_counter()
    outputs = model(batch)
    loss = model.loss(outputs, batch)
    forward_s = time.perf_counter() - start
    check_cancel(state, "the check")
    start = time.perf_counter()
    backward = loss.requires_grad
    if backward:
        loss.backward()
    backward_s = time.perf_counter() - start
    return {
        "batch_size": len(items),
        "outputs": {k: list(v.shape) for k, v in outputs.items()},
        "loss": float(loss.detach()),
        "finite": bool(torch.isfinite(loss.detach()).item()),
        "prepare_s": prepare_s,
        "forward_s": forward_s,
        "backward_s": backward_s if backward else None,
        "messages": list(data.messages),
    }


def _say(state: TaskState | None, message: str) -> None:
    if state is not None:
        state.set_message(message)


def describe_check(result: Mapping[str, Any]) -> tuple[str, str]:
    """``(level, sentence)`` for a :func:`check_on_batch` result: ``info``, or ``warning`` when the
    loss is not finite."""
    main = next(iter(result["outputs"].items()), None)
    shape = f"{main[0]} {format_shape(main[1])}" if main else "no output"
    times = f"forward {result['forward_s'] * 1000:.0f} ms"
    if result["backward_s"] is not None:
        times += f", backward {result['backward_s'] * 1000:.0f} ms"
    text = (
        f"A batch of {result['batch_size']} training items went through: {shape}, "
        f"loss {result['loss']:.4g} ({times}; the batch took {result['prepare_s']:.1f} s to prepare)."
    )
    if result["messages"]:
        text += " " + " ".join(result["messages"])
    if not result["finite"]:
        return "warning", text + " The loss is not finite: training would diverge from the first step."
    return "info", text


# --- the architecture as blocks of text ------------------------------------------------------------


@dataclass(frozen=True)
class DiagramBlock:
    """One box: ``key`` ("text_input", "text_encoder", "image_input", "image_encoder", "fusion",
    "head"), a small ``title``, the component ``name``, detail ``lines`` (shapes), the parameter
    count, a ``level`` ("", "warning", "error") for its border and a ``role`` for its colour."""

    key: str
    title: str
    name: str
    lines: tuple[str, ...] = ()
    params: str = ""
    level: str = ""
    role: str = "input"
    tooltip: str = ""

    def text(self) -> str:
        return "\n".join([self.title, self.name, *self.lines, *([self.params] if self.params else [])])


@dataclass(frozen=True)
class DiagramData:
    """Branches drawn side by side (top down: input, encoder), then the trunk below them (fusion,
    head), then ``output`` (what the head returns) and the ``footer`` lines (totals, memory)."""

    text: tuple[DiagramBlock, ...] = ()
    image: tuple[DiagramBlock, ...] = ()
    trunk: tuple[DiagramBlock, ...] = ()
    output: str = ""
    footer: tuple[str, ...] = ()
    blocks: dict[str, DiagramBlock] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for block in (*self.text, *self.image, *self.trunk):
            self.blocks[block.key] = block

    def text_lines(self) -> list[str]:
        """The diagram as plain text, a block a line (title, name, shapes; parameters), then the
        output and the footer: what ``mmstudio train --check`` prints."""
        lines = []
        for block in (*self.text, *self.image, *self.trunk):
            details = "; ".join([*block.lines, *([block.params] if block.params else [])])
            lines.append(f"{block.title:<14} {block.name:<16} {details}".rstrip())
        if self.output:
            lines.append(f"{'Output':<14} {self.output}")
        return lines + list(self.footer)


def format_shape(shape: Sequence[int], batch: bool = True) -> str:
    """``[64, 192]`` → ``[B, 192]``: the first dimension is the batch."""
    dims = [str(d) for d in shape]
    if batch and dims:
        dims[0] = "B"
    return f"[{', '.join(dims)}]"


def _params_text(block: Mapping[str, Any] | None) -> str:
    if block is None:
        return ""
    params, trainable = int(block["params"]), int(block["trainable_params"])
    if params == 0:
        return "no parameters"
    text = f"{format_count(params)} parameters"
    if trainable != params:
        text += f" ({format_count(trainable)} trainable)"
    return text


def fusion_reads_tokens(spec: Mapping[str, Any]) -> bool:
    """Whether the spec's fusion reads the encoders' token sequences (cross-attention does); the
    diagram then shows their shape too. Imports the model library."""
    from mmstudio.models import FUSIONS

    fusion = (spec.get("fusion") or {}).get("name")
    return fusion in FUSIONS and bool(FUSIONS.get(fusion).info.get("needs_tokens", False))


def architecture_diagram(
    spec: Mapping[str, Any],
    summary: Mapping[str, Any] | None,
    *,
    context: Mapping[str, Any],
    issues: Sequence[Mapping[str, str]] = (),
    needs_tokens: bool = False,
    pending: bool = False,
) -> DiagramData:
    """What the architecture of ``spec`` shows, block by block.

    ``summary`` is ``ModelSummary.to_dict()`` or None (while it is computed or when the spec has
    errors); ``context`` has ``vocab_size``, ``image_size``, ``max_len`` and ``num_outputs`` (and
    optionally ``labels``: a short description of the outputs, :func:`labels_note`); ``issues`` are
    ``SpecIssue.to_dict()``s, whose levels mark their block; ``needs_tokens`` says the fusion reads
    the encoders' token sequences (:func:`fusion_reads_tokens`: their shape is then shown too);
    ``pending`` says a summary is on its way (the footer says so rather than asking to fix errors).
    """
    levels: dict[str, str] = {}
    tips: dict[str, list[str]] = {}
    for issue in issues:
        slot = issue.get("component", "")
        if slot in SLOT_TITLES:
            if levels.get(slot) != "error":
                levels[slot] = issue.get("level", "")
            tips.setdefault(slot, []).append(f"{issue.get('level', '')}: {issue.get('message', '')}")
    blocks = {b["name"]: b for b in summary["blocks"]} if summary else {}

    def block(slot: str, role: str, lines: Sequence[str]) -> DiagramBlock:
        component = spec.get(slot, {}) or {}
        return DiagramBlock(
            key=slot,
            title=SLOT_TITLES[slot],
            name=str(component.get("name", "?")),
            lines=tuple(lines) if blocks else ("…" if pending else "—",),
            params=_params_text(blocks.get(slot)),
            level=levels.get(slot, ""),
            role=role,
            tooltip="\n".join(tips.get(slot, [])),
        )

    def encoder_lines(slot: str) -> list[str]:
        info = blocks.get(slot)
        if info is None:
            return []
        outputs = info.get("outputs", {})
        lines = [f"→ {format_shape(info['output_shape'])}"]
        if needs_tokens and "tokens" in outputs:
            lines.append(f"tokens {format_shape(outputs['tokens'])}")
        tag = training_tag(slot, spec.get(slot) or {})
        if tag:
            lines.append(tag)
        return lines

    text: tuple[DiagramBlock, ...] = ()
    image: tuple[DiagramBlock, ...] = ()
    if (spec.get("text_encoder") or {}).get("name", "none") != "none":
        max_len, vocab = int(context.get("max_len", 0)), int(context.get("vocab_size", 0))
        text = (
            DiagramBlock(
                "text_input",
                "Input",
                "Text",
                (f"tokens [B, {max_len}]", f"vocabulary {vocab:,}"),
                role="input",
            ),
            block("text_encoder", "text", encoder_lines("text_encoder")),
        )
    if (spec.get("image_encoder") or {}).get("name", "none") != "none":
        size = int(context.get("image_size", 0))
        image = (
            DiagramBlock("image_input", "Input", "Image", (f"[B, 3, {size}, {size}]",), role="input"),
            block("image_encoder", "image", encoder_lines("image_encoder")),
        )

    trunk: list[DiagramBlock] = []
    if (spec.get("fusion") or {}).get("name", "none") != "none":
        lines = []
        info = blocks.get("fusion")
        if info is not None:
            outputs = info.get("outputs", {})
            if len(outputs) > 1:
                lines = [f"{k} {format_shape(v)}" for k, v in outputs.items()]
            else:
                lines = [f"→ {format_shape(info['output_shape'])}"]
        trunk.append(block("fusion", "fusion", lines))
    head_lines: list[str] = []
    info = blocks.get("head")
    if info is not None:
        outputs = info.get("outputs", {})
        main = [k for k in outputs if "_" not in k or k.endswith("_embedding")]
        head_lines = [f"→ {k} {format_shape(outputs[k])}" for k in main if k != "logit_scale"]
        if any(k.startswith(("logits_", "prediction_")) and "_alone_" not in k for k in outputs):
            head_lines.append("one head per modality, mixed")
        if any("_alone_" in k for k in outputs):  # the fusion guard's heads (TrainSpec.fusion_guard)
            head_lines.append("+ a head per modality (guard)")
    trunk.append(block("head", "head", head_lines))
    return DiagramData(
        text=text,
        image=image,
        trunk=tuple(trunk),
        output=_output_text(spec.get("task", ""), context),
        footer=tuple(_footer(summary, issues, pending)),
    )


def training_tag(slot: str, component: Mapping[str, Any]) -> str:
    """What of a pretrained encoder trains, in a few words for its block ("frozen", "top 2 blocks
    train", "LoRA r=8", "fine-tuned in full"); "" for an encoder trained from scratch."""
    name = component.get("name")
    if name == "minilm":
        return "frozen" if component.get("freeze", True) else "fine-tuned in full"
    if name == "hf":
        finetune = str(component.get("finetune", "frozen")).strip().lower()
        if finetune == "frozen":
            return "frozen"
        if finetune == "full":
            return "fine-tuned in full"
        if finetune == "lora":
            return f"LoRA r={component.get('lora_r', 8)}, the rest frozen"
        if finetune.startswith("top:") and finetune[4:].isdigit():
            n = int(finetune[4:])
            return (
                "the top block trains, the rest frozen"
                if n == 1
                else f"top {n} blocks train, the rest frozen"
            )
        return ""
    if slot == "image_encoder" and component.get("pretrained"):
        return "backbone frozen" if component.get("freeze_backbone") else "ImageNet weights, fine-tuned"
    return ""


def _output_text(task: str, context: Mapping[str, Any]) -> str:
    n = int(context.get("num_outputs", 0))
    labels = f": {context['labels']}" if context.get("labels") else ""
    if task == "classification":
        return f"{plural(n, 'class', 'classes')}{labels}"
    if task == "multilabel":
        return f"{plural(n, 'label')}, each yes or no{labels}"
    if task == "regression":
        return "one value per item"
    if task == "contrastive":
        return "text and image embeddings, matched by similarity"
    return ""


def _footer(
    summary: Mapping[str, Any] | None, issues: Sequence[Mapping[str, str]], pending: bool
) -> list[str]:
    """The totals and the memory estimate, or why they are not there."""
    if summary:
        total, trainable = int(summary["total_params"]), int(summary["trainable_params"])
        footer = [
            f"Total: {format_count(total)} parameters"
            + (f" ({format_count(trainable)} trainable)" if trainable != total else ""),
            f"Training memory ≈ {format_bytes(int(summary['memory_bytes']))} at batch size "
            f"{summary['batch_size']}",
        ]
        memory = summary.get("memory", {})
        if memory:
            footer.append(
                f"weights {format_bytes(int(memory['params']))}"
                f" · gradients {format_bytes(int(memory['grads']))}"
                f" · AdamW {format_bytes(int(memory['optimizer']))}"
                f" · activations {format_bytes(int(memory['activations']))}"
            )
        return footer
    if pending:
        return ["Computing shapes and parameter counts…"]
    errors = sum(1 for i in issues if i.get("level") == "error")
    if errors:
        return [
            f"{errors} error{'s' if errors > 1 else ''} to fix, explained beside each choice; "
            "shapes and parameter counts follow"
        ]
    return ["No shapes or parameter counts: the model could not be built"]


# --- the whole preflight of a job ------------------------------------------------------------------


@dataclass
class PreflightReport:
    """What :func:`check_job` found: the resolved ``spec``, the data's ``facts``, the ``context`` the
    spec was checked against, the ``issues``, the ``summary`` (None with errors), why a valid spec
    could not be built (``error``), and the ``check`` on a batch (None when it did not run: there were
    errors; ``{"error": message}`` when it failed)."""

    spec: dict[str, Any]
    facts: DatasetFacts
    context: dict[str, Any]
    train: TrainSpec
    issues: list[dict[str, str]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    error: str | None = None
    check: dict[str, Any] | None = None
    choices: list[str] = field(default_factory=list)  # what the data chose (train_for_data)

    @property
    def errors(self) -> list[dict[str, str]]:
        return [i for i in self.issues if i["level"] == "error"]

    @property
    def ok(self) -> bool:
        """No error, the model built, and one batch went through with a finite loss."""
        check = self.check or {}
        return not self.errors and self.error is None and bool(check.get("finite"))

    def diagram(self) -> DiagramData:
        task = self.spec.get("task", "")
        return architecture_diagram(
            self.spec,
            self.summary,
            context={**self.context, "labels": labels_note(self.facts, task)},
            issues=self.issues,
            needs_tokens=fusion_reads_tokens(self.spec),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "spec": self.spec,
            "dataset": self.facts.to_dict(),
            "context": self.context,
            "issues": self.issues,
            "summary": self.summary,
            "error": self.error,
            "check": self.check,
            "train": self.train.to_dict(),
            "choices": list(self.choices),
        }

    def text_lines(self) -> list[str]:
        """The report for people: the data, the issues, the architecture, the check."""
        lines = [describe_context(self.train, self.facts), *self.choices, ""]
        lines += [f"{i['level']}: {i['component']}: {i['message']}" for i in self.issues]
        if not self.errors:
            lines += self.diagram().text_lines()
        if self.error is not None:
            lines.append(f"error: the model could not be built: {self.error}")
        if self.check is not None:
            if "error" in self.check:
                lines.append(f"error: the check on a batch failed: {self.check['error']}")
            else:
                level, text = describe_check(self.check)
                lines += ["", text if level == "info" else f"{level}: {text}"]
        return lines


def check_job(
    dataset: Dataset,
    request: Mapping[str, Any],
    train: TrainSpec,
    *,
    state: TaskState | None = None,
) -> PreflightReport:
    """Everything to know before training ``request`` (a model spec, possibly partial) on ``dataset``
    with ``train``, without training or recording anything: the spec resolved as the runner resolves
    it, validated against the data's real facts, summarised, and one real batch run through it (only
    when there is no error). Raises ``ValueError`` for a request that is not a model spec."""
    resolved = resolve_model_spec(request, dataset)
    spec = resolved.to_dict()
    train = model_inputs(resolved, train)[0]  # a pretrained image encoder's own image size
    train, choices = train_for_data(dataset, resolved, train)
    _say(state, "Fitting the tokenizer and reading the labels…")
    facts = dataset_facts(dataset, train, cancel=state)
    context = model_context(spec["task"], train, facts)
    _say(state, "Checking the model spec…")
    found = summarize_spec(spec, context, train.batch_size)
    report = PreflightReport(
        spec, facts, context, train, found["issues"], found["summary"], found["error"], choices=choices
    )
    if report.errors or report.error is not None:
        return report
    try:
        report.check = check_on_batch(spec, dataset, train, facts, state=state)
    except Cancelled:
        raise
    except Exception as exc:  # a failed check is a finding, reported as the page reports it
        report.check = {"error": user_message(exc)}
    return report
