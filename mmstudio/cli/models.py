"""``mmstudio models pull|list|rm|import``: pretrained models on this machine (``models/fetch.py``).

Nothing here is imported at start: huggingface_hub and torch load inside the command that needs them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from mmstudio.cli._common import EXIT_FAILED, EXIT_OK, UsageError, json_option, print_json
from mmstudio.console import ProgressBar
from mmstudio.formatting import format_bytes, format_duration

EXIT_INTERRUPTED = 130


def add_parsers(commands) -> None:
    models = commands.add_parser(
        "models",
        help="fetch, list, remove and import pretrained models",
        description="Pretrained models on this machine. Hugging Face models live in the Hugging Face cache "
        "($HF_HOME/hub; HF_ENDPOINT and HF_HUB_OFFLINE are honoured), torchvision weights in "
        "$TORCH_HOME/hub/checkpoints, imported folders in mmstudio's data folder. Training never "
        "downloads: a model that is not here is an error that names 'mmstudio models pull'.",
    )
    sub = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)

    pull = sub.add_parser(
        "pull",
        help="fetch a model from the Hugging Face Hub or torchvision",
        description="Fetch a model: a Hugging Face id (org/name, optionally @revision) fetches only its "
        "config, tokenizer, processor and safetensors weights (never pickled weights; a model without "
        "safetensors is refused); torchvision:MODEL[.WEIGHTS] (e.g. torchvision:resnet18) fetches "
        "torchvision's weights file. Ctrl-C stops; pulling again fetches only what is missing.",
    )
    pull.add_argument("ref", metavar="REF", help="org/name[@revision] or torchvision:MODEL[.WEIGHTS]")
    pull.add_argument("--revision", metavar="R", help="a branch, tag or commit of a Hugging Face model")
    pull.add_argument("--quiet", action="store_true", help="no progress bar")
    json_option(pull, "what was fetched")
    pull.set_defaults(func=cmd_pull)

    ls = sub.add_parser(
        "list",
        help="list the models on this machine",
        description="List the models on this machine: id, source, size, revision and folder.",
    )
    json_option(ls, "a list of {id, source, revision, size_bytes, path}")
    ls.set_defaults(func=cmd_list)

    rm = sub.add_parser(
        "rm",
        help="remove a model from this machine",
        description="Remove a model: a Hugging Face id (every cached revision, or only @revision), an "
        "imported name, or torchvision:MODEL[.WEIGHTS].",
    )
    rm.add_argument("ref", metavar="REF")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask")
    rm.set_defaults(func=cmd_rm)

    imp = sub.add_parser(
        "import",
        help="import a model folder or weights file (for machines with no network)",
        description="Import a model copied from another machine: a folder that save_pretrained or a "
        "sentence-transformers export wrote (safetensors weights; pickled weights are refused) is copied "
        "into mmstudio's data folder and used as hf:NAME; a .safetensors or .pth file of torchvision "
        "weights is stored where torchvision looks for it (--name says for which model, e.g. resnet18).",
    )
    imp.add_argument("path", metavar="PATH", help="a model folder, or a .safetensors / .pth weights file")
    imp.add_argument(
        "--name", metavar="NAME", help="the model's name (default: the folder's name; for a file: the model)"
    )
    json_option(imp, "what was imported")
    imp.set_defaults(func=cmd_import)


class _BytesBar(ProgressBar):
    """The progress bar in bytes: ``model.safetensors  [####----]  12.0/45.8 MiB  3.1 MiB/s  ETA 00:11``."""

    def _draw(self, done: int, total: int, elapsed: float, extra: str) -> None:
        rate = done / elapsed if elapsed > 0 else 0.0
        frac = done / total if total else 1.0
        filled = int(self.width * min(1.0, frac))
        bar = "#" * filled + "-" * (self.width - filled)
        if done >= total:
            when = f"in {format_duration(elapsed)}"
        else:
            when = "ETA " + (format_duration((total - done) / rate) if rate > 0 else "--:--")
        amount = f"{format_bytes(done)} of {format_bytes(total)}"
        line = f"{self.label}  [{bar}]  {amount}  {format_bytes(rate)}/s  {when}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._drawn = True


def cmd_pull(args: argparse.Namespace) -> int:
    from mmstudio.models import fetch
    from mmstudio.progress import Cancelled

    bar = _BytesBar("downloading", enabled=not args.quiet)
    cancel = threading.Event()
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:  # the download threads report concurrently
            bar.update(done, total)

    previous = _on_ctrl_c(cancel)
    try:
        pulled = fetch.pull(args.ref, revision=args.revision, progress=progress, cancel=cancel)
    except Cancelled:
        bar.close()
        print("cancelled: the files fetched so far are kept; pull again to fetch the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ConnectionError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, PermissionError, ImportError) as exc:
        bar.close()
        raise UsageError(str(exc)) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    bar.close()
    if args.json:
        print_json(_pulled_doc(pulled))
        return EXIT_OK
    fetched = format_bytes(pulled.downloaded_bytes) if pulled.downloaded_bytes else "nothing new"
    print(
        f"{pulled.id} ({_short(pulled.revision)}): {format_bytes(pulled.size_bytes)} in {pulled.path} "
        f"(fetched {fetched} in {pulled.seconds:.1f} s)",
        file=sys.stderr,
    )
    if pulled.source == "huggingface":
        print(
            f"  use it as hf:{pulled.id} (mmstudio train --text-encoder or --image-encoder)", file=sys.stderr
        )
    else:
        print("  use it: the torchvision image encoder with --pretrained", file=sys.stderr)
    return EXIT_OK


def _pulled_doc(pulled) -> dict:
    return {
        "id": pulled.id,
        "source": pulled.source,
        "revision": pulled.revision,
        "size_bytes": pulled.size_bytes,
        "downloaded_bytes": pulled.downloaded_bytes,
        "seconds": round(pulled.seconds, 3),
        "path": str(pulled.path),
    }


def _on_ctrl_c(cancel: threading.Event):
    """The first Ctrl-C asks the download to stop at its next chunk (the download threads see it); a
    second one interrupts at once. Returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nstopping the download (Ctrl-C again to quit at once)", file=sys.stderr)

    return signal.signal(signal.SIGINT, handler)


def cmd_list(args: argparse.Namespace) -> int:
    from mmstudio.models import fetch

    models = fetch.list_models()
    if args.json:
        print_json([m.to_dict() for m in models])
        return EXIT_OK
    if not models:
        print("no pretrained models on this machine; 'mmstudio models pull ID' fetches one", file=sys.stderr)
        return EXIT_OK
    from mmstudio.console import table

    rows = [[m.id, m.source, format_bytes(m.size_bytes), _short(m.revision), str(m.path)] for m in models]
    print(table(rows, ["model", "source", "size", "revision", "path"]))
    return EXIT_OK


def _short(revision: str) -> str:
    """A commit hash or ``sha256:<hex>`` cut to 12 hex digits, as git shows them."""
    kind, sep, digest = revision.rpartition(":")
    return f"{kind}{sep}{digest[:12]}"


def cmd_rm(args: argparse.Namespace) -> int:
    from mmstudio.models import fetch

    ref = args.ref.strip().removeprefix("hf:")
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"'models rm {args.ref}' removes files: pass --yes to remove without asking")
        matching = [m for m in fetch.list_models() if _matches(m, ref)]
        if not matching:
            raise UsageError(f"{args.ref} is not on this machine; 'mmstudio models list' shows what is")
        size = format_bytes(sum(m.size_bytes for m in matching))
        answer = input(f"remove {', '.join(m.id for m in matching)} ({size})? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing removed", file=sys.stderr)
            return EXIT_OK
    try:
        gone = fetch.remove(ref)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    for m in gone:
        print(f"removed {m.id} ({_short(m.revision)}, {format_bytes(m.size_bytes)})", file=sys.stderr)
    return EXIT_OK


def _matches(model, ref: str) -> bool:
    base = ref.partition("@")[0]
    return model.id in (ref, base) or model.id.startswith(f"{ref}.") or model.id.partition("@")[0] == base


def cmd_import(args: argparse.Namespace) -> int:
    from mmstudio.models import fetch

    try:
        model = fetch.import_model(args.path, name=args.name)
    except (ValueError, OSError, ImportError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        print_json(model.to_dict())
        return EXIT_OK
    print(f"imported {model.id} ({format_bytes(model.size_bytes)}) to {model.path}", file=sys.stderr)
    if model.source == "imported":
        print(
            f"  use it as hf:{model.id} (mmstudio train --text-encoder or --image-encoder)", file=sys.stderr
        )
    else:
        print("  use it: the torchvision image encoder with --pretrained", file=sys.stderr)
    return EXIT_OK
