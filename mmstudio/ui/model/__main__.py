"""``python -m mmstudio.ui.model [DATASET] [--preset NAME] [--spec FILE] [--check] [--screenshot FILE.png]``:
the Model page alone, with DATASET or the built-in demo dataset (``--no-dataset``: without one)."""

import sys

from mmstudio.ui.harness import Standalone, run


def _options(parser) -> None:
    parser.add_argument("--preset", help="apply this preset once the library is loaded")
    parser.add_argument("--spec", help="open this model spec (JSON)")
    parser.add_argument("--check", action="store_true", help="run 'Check on a batch' before the screenshot")


def _start(panel, args) -> None:
    panel.prepare()
    if args.spec:
        try:
            panel.load_spec_file(args.spec)
        except (OSError, ValueError) as exc:
            args.failures.append(str(exc))
    args.steps = [step for step, wanted in (("preset", args.preset), ("check", args.check)) if wanted]
    if not args.screenshot:
        from PySide6.QtCore import QTimer

        def poll() -> None:
            if not _settled(panel, args):
                QTimer.singleShot(50, poll)

        poll()


def _settled(panel, args) -> bool:
    """Ready and idle, with the preset applied and the batch checked (each once, in that order)."""
    if not panel.is_ready() or panel.is_busy():
        return False
    if args.steps:
        step = args.steps.pop(0)
        if step == "preset":
            panel.apply_preset(args.preset)
        else:
            panel.check_on_batch()
        return False
    return True


sys.exit(
    run(
        Standalone(
            "model",
            dataset=True,
            options=_options,
            start=_start,
            settled=_settled,
            timeout_s=180.0,
        )
    )
)
