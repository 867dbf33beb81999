"""Page scheduling: the costliest waiting page goes first; failures stop everyone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from paperchain_ocr import schedule


def test_the_costliest_waiting_page_is_taken_first_and_ties_keep_their_order():
    queue = schedule.PageQueue(window=4)
    for cost, page in [(5, "a"), (9, "b"), (5, "c"), (1, "d")]:
        queue.put(cost, page)
    queue.close()
    assert [queue.take() for _ in range(5)] == ["b", "a", "c", "d", None]


def test_workers_wait_for_a_full_window_or_the_last_page_before_the_first_pick():
    queue = schedule.PageQueue(window=3)
    taken = []
    worker = threading.Thread(target=lambda: taken.append(queue.take()))
    worker.start()
    queue.put(1, "small")
    queue.put(2, "medium")
    worker.join(0.2)
    assert worker.is_alive() and not taken  # two of three: still waiting
    queue.put(7, "large")
    worker.join(5)
    assert taken == ["large"]
    short = schedule.PageQueue(window=3)
    short.put(1, "only")
    short.close()
    assert short.take() == "only" and short.take() is None


def test_a_full_window_holds_the_renderer_back_and_stop_releases_everyone():
    queue = schedule.PageQueue(window=1)
    queue.put(1, "first")
    outcome = []

    def render_more():
        try:
            queue.put(2, "second")
            outcome.append("put")
        except schedule.Stopped:
            outcome.append("stopped")

    renderer = threading.Thread(target=render_more)
    renderer.start()
    renderer.join(0.2)
    assert renderer.is_alive()  # waits for room
    queue.stop()
    renderer.join(5)
    assert outcome == ["stopped"] and queue.take() is None


def test_cost_estimate_follows_the_ink_not_the_page_size():
    sparse = np.full((3000, 3000), 255, np.uint8)
    sparse[100:140, 100:1000:4] = 0  # one line of strokes on a big page
    dense = np.full((1000, 1000), 255, np.uint8)
    dense[::20, :] = 0
    dense[:, ::3] = 0
    assert schedule.estimated_cost(dense) > schedule.estimated_cost(sparse) > schedule.FIXED_RUNS


def test_a_failing_page_fails_the_step_and_stops_the_other_workers(specs, documents, monkeypatch):
    from paperchain_ocr import engine
    from paperchain_sdk import Document
    from paperchain_sdk.testing import run_component

    real = engine.recognize_file
    calls = []

    def flaky(path, **options):
        calls.append(options["page_label"])
        if options["page_label"].endswith("page 5"):
            raise RuntimeError("tesseract crashed on page 5")
        return real(path, **options)

    monkeypatch.setattr(engine, "recognize_file", flaky)
    with pytest.raises(Exception, match="page 5"):
        run_component(specs["ocr.recognize"], document=Document.from_path(documents / "multipage.pdf"),
                      options={"jobs": 2, "dpi": 100, "outputs": []})
    assert len(calls) < 5  # the pages still waiting were dropped
