"""Reads and writes tried again once when a connection broke, never when none could be had.

The library retries each call ten times, and each try may wait the whole connect timeout
for the pool, so a request could hang for half a minute during an outage. A connection the
database dropped (it restarted) is worth one more try on a fresh one; a pool that could not
give one (PoolTimeout) would only make the caller wait twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout

F = TypeVar("F", bound=Callable[..., Any])


def retry_once(method: F) -> F:
    @wraps(method)
    def once_more(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (InterfaceError, OperationalError) as error:
            if isinstance(error.__cause__, PoolTimeout):
                raise  # no connection to be had: waiting again would only double the wait
            return method(*args, **kwargs)

    return once_more  # type: ignore[return-value]
