"""``python -m mmstudio.ui.experiments [--db URL] [--run ID ...] [--group dataset|tag]
[--screenshot FILE.png]``: the Experiments page alone, on the default store or URL, with the runs ID
selected (and the runs grouped)."""

import sys

from mmstudio.ui.harness import Standalone, run


def _options(parser) -> None:
    from mmstudio.store.summaries import GROUP_BY

    parser.add_argument("--group", choices=GROUP_BY, help="list the runs under their dataset or tags")


def _start(panel, args) -> None:
    from PySide6.QtCore import Qt

    if args.group:
        panel.set_group_by(args.group)

    def loaded(_count: int) -> None:
        if args.run:
            panel.select_runs(args.run)

    panel.runs_loaded.connect(loaded, Qt.ConnectionType.SingleShotConnection)


sys.exit(
    run(
        Standalone(
            "experiments",
            store=True,
            options=_options,
            start=_start,
            settled=lambda panel, _args: panel.loaded,
            failure=lambda panel, _args: panel.message.error(),
            finish=lambda panel, _args: panel.shutdown(),
            timeout_s=60.0,
        )
    )
)
