"""``python -m mmstudio.ui.compare --run A --run B ... [--tab TAB] [--metric KEY] [--screenshot FILE.png]``:
the Compare page alone, on the default store or ``--db URL``."""

import sys

from mmstudio.ui.harness import Standalone, run


def _options(parser) -> None:
    from mmstudio.ui.compare.panel import TABS

    parser.add_argument("--tab", choices=TABS, default="curves", help="the tab shown (default: curves)")
    parser.add_argument("--metric", help="the metric of the curves tab")


def _start(panel, args) -> None:
    panel.show_tab(args.tab)
    if args.metric:
        panel.comparison_loaded.connect(lambda _c: panel.set_metric(args.metric))
    panel.set_runs(args.run)


sys.exit(
    run(
        Standalone(
            "compare",
            store=True,
            options=_options,
            start=_start,
            settled=lambda panel, _args: panel.comparison is not None,
            failure=lambda panel, _args: panel.message.error(),
            finish=lambda panel, _args: panel.shutdown(),
            timeout_s=120.0,
        )
    )
)
