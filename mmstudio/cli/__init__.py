"""The ``mmstudio`` command line (the contract is in DESIGN.md).

Exit codes: 0 success, 1 the job failed (message on stderr), 2 bad usage or unusable input.
Heavy imports (torch, Qt, the store) happen inside the command that needs them, so ``--help`` and
``data check`` start fast. Each group of commands lives in its own module with an ``add_parsers``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mmstudio import __version__
from mmstudio.cli import data, gui, models, runs, train
from mmstudio.cli import zeroshot as zeroshot_command
from mmstudio.cli._common import EXIT_OK, EXIT_USAGE, UsageError, db_option

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmstudio",
        description="A studio for multimodal (text + image) deep-learning experiments: load a paired "
        "dataset, validate it, train encoder + fusion models and compare every run.",
        epilog="Run 'mmstudio COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"mmstudio {__version__}")
    db_option(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    data.add_parsers(commands)
    train.add_parsers(commands)
    runs.add_parsers(commands)
    models.add_parsers(commands)
    zeroshot_command.add_parsers(commands)
    gui.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = _default_to_gui(argv, parser)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (``mmstudio runs list | head``): what it wanted was written.
        # Point stdout at nothing so the interpreter's final flush raises nothing either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _default_to_gui(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """``mmstudio`` and ``mmstudio PATH`` open the GUI (DESIGN.md: ``mmstudio [gui] [PATH]``); global
    options such as ``--db URL`` may come first. A first word that is neither a command nor an existing
    path (or a shard pattern) is a usage error that names the commands, never the GUI."""
    commands = set(parser._subparsers._group_actions[0].choices)  # the registered command names
    rest, n = argv, 0
    while n < len(rest) and rest[n].startswith("-"):
        if rest[n] in ("-h", "--help", "--version"):
            return argv
        n += 1 if "=" in rest[n] else 2  # --db URL
    if n >= len(rest):
        return [*argv, "gui"] if n == len(rest) else argv
    if rest[n] in commands:
        return argv
    _check_path(rest[n], sorted(commands))
    return [*argv[:n], "gui", *argv[n:]]


def _check_path(word: str, commands: list[str]) -> None:
    """Raise :class:`UsageError` unless ``word`` is a path that exists or a shard pattern."""
    from mmstudio.data.sources import is_pattern

    if os.path.exists(os.path.expanduser(word)) or is_pattern(word):
        return
    import difflib

    if os.sep in word or "/" in word or "." in word:  # meant as a path
        raise UsageError(f"{word} does not exist; 'mmstudio PATH' opens an existing dataset folder or file")
    close = difflib.get_close_matches(word, commands, n=1)
    hint = f"did you mean 'mmstudio {close[0]}'? " if close else ""
    raise UsageError(
        f"'{word}' is neither a command nor a path; {hint}the commands are {', '.join(commands)} "
        "('mmstudio --help' says what each does)"
    )
