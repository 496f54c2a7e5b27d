"""Render the screenshots in docs/images with the app itself (no display needed).

    python docs/make_screenshots.py [OUT_DIR]

Uses the same path as ``mmstudio gui --page PAGE PATH --screenshot FILE`` (:func:`mmstudio.ui.app`),
on the built-in demo dataset, plus a copy of it with broken rows for the validation report.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def broken_copy(folder: Path) -> Path:
    """A small dataset with one problem of each common kind, for the report's screenshot."""
    from mmstudio.data.demo import write_demo

    manifest = Path(write_demo(folder, n_items=400, image_size=64))
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    image, text = fields[0], next(k for k in fields if k in ("text", "caption"))
    (folder / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (folder / "images" / "notes.png").write_text("these are notes, not an image")
    rows[3][image] = "images/missing-0003.png"
    rows[9][image] = "images/missing-0009.png"
    rows[17][text] = "   "
    rows[25][image] = "images/corrupt.png"
    rows[31][image] = "images/notes.png"
    rows[44][image] = "../outside.png"
    rows[52]["label"] = ""
    with open(manifest, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def first_run(out: Path) -> None:
    """The window as a newcomer first sees it (an empty store, no dataset: the welcome and the tour's
    offer), and File > Settings… over it with one dataset's image cache. Run in a process of its own
    with a fresh MMSTUDIO_HOME (``make_screenshots.py --first-run OUT_DIR``)."""
    from mmstudio.data.cache import build_image_cache
    from mmstudio.data.dataset import load_dataset
    from mmstudio.data.demo import write_demo
    from mmstudio.ui.app import SCREENSHOT_SIZE, create_application, save_when_settled
    from mmstudio.ui.main_window import MainWindow
    from mmstudio.ui.settings import Settings

    app = create_application()
    window = MainWindow(Settings())
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    window.check_store()
    uncounted = lambda: not hasattr(window, "store_runs")  # noqa: E731  (the welcome waits for the count)
    save_when_settled(app, window, out / "gui-first-run.png", uncounted, lambda: "", 60, "first-run")
    demo = load_dataset(write_demo(Path(os.environ["MMSTUDIO_HOME"]) / "small", n_items=300))
    build_image_cache(demo.items, demo.fingerprint, size=64)
    dialog = window.show_settings()
    dialog.adjustSize()
    save_when_settled(app, dialog, out / "gui-settings.png", dialog.is_busy, lambda: "", 60, "settings")
    window.close()


def launch_export(out: Path) -> None:
    """The Train page with Export launch command… open over it (a job for 2 nodes of 4 GPUs under
    SLURM, into a team's PostgreSQL store), as one picture: the page dimmed as under a modal dialog.
    Run in a process of its own (``make_screenshots.py --launch-export OUT_DIR``)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QColor, QPainter

    from mmstudio.data.dataset import load_dataset
    from mmstudio.data.demo import write_demo
    from mmstudio.data.spec import DatasetSpec
    from mmstudio.ui.app import SCREENSHOT_SIZE, create_application, save_when_settled
    from mmstudio.ui.settings import Settings
    from mmstudio.ui.state import StudioState
    from mmstudio.ui.train.panel import TrainPanel

    app = create_application()
    home = Path(os.environ["MMSTUDIO_HOME"])
    folder = write_demo(home / "demo", n_items=300, image_size=32).parent
    state = StudioState()
    state.set_db_url("postgresql+psycopg://mmstudio@db.lab.example/runs")
    state.set_dataset(load_dataset(folder), DatasetSpec(path=str(folder)))
    state.set_model_spec(
        {
            "text_encoder": {"name": "textcnn"},
            "image_encoder": {"name": "small_cnn"},
            "fusion": {"name": "gated"},
        }
    )
    panel = TrainPanel(state, Settings(home / "settings.ini"))
    panel.resize(*SCREENSHOT_SIZE)
    panel.show()
    panel.form.name_edit.setText("gated-night")
    save_when_settled(
        app, panel, out / "gui-train-launch-export.png", panel.is_busy, lambda: "", 120, "train"
    )
    dialog = panel.export_launch()
    dialog.nproc_spin.setValue(4)
    dialog.nodes_spin.setValue(2)
    dialog.slurm_button.setChecked(True)
    dialog.partition_edit.setText("gpu")
    dialog.time_edit.setText("04:00:00")
    dialog.gpus_spin.setValue(4)
    dialog.cpus_spin.setValue(32)
    dialog.folder_edit.setText("/shared/launch/gated-night")
    save_when_settled(
        app, dialog, out / "gui-train-launch-dialog.png", lambda: False, lambda: "", 30, "dialog"
    )
    page, shown = panel.grab(), dialog.grab()
    painter = QPainter(page)
    painter.fillRect(page.rect(), QColor(0, 0, 0, 90))
    corner = QPoint((page.width() - shown.width()) // 2, (page.height() - shown.height()) // 2)
    painter.drawPixmap(corner, shown)
    painter.setPen(QColor(0, 0, 0, 110))
    painter.drawRect(corner.x() - 1, corner.y() - 1, shown.width() + 1, shown.height() + 1)  # its frame
    painter.end()
    page.save(str(out / "gui-train-launch-export.png"))
    (out / "gui-train-launch-dialog.png").unlink()
    dialog.close()
    panel.close()


def follow_run(out: Path, db_url: str, data: str) -> None:
    """The Train page following a run that another process trains into the store (``mmstudio train``
    started here, as it would be in a terminal or on another machine), once it has logged four epochs;
    the settings column hidden, the run takes the page. Run in a process of its own
    (``make_screenshots.py --follow OUT_DIR DB_URL DATASET``)."""
    import time

    from mmstudio.store import Store
    from mmstudio.ui.app import SCREENSHOT_SIZE, create_application, save_when_settled
    from mmstudio.ui.main_window import MainWindow
    from mmstudio.ui.settings import Settings

    train = ["train", "--data", data, "--epochs", "8", "--batch-size", "16", "--name", "demo-elsewhere"]
    train.append("--quiet")
    trainer = subprocess.Popen([sys.executable, "-m", "mmstudio", "--db", db_url, *train])
    try:
        app = create_application()
        window = MainWindow(Settings(), db_url=db_url)
        window.resize(*SCREENSHOT_SIZE)
        window.show()
        running: list = []
        deadline = time.monotonic() + 300
        while not running and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.5)
            with Store.open(db_url, read_only=True) as store:
                running = store.list_runs(status="running")
        if not running:
            raise RuntimeError("the training process recorded no running run")
        window.state.follow_requested.emit(running[0].id)  # as Follow live on the Experiments page
        window.train.settings_action.setChecked(False)
        view = window.train.run_view

        def busy() -> bool:
            update = view.follower.last_update
            return window.is_busy() or update is None or (update.state.last_epoch or 0) < 4

        save_when_settled(app, window, out / "gui-train-follow.png", busy, lambda: "", 600, "train")
        window.close()
    finally:
        trainer.terminate()
        trainer.wait()


def main() -> int:
    if sys.argv[1:2] == ["--first-run"]:
        first_run(Path(sys.argv[2]))
        return 0
    if sys.argv[1:2] == ["--launch-export"]:
        launch_export(Path(sys.argv[2]))
        return 0
    if sys.argv[1:2] == ["--follow"]:
        follow_run(Path(sys.argv[2]), sys.argv[3], sys.argv[4])
        return 0
    if sys.argv[1:2] and sys.argv[1].startswith("-"):  # --help, or a mode mistyped: not a folder
        print(f"usage: {Path(__file__).name} [OUT_DIR]  (default: docs/images)", file=sys.stderr)
        return 0 if sys.argv[1] in ("-h", "--help") else 2
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "images")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mmstudio-shots-"))
    env = {**os.environ, "MMSTUDIO_HOME": str(work / "home")}
    if not env.get("DISPLAY") and sys.platform.startswith("linux"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    gui = [sys.executable, "-m", "mmstudio", "gui"]
    try:
        fresh = {**env, "MMSTUDIO_HOME": str(work / "first-run")}  # nothing there yet: a first run
        subprocess.run([sys.executable, __file__, "--first-run", str(out)], env=fresh, check=True)
        subprocess.run([sys.executable, __file__, "--launch-export", str(out)], env=fresh, check=True)
        for page in ("datasets", "model"):
            subprocess.run(
                [*gui, "--page", page, "--demo", "--screenshot", str(out / f"gui-{page}.png")],
                env=env,
                check=True,
            )
        from mmstudio.data.demo import ensure_demo

        os.environ["MMSTUDIO_HOME"] = env["MMSTUDIO_HOME"]  # the demo the gui commands above wrote
        demo = ensure_demo()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mmstudio.ui.datasets",
                str(demo),
                "--tab",
                "statistics",
                "--screenshot",
                str(out / "gui-statistics.png"),
                "--size",
                "1280x760",
            ],
            env=env,
            check=True,
        )
        # Two short real runs on a small demo, for the Experiments and Compare pages.
        small = work / "small"
        subprocess.run(
            [*gui[:-1], "demo", str(small), "--items", "600", "--image-size", "32"], env=env, check=True
        )
        db = ["--db", f"sqlite:///{work / 'store.db'}"]
        for fusion in ("concat", "gated"):
            train = [
                "train",
                "--data",
                str(small),
                "--fusion",
                fusion,
                "--epochs",
                "3",
                "--name",
                f"demo-{fusion}",
            ]
            subprocess.run([*gui[:-1], *db, *train, "--quiet"], env=env, check=True)
        subprocess.run(
            [
                *gui[:-1],
                *db,
                "gui",
                "--page",
                "experiments",
                "--screenshot",
                str(out / "gui-experiments.png"),
            ],
            env=env,
            check=True,
        )
        subprocess.run(
            [
                *gui[:-1],
                *db,
                "gui",
                "--page",
                "compare",
                "--run",
                "1",
                "--run",
                "2",
                "--screenshot",
                str(out / "gui-compare.png"),
            ],
            env=env,
            check=True,
        )
        # a run that another process trains, followed from the store (issue 15)
        follow_db = f"sqlite:///{work / 'follow.db'}"
        follow = [sys.executable, __file__, "--follow", str(out), follow_db, str(small)]
        subprocess.run(follow, env=env, check=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mmstudio.ui.train",
                str(small),
                "--demo-run",
                "--epochs",
                "4",
                "--screenshot",
                str(out / "gui-train.png"),
            ],
            env=env,
            check=True,
        )
        # The same two pages in the dark palette (issue 12: every page follows it, charts included).
        for page, extra in (("compare", ["--run", "1", "--run", "2"]), ("experiments", [])):
            subprocess.run(
                [*gui[:-1], *db, "gui", "--page", page, *extra, "--theme", "dark", "--screenshot",
                 str(out / f"gui-{page}-dark.png")],
                env=env,
                check=True,
            )  # fmt: skip
        subprocess.run(
            [*gui[:-1], "gui", "--page", "model", "--demo", "--theme", "dark", "--screenshot",
             str(out / "gui-model-dark.png")],
            env=env,
            check=True,
        )  # fmt: skip
        broken = broken_copy(work / "broken")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mmstudio.ui.datasets",
                str(broken),
                "--tab",
                "report",
                "--screenshot",
                str(out / "gui-report.png"),
                "--size",
                "1280x720",
            ],
            env=env,
            check=True,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
