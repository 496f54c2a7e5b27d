"""One page, alone in a window: ``python -m mmstudio.ui.<page> [PATH ...] [--screenshot FILE.png]``.

Every page's ``__main__.py`` hands :func:`run` a :class:`Standalone` that says what the page takes (a
dataset, a store and runs), its own options, and what to do once it is shown; the rest is the same
for all: the application with its style, a page of the window's size, the dataset (PATH, else the
built-in demo) loaded in the background, and with ``--screenshot`` the page saved once it has
settled (exit 1, with the reason on stderr, when it fails or does not settle in time).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmstudio.formatting import parse_size
from mmstudio.ui.app import SCREENSHOT_SIZE, THEMES, create_application, save_when_settled
from mmstudio.ui.pages import page
from mmstudio.ui.settings import Settings
from mmstudio.ui.state import StudioState
from mmstudio.ui.tasks import cancel_all, run_task

PageHook = Callable[[Any, argparse.Namespace], Any]


@dataclass(frozen=True)
class Standalone:
    """How page ``name`` runs alone. Hooks take the panel and the parsed arguments; a hook that finds
    something wrong appends the reason to ``args.failures`` (the screenshot then exits 1)."""

    name: str
    dataset: bool = False  # takes a dataset: PATH ..., --format, --no-dataset (default: the demo)
    store: bool = False  # takes --db URL and --run ID ...
    options: Callable[[argparse.ArgumentParser], None] | None = None  # the page's own options
    open_dataset: PageHook | None = None  # the page opens args.path itself (else: loaded, then shared)
    start: PageHook | None = None  # once the page is shown and its dataset (if any) is in
    settled: PageHook | None = None  # the screenshot also waits for this (besides not panel.is_busy())
    failure: PageHook | None = None  # what went wrong ("" or None: nothing)
    finish: PageHook | None = None  # before the application exits
    timeout_s: float = 300.0


def _load_dataset_job(state: Any, paths: list[str], format: str | None) -> tuple[Any, Any]:
    from mmstudio.data.demo import ensure_demo
    from mmstudio.data.sources import dataset_source
    from mmstudio.data.spec import DatasetSpec

    path, format = dataset_source(paths or [str(ensure_demo())], format)
    spec = DatasetSpec(path=path, format=format)
    return spec.load(progress=state, cancel=state), spec


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(standalone: Standalone, argv: list[str] | None = None) -> int:
    """Show the page; with ``--screenshot``, save it once settled and return the exit status."""
    info = page(standalone.name)
    parser = argparse.ArgumentParser(
        prog=f"python -m mmstudio.ui.{info.name}", description=f"Show the {info.title} page alone."
    )
    if standalone.dataset:
        parser.add_argument(
            "path", nargs="*", help="a dataset folder or file, a shard pattern, or .tar shards"
        )
        parser.add_argument("--format", help="the dataset's format (default: detected)")
        parser.add_argument("--no-dataset", action="store_true", help="show the page without a dataset")
    if standalone.store:
        parser.add_argument("--db", metavar="URL", help="the store (default: MMSTUDIO_DB or the data folder)")
        parser.add_argument(
            "--run", type=int, action="append", default=[], metavar="ID", help="a run (repeat)"
        )
    if standalone.options is not None:
        standalone.options(parser)
    parser.add_argument(
        "--screenshot", metavar="FILE.png", help="save the page once it has settled, then exit"
    )
    default_size = "x".join(map(str, SCREENSHOT_SIZE))
    parser.add_argument(
        "--size", default=default_size, type=_size, help=f"WIDTHxHEIGHT (default {default_size})"
    )
    parser.add_argument(
        "--timeout", type=float, default=standalone.timeout_s, help="seconds a screenshot waits at most"
    )
    parser.add_argument(
        "--theme", choices=THEMES, help="the colours (default: MMSTUDIO_THEME, else the system's)"
    )
    args = parser.parse_args(argv)
    args.failures = []
    width, height = args.size
    logging.basicConfig(level=logging.WARNING)
    app = create_application(theme=args.theme)
    state = StudioState()
    state.db_url = getattr(args, "db", None)
    state.status_posted.connect(lambda message, _ms: message and print(message, file=sys.stderr))
    # A screenshot is reproducible: a settings file of its own (no saved layout, no last dataset).
    settings = (
        Settings(Path(tempfile.mkdtemp(prefix="mmstudio-page-")) / "settings.ini")
        if args.screenshot
        else Settings()
    )
    panel = info.panel_class()(state, settings)
    panel.setWindowTitle(f"mmstudio: {info.title}")
    panel.resize(width, height)
    panel.show()
    failures: list[str] = args.failures
    ready = {"dataset": not standalone.dataset or args.no_dataset}

    def hook(fn: PageHook | None) -> Any:
        return None if fn is None else fn(panel, args)

    def started() -> None:
        ready["dataset"] = True
        hook(standalone.start)

    if ready["dataset"]:
        started()
    elif standalone.open_dataset is not None:
        hook(standalone.open_dataset)
        started()
    else:

        def loaded(result: tuple[Any, Any]) -> None:
            state.set_dataset(*result)
            started()

        task = run_task(_load_dataset_job, list(args.path), args.format)
        task.succeeded.connect(loaded)
        task.failed.connect(lambda message, _details: failures.append(f"the dataset did not load: {message}"))

    def busy() -> bool:
        if not ready["dataset"] or panel.is_busy():
            return True
        return hook(standalone.settled) is False

    def failure() -> str:
        if failures or not ready["dataset"]:  # the page's own hook only once it has started
            return failures[0] if failures else ""
        return str(hook(standalone.failure) or "")

    try:
        if args.screenshot:
            return save_when_settled(
                app, panel, Path(args.screenshot), busy, failure, args.timeout, info.name
            )
        return app.exec()
    finally:
        hook(standalone.finish)
        cancel_all(10_000)  # background work (a store listing, a load) ends before the interpreter does
