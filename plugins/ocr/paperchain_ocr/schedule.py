"""Which page a free worker recognizes next: the costliest page rendered and waiting.

Pages are rendered one at a time (PDFium is not thread-safe), smallest first, so the workers get
going at once and a huge page renders while they are busy. Each rendered page is given an
estimate of tesseract's time on it, and a free worker takes the largest waiting one: the
longest-job-first rule, which makes parallel workers finish close together. Page size is a poor
estimate (the shared sample's 81-megapixel poster page holds two lines of text and, cropped,
is its quickest page); the number of ink runs along the rows follows tesseract's time closely
(about 16 µs a run on the shared sample's pages, plus a fixed part per page).

At the start, workers wait until ``window`` pages are waiting (or every page is), so that their
first picks are made among several pages rather than whichever was rendered first.
"""

from __future__ import annotations

import heapq
import itertools
import threading

import numpy as np

from . import cpu, crop, kernels

# Tesseract's fixed time per page, in ink runs (about 0.1 s at 16 µs a run).
FIXED_RUNS = 6000


def estimated_cost(pixels: np.ndarray) -> int:
    """Tesseract's time on the page, in ink runs (only their order matters)."""
    gray = cpu.to_gray(pixels)
    return FIXED_RUNS + int(kernels.ink_runs(gray, crop.ink_level(gray)))


class Stopped(Exception):
    """The queue was stopped (a page failed): nothing more is taken or accepted."""


class PageQueue:
    """Rendered pages waiting for a worker; :meth:`take` returns the costliest."""

    def __init__(self, window: int):
        self._window = max(1, window)
        self._heap: list = []
        self._order = itertools.count()  # equal costs go in the order they came
        self._changed = threading.Condition()
        self._started = self._closed = self._stopped = False

    def put(self, cost: int, page) -> None:
        """Add a page; waits while ``window`` pages are already waiting. Raises Stopped."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or len(self._heap) < self._window)
            if self._stopped:
                raise Stopped
            heapq.heappush(self._heap, (-cost, next(self._order), page))
            self._started = self._started or len(self._heap) >= self._window
            self._changed.notify_all()

    def close(self) -> None:
        """No more pages will come."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def stop(self) -> None:
        """Drop the waiting pages and release everyone waiting (after a failure)."""
        with self._changed:
            self._stopped = True
            self._heap.clear()
            self._changed.notify_all()

    def take(self):
        """The costliest waiting page, or None when there are no more (closed or stopped)."""
        with self._changed:
            self._changed.wait_for(lambda: self._stopped or (self._heap and (self._started or self._closed))
                                   or (self._closed and not self._heap))
            if self._stopped or not self._heap:
                return None
            page = heapq.heappop(self._heap)[2]
            self._changed.notify_all()
            return page
