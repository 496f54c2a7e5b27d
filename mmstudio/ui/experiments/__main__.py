"""``python -m mmstudio.ui.experiments [--db URL] [--run ID ...] [--screenshot FILE.png]``: the
Experiments page alone, on the default store or URL, with the runs ID selected."""

import sys

from mmstudio.ui.harness import Standalone, run


def _start(panel, args) -> None:
    from PySide6.QtCore import Qt

    def loaded(_count: int) -> None:
        if args.run:
            panel.select_runs(args.run)

    panel.runs_loaded.connect(loaded, Qt.ConnectionType.SingleShotConnection)


sys.exit(
    run(
        Standalone(
            "experiments",
            store=True,
            start=_start,
            settled=lambda panel, _args: panel.loaded,
            failure=lambda panel, _args: panel.message.error(),
            finish=lambda panel, _args: panel.shutdown(),
            timeout_s=60.0,
        )
    )
)
