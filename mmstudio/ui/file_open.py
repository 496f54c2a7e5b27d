"""Files the desktop asks the running app to open, on macOS.

Finder opens a document in an app through an Apple event, not an argument: double-clicking a model
spec (the type ``packaging/bundle.info_plist`` declares), dropping a file on the Dock icon, or Open With.
Qt turns the event into a ``QFileOpenEvent`` sent to the application object, at start-up (often before
the main window exists) or while it runs. :class:`FileOpenController` opens each file exactly as
``mmstudio PATH`` does (:meth:`MainWindow.open_path`), keeping the ones that come before the window is
shown until it is.

Linux and Windows start the program with the file as its argument (``mmstudio %F``, ``"mmstudio.exe"
"%1"``), so :func:`listen_for_file_open` installs the controller on macOS only: an application-wide
event filter sees every event of every object, a Python call each, for nothing where Qt sends no
``FileOpen``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer

if TYPE_CHECKING:
    from mmstudio.ui.main_window import MainWindow


class FileOpenController(QObject):
    """Opens the files of ``QFileOpenEvent``s sent to ``app`` in the window given by :meth:`attach`;
    until a window is attached and shown, they wait in :attr:`pending`, in the order they came."""

    def __init__(self, app: QCoreApplication) -> None:
        super().__init__(app)
        self._app = app
        self._window: MainWindow | None = None
        #: Files asked for before the window was there to open them.
        self.pending: list[str] = []
        app.installEventFilter(self)

    def attach(self, window: MainWindow) -> None:
        """Open files in ``window`` from now on, starting with the pending ones once it is shown."""
        self._window = window
        if window.isVisible():
            self._open_pending()

    def remove(self) -> None:
        """Stop listening (the application outlives a window in the tests)."""
        self._app.removeEventFilter(self)
        self._window = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.FileOpen and watched is self._app:
            path = event.file()
            if not path:  # a URL of a scheme mmstudio does not register: not ours
                return False
            self.pending.append(path)
            if self._window is not None and self._window.isVisible():
                self._open_pending()
            return True
        if kind == QEvent.Type.Show and watched is self._window and self.pending:
            # The window's own show handling runs first; the files open on the next pass of the loop.
            QTimer.singleShot(0, self._open_pending)
        return False

    def _open_pending(self) -> None:
        window = self._window
        if window is None or not window.isVisible():
            return
        paths, self.pending = self.pending, []
        for path in paths:
            window.open_path(path)
        if paths:
            window.raise_()
            window.activateWindow()


def listen_for_file_open(app: QCoreApplication, platform: str | None = None) -> FileOpenController | None:
    """A :class:`FileOpenController` on ``app`` where the desktop sends ``QFileOpenEvent`` (macOS);
    None elsewhere, where the files come as arguments."""
    platform = sys.platform if platform is None else platform
    return FileOpenController(app) if platform == "darwin" else None
