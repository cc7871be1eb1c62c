"""The process's cyclic garbage collector: paused while a batch is worked out, and tuned
once a long-running server has started.

A batch (an import, a projection batch) allocates a few hundred thousand objects (items,
events, stored rows) that all live until its answer is sent. Each of them triggers the
collector's generation counts, and the full collections that follow walk the whole heap:
measured, about 20 µs of CPU an event, a third of the batch's cost. Reference counting
still frees everything a batch drops; only cycles wait until the collector is on again,
when the last batch in flight finishes.

A busy server with CPython's default thresholds collects its youngest generation every 700
allocations and, every hundred or so of those, walks every object it holds (modules,
FastAPI's and pydantic's models, the aggregate caches): measured under 64 clients, that
cost more CPU than the commands themselves and paused requests for up to 200 ms.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Young objects between collections, then how many of the younger collections trigger
# the next older one: far fewer collections, each no slower.
SERVER_THRESHOLDS = (20_000, 20, 10)

_lock = threading.Lock()
_batches_in_flight = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _batches_in_flight, _was_enabled
    with _lock:
        if _batches_in_flight == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _batches_in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _batches_in_flight -= 1
            if _batches_in_flight == 0 and _was_enabled:
                gc.enable()


def tune_garbage_collector() -> None:
    """What exists once the server started lives as long as the process: freeze it, so no
    collection walks it again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_THRESHOLDS)
