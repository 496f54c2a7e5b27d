"""The frozen app's entry point (``packaging/mmstudio.spec`` builds it into the ``mmstudio`` program).

It is ``mmstudio.cli.main`` with what a frozen program needs in front of it:

- ``multiprocessing.freeze_support()``: the training worker is a ``spawn`` process, started as
  ``sys.executable`` (this program) with multiprocessing's own arguments; those runs end here, in
  the worker, and never reach the command line.
- ``-m MODULE [ARGS]``: the app also starts itself as ``sys.executable -m mmstudio.training.device``
  (the device probe), and a page runs alone as ``-m mmstudio.ui.<page>``; a frozen program has no
  interpreter to take ``-m``, so it runs the bundled module here, as Python would.
"""

from __future__ import annotations

import multiprocessing
import sys


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = sys.argv[1:] if argv is None else argv
    if len(args) >= 2 and args[0] == "-m":
        import runpy

        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        return 0
    from mmstudio.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
