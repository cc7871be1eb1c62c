"""Drift test for eventstore/pool_reconnects.py, which wraps psycopg_pool's private
`_add_connection`: a pool that cannot connect tries again about every second (the library's
own backoff doubles the wait: 1, 2, 4 s), and other pools keep the library's backoff."""

from __future__ import annotations

import inspect
import threading
import time
from itertools import pairwise
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from eventstore.pool_reconnects import reconnect_steadily
from tests.conftest import free_port
from tests.processes import wait_until


def attempts_of(pool: ConnectionPool[Any], count: int) -> list[float]:
    """When the pool tried to connect, once it has tried `count` times."""
    times: list[float] = []
    seen = threading.Condition()
    connect = pool._connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        with seen:
            times.append(time.monotonic())
        return connect(*args, **kwargs)

    pool._connect = counted  # type: ignore[method-assign]
    pool.open(wait=False)
    try:
        wait_until(lambda: len(times) >= count, 30, f"{count} connection attempts")
    finally:
        pool.close(timeout=0)
    return times


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_steady_pool_retries_every_second_and_leaves_other_pools_alone() -> None:
    nowhere = f"host=127.0.0.1 port={free_port()} connect_timeout=1"
    steady: ConnectionPool[Any] = ConnectionPool(nowhere, min_size=1, open=False)
    reconnect_steadily(steady)
    other: ConnectionPool[Any] = ConnectionPool(nowhere, min_size=1, open=False)

    steady_times = attempts_of(steady, 4)
    gaps = [b - a for a, b in pairwise(steady_times[1:])]
    assert max(gaps) < 1.5, gaps

    other_times = attempts_of(other, 3)
    assert other_times[2] - other_times[1] > 1.6  # the library's doubling is untouched


def test_the_private_steps_keep_the_shape_the_wrappers_call() -> None:
    for pool_class in (ConnectionPool, AsyncConnectionPool):
        parameters = list(inspect.signature(pool_class._add_connection).parameters)
        assert parameters == ["self", "attempt", "growing"], pool_class
