"""``mmstudio [gui] [PATH]``: the desktop app (Qt is imported only here, when the command runs)."""

from __future__ import annotations

import argparse

from mmstudio.cli._common import EXIT_USAGE, UsageError
from mmstudio.vocabulary import PAGES


def add_parsers(commands) -> None:
    parser = commands.add_parser(
        "gui",
        help="open the desktop app (the default command)",
        description="Open the desktop app, optionally with a dataset loaded. With --screenshot, render one "
        "page to a PNG file and exit (works without a display).",
    )
    parser.add_argument(
        "path",
        nargs="*",
        metavar="PATH",
        help="a dataset (folder, manifest, COCO file or .tar shards), and/or a saved model spec "
        "(.mmspec.json, .mmspec or .json), opened on the Model page",
    )
    parser.add_argument(
        "--demo", action="store_true", help="open the built-in demo dataset (written once, cached)"
    )
    parser.add_argument("--format", default=None, help="the dataset's format (default: detected)")
    parser.add_argument("--page", choices=PAGES, default=None, help="the page to show")
    parser.add_argument(
        "--run",
        type=int,
        action="append",
        default=[],
        metavar="ID",
        help="a run to show (experiments, compare)",
    )
    parser.add_argument(
        "--screenshot", metavar="FILE.png", default=None, help="render the page to FILE.png and exit"
    )
    parser.add_argument(
        "--theme",
        choices=("system", "light", "dark"),
        default=None,
        help="the colours: the system's (default; MMSTUDIO_THEME overrides), light or dark",
    )
    parser.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    if args.screenshot and not args.screenshot.lower().endswith(".png"):
        raise UsageError(f"--screenshot writes a PNG file; give a name ending in .png, not {args.screenshot}")
    if args.page == "compare" and args.screenshot and len(args.run) < 2:
        raise UsageError("the compare page needs two or more runs: --run A --run B")
    try:
        from mmstudio.ui.launch import run_gui
    except ImportError as exc:  # PySide6 missing or broken: say so instead of a traceback
        print(f"error: the desktop app needs PySide6 and pyqtgraph ({exc}); pip install -e .", flush=True)
        return EXIT_USAGE
    from mmstudio.training.spec import is_model_spec_file

    specs = [p for p in args.path if is_model_spec_file(p)]
    if len(specs) > 1:
        raise UsageError(f"give one model spec to open, not {len(specs)}: {', '.join(specs)}")
    paths = [p for p in args.path if p not in specs]
    if args.demo:
        if paths:
            raise UsageError("give a dataset PATH or --demo, not both")
        from mmstudio.data.demo import ensure_demo

        paths = [str(ensure_demo())]
    path = None if not paths else (paths[0] if len(paths) == 1 else paths)
    return run_gui(
        path,
        page=args.page,
        screenshot=args.screenshot,
        db_url=getattr(args, "db", None),
        format=args.format,
        run_ids=args.run,
        theme=args.theme,
        spec=specs[0] if specs else None,
    )
