"""Thumbnails decoded off the GUI thread: :class:`ThumbnailLoader` decodes in its own ``QThreadPool``;
only rows that are painted ask for one, the newest request is served first, requests still queued when
the user scrolls away are dropped, and finished thumbnails sit in an LRU cache of ``QPixmap``. The
dataset gallery and the compare view's examples use it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

from PySide6.QtCore import (
    QObject,
    QThread,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QImage,
    QPixmap,
)

from mmstudio.data.types import ImageRef, Item

THUMB_SIZE = 128  # thumbnails fit in this square (aspect ratio kept: nothing is cropped away)
CACHE_SIZE = 800  # thumbnails kept (about 64 KiB each: ~50 MiB)
QUEUE_CAP = 256  # queued requests beyond this drop the oldest (the user has scrolled past them)
# --- thumbnails -------------------------------------------------------------------------------


class _DecodeSignals(QObject):
    decoded = Signal(object, int, QImage)  # the ImageRef, the loader's generation, the image (null: failed)


class _DecodeQueue:
    """The requests waiting for a decoder thread, shared with the pool threads (plain Python + a lock).

    Newest first (LIFO): what was painted last is what the user looks at. Beyond ``cap`` requests the
    oldest are dropped, and :meth:`drop_queued` drops them all (on scroll): rows still on screen are
    asked for again when they are painted.
    """

    def __init__(self, size: int, cap: int) -> None:
        self.size, self.cap = size, cap
        self.lock = threading.Lock()
        self.jobs: deque[tuple[int, ImageRef, int, int]] = deque()  # generation, image, width, height
        self.pending: set[ImageRef] = set()  # queued or being decoded
        self.active = 0  # decoder loops running in the pool
        self.signals = _DecodeSignals()

    def push(self, generation: int, item: Item, max_active: int) -> bool:
        """Queue ``item``'s image; True when a new decoder loop should be started."""
        ref = item.image
        with self.lock:
            if ref in self.pending:
                return False
            self.pending.add(ref)
            self.jobs.append((generation, ref, item.width, item.height))
            while len(self.jobs) > self.cap:
                old = self.jobs.popleft()[1]
                self.pending.discard(old)
            if self.active < max_active:
                self.active += 1
                return True
            return False

    def pop(self) -> tuple[int, ImageRef, int, int] | None:
        with self.lock:
            if self.jobs:
                return self.jobs.pop()
            self.active -= 1
            return None

    def done(self, ref: ImageRef) -> None:
        with self.lock:
            self.pending.discard(ref)

    def drop_queued(self) -> int:
        with self.lock:
            dropped = len(self.jobs)
            for job in self.jobs:
                self.pending.discard(job[1])
            self.jobs.clear()
            return dropped

    def clear(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.pending.clear()

    def is_pending(self, ref: ImageRef) -> bool:
        with self.lock:
            return ref in self.pending

    def run(self) -> None:  # in a pool thread: decode until the queue is empty
        while (job := self.pop()) is not None:
            generation, ref, width, height = job
            image = decode_thumbnail(ref, self.size, width, height)
            try:
                self.signals.decoded.emit(ref, generation, image)
            except RuntimeError:  # the application is closing: its objects are gone
                with self.lock:
                    self.jobs.clear()
                    self.pending.clear()
                    self.active -= 1
                return


def decode_thumbnail(ref: ImageRef, size: int = THUMB_SIZE, width: int = 0, height: int = 0) -> QImage:
    """``ref`` fit in a ``size`` x ``size`` box, aspect ratio kept, as a QImage (RGB, or RGBA for an
    image with transparency, which the gallery draws over the cell's background); a null QImage if it
    cannot be decoded. ``width`` and ``height`` (the image's size, when validation read it) are not
    needed any more: nothing is padded. Safe in any thread: QImage, unlike QPixmap, needs no GUI
    thread."""
    del width, height
    from mmstudio.data.images import decode_display

    try:
        array = decode_display(ref, size, enlarge=True)  # JPEG draft decoding, EXIF rotation, any mode
    except Exception:  # a bad image is shown as "no preview"; validation reported it if it could
        return QImage()
    return qimage(array)


def qimage(array) -> QImage:
    """An RGB or RGBA ``uint8`` array (H, W, 3 or 4) as a QImage that owns its pixels."""
    h, w, channels = array.shape
    format = QImage.Format.Format_RGBA8888 if channels == 4 else QImage.Format.Format_RGB888
    return QImage(array.data, w, h, channels * w, format).copy()  # copy: own the pixels


class ThumbnailLoader(QObject):
    """Decodes thumbnails in a dedicated thread pool and keeps the latest ones as ``QPixmap``.

    :meth:`thumbnail` answers from the cache or queues a request; :attr:`thumbnail_ready` says when one
    arrives. :meth:`clear` (a new dataset) bumps a generation counter, so decodes still running for the
    old dataset are dropped when they arrive.
    """

    thumbnail_ready = Signal(object)  # the ImageRef

    def __init__(
        self, parent: QObject | None = None, *, size: int = THUMB_SIZE, cache_size: int = CACHE_SIZE
    ) -> None:
        super().__init__(parent)
        self.size = size
        self._cache: OrderedDict[ImageRef, QPixmap] = OrderedDict()
        self._cache_size = cache_size
        self._generation = 0
        self._pool = QThreadPool(self)
        # Decoding is partly Python: every decoder thread competes with the GUI thread for the GIL.
        # One core is left to the GUI and at most two decode (measured: smoother scrolling).
        self._pool.setMaxThreadCount(max(1, min(2, QThread.idealThreadCount() - 1)))
        self._queue = _DecodeQueue(size, QUEUE_CAP)
        self._queue.signals.decoded.connect(self._on_queue_decoded)
        # Decoder loops start once the paint that asked for thumbnails is over (a zero timer): a
        # thread started in the middle of it would take the interpreter lock from the rest of it.
        self._starts = 0
        self._start_timer = QTimer(self)
        self._start_timer.setSingleShot(True)
        self._start_timer.setInterval(0)
        self._start_timer.timeout.connect(self._start_decoders)

    def thumbnail(self, item: Item) -> QPixmap | None:
        """The cached thumbnail of ``item`` (a null pixmap when its image cannot be decoded), or None
        after queueing it."""
        pixmap = self._cache.get(item.image)
        if pixmap is not None:
            self._cache.move_to_end(item.image)
            return pixmap
        self.request(item)
        return None

    def has(self, ref: ImageRef) -> bool:
        return ref in self._cache

    def request(self, item: Item) -> None:
        """Queue the decoding of ``item``'s thumbnail (nothing if it is cached or already queued)."""
        if item.image in self._cache:
            return
        if self._queue.push(self._generation, item, self._pool.maxThreadCount()):
            self._starts += 1
            if not self._start_timer.isActive():
                self._start_timer.start()

    def drop_queued(self) -> int:
        """Forget the requests no thread has started (the user scrolled away); returns how many."""
        return self._queue.drop_queued()

    def pending_count(self) -> int:
        with self._queue.lock:
            return len(self._queue.pending)

    def clear(self) -> None:
        """Drop every thumbnail and request (another dataset is shown)."""
        self._generation += 1
        self._queue.clear()
        self._cache.clear()

    def shutdown(self, timeout_ms: int = 2000) -> None:
        self._queue.clear()
        self._start_decoders()  # they find the queue empty and end
        self._pool.waitForDone(timeout_ms)

    def _start_decoders(self) -> None:
        self._start_timer.stop()
        starts, self._starts = self._starts, 0
        for _ in range(starts):
            self._pool.start(self._queue.run)

    def _on_queue_decoded(self, ref: ImageRef, generation: int, image: QImage) -> None:
        if generation != self._generation:
            return  # for a dataset no longer shown
        self._queue.done(ref)
        self._cache[ref] = QPixmap() if image.isNull() else QPixmap.fromImage(image)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self.thumbnail_ready.emit(ref)
