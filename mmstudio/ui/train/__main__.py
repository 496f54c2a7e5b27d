"""``python -m mmstudio.ui.train [DATASET] [--demo-run [--during S]] [--screenshot FILE.png]``: the Train
page alone, with DATASET or the built-in demo dataset. ``--demo-run`` trains a short run (the default
model for the data); the screenshot is taken when it ends, or ``--during`` S seconds into it."""

import sys
import time

from mmstudio.ui.harness import Standalone, run


def _options(parser) -> None:
    parser.add_argument("--demo-run", action="store_true", help="start a short run once the data is loaded")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the demo run (default 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--during", type=float, metavar="S", help="take the screenshot S seconds into the run"
    )


def _spec_job(_state, dataset) -> dict:
    from mmstudio.training.preflight import resolve_model_spec

    return resolve_model_spec({}, dataset).to_dict()


def _start(panel, args) -> None:
    """With ``--demo-run``: the default model for the data on the Model page's behalf (built in the
    pool: it imports torch), then a short run of it."""
    import dataclasses

    from mmstudio.ui.tasks import run_task

    args.started = time.monotonic()
    args.ended = None
    if not args.demo_run:
        return
    panel.run_finished.connect(lambda _run, status: setattr(args, "ended", status))
    spec = dataclasses.replace(panel.train_spec(), epochs=args.epochs, batch_size=args.batch_size)
    panel.set_train_spec(spec)

    def go(model: dict) -> None:
        panel.state.set_model_spec(model)
        panel.start()

    task = run_task(_spec_job, panel.state.dataset)
    task.succeeded.connect(go)
    task.failed.connect(lambda message, _details: args.failures.append(f"no model for the data: {message}"))


def _settled(panel, args) -> bool:
    if not args.demo_run:
        return True
    if args.during is not None:
        return time.monotonic() - args.started >= args.during
    return args.ended is not None


def _failure(panel, args) -> str:
    if args.demo_run and args.during is None and args.ended not in (None, "completed"):
        failure = panel.last_failure
        return f"the run ended {args.ended}" + (f": {failure.message}" if failure is not None else "")
    return ""


def _finish(panel, _args) -> None:
    if panel.has_running_run():
        panel.stop_all(30)


sys.exit(
    run(
        Standalone(
            "train",
            dataset=True,
            options=_options,
            start=_start,
            settled=_settled,
            failure=_failure,
            finish=_finish,
            timeout_s=600.0,
        )
    )
)
