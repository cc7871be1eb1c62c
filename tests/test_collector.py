"""The garbage collector is paused only while batches are in flight, however they overlap."""

from __future__ import annotations

import gc
import threading

from projections.collector import collector_paused
from tests.deadlines import DEADLINE


def test_the_collector_comes_back_when_the_last_batch_is_done() -> None:
    assert gc.isenabled()
    first_in = threading.Event()
    second_out = threading.Event()
    seen: list[bool] = []

    def first_batch() -> None:
        with collector_paused():
            first_in.set()
            second_out.wait(timeout=DEADLINE)
            seen.append(gc.isenabled())

    worker = threading.Thread(target=first_batch)
    worker.start()
    first_in.wait(timeout=DEADLINE)
    with collector_paused():
        seen.append(gc.isenabled())
    second_out.set()
    worker.join(timeout=DEADLINE)

    assert seen == [False, False]
    assert gc.isenabled()


def test_a_failing_batch_gives_the_collector_back() -> None:
    try:
        with collector_paused():
            raise ValueError("a batch that failed")
    except ValueError:
        pass
    assert gc.isenabled()
