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
from mmstudio.cli import data, db, gui, models, runs, train
from mmstudio.cli import zeroshot as zeroshot_command
from mmstudio.cli._common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, db_option
from mmstudio.store.errors import StoreError

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
    db.add_parsers(commands)
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
    except StoreError as exc:  # an unusable store (exit 2) or a failed write (exit 1), said in one line
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (``mmstudio runs list | head``): what it wanted was written.
        # Point stdout at nothing so the interpreter's final flush raises nothing either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the project's own errors become one line; any other is a bug: traceback
        code = _own_error_code(exc)
        if code is None:
            raise
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return code


# The project's own errors, by module and class, and the exit code each means wherever a command raises
# it: 2 for unusable input (a checkpoint, a spec, a run that cannot be resumed...), 1 for a failed job.
# Looked up in sys.modules, so main() imports none of them (nor torch): an error raised was imported.
_OWN_ERRORS = (
    ("mmstudio.training.checkpoints", "CheckpointError", EXIT_USAGE),
    ("mmstudio.models.spec", "SpecError", EXIT_USAGE),
    ("mmstudio.models.registry", "UnknownNameError", EXIT_USAGE),
    ("mmstudio.training.resume", "ResumeError", EXIT_USAGE),
    ("mmstudio.training.device", "DeviceUnavailableError", EXIT_USAGE),
    ("mmstudio.data.types", "DatasetFormatError", EXIT_USAGE),
    ("mmstudio.training.trainer", "TrainingFailed", EXIT_FAILED),
    ("mmstudio.training.exports", "ExportUnavailable", EXIT_FAILED),
)


def _own_error_code(exc: Exception) -> int | None:
    for module, name, code in _OWN_ERRORS:
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(exc, cls):
            return code
    return None


def _one_line(exc: Exception) -> str:
    """The error's message on one line (a SpecError lists its errors a line each; a KeyError's
    message is its first argument, not its repr)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = [line.strip().removeprefix("- ") for line in text.splitlines() if line.strip()]
    return " ".join([*lines[:1], "; ".join(lines[1:])] if len(lines) > 1 else lines)


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
    from mmstudio.training.spec import open_path_problem

    problem = open_path_problem(word)  # the desktop app says the same of a file it is asked to open
    if problem is None:
        return
    import difflib

    if os.sep in word or "/" in word or "." in word:  # meant as a path
        raise UsageError(problem)
    close = difflib.get_close_matches(word, commands, n=1)
    hint = f"did you mean 'mmstudio {close[0]}'? " if close else ""
    raise UsageError(
        f"'{word}' is neither a command nor a path; {hint}the commands are {', '.join(commands)} "
        "('mmstudio --help' says what each does)"
    )
