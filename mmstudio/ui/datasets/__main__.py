"""``python -m mmstudio.ui.datasets [PATH ...] [--tab gallery|report|statistics] [--screenshot FILE.png]``:
the Datasets page alone, with PATH or the built-in demo dataset."""

import sys

from mmstudio.ui.harness import Standalone, run


def _options(parser) -> None:
    from mmstudio.ui.datasets.panel import TABS

    parser.add_argument("--tab", choices=TABS, default="gallery", help="the tab to show (default: gallery)")


def _open(panel, args) -> None:
    """The page opens the dataset itself (detection, the column dialog, the gallery)."""
    from PySide6.QtWidgets import QFileDialog

    from mmstudio.data.demo import ensure_demo

    def open_demo() -> None:
        panel.open_path(str(ensure_demo()))

    def ask_for_path() -> None:
        chosen, _ = QFileDialog.getOpenFileName(panel, "Open a dataset")
        if chosen:
            panel.open_path(chosen)

    def finished(dataset) -> None:
        if dataset is None:
            args.failures.append(f"the dataset did not load: {panel.error_message()}")
        panel.show_tab(args.tab)

    panel.open_requested.connect(ask_for_path)
    panel.demo_requested.connect(open_demo)
    panel.loading_finished.connect(finished)
    panel.ask_columns = not args.screenshot  # nobody is there to answer the column dialog
    if args.path:
        panel.open_path(args.path if len(args.path) > 1 else args.path[0], format=args.format)
    else:
        open_demo()


sys.exit(
    run(
        Standalone(
            "datasets",
            dataset=True,
            options=_options,
            open_dataset=_open,
            settled=lambda panel, _args: not panel.is_loading(),
            timeout_s=600.0,
        )
    )
)
