"""The one range an event time may take, whatever way it comes in (a single route, a batch
item, an import line, the xAPI intake to come).

From 1970-01-01T00:00:00Z, no learner completed anything in this ledger before the Unix
epoch, and a floor far from year 1 keeps every stored time inside what every database and
every UTC offset can represent (0001-01-01T00:00:00+00:01 is before year 1 in UTC, and
PostgreSQL refuses it). Until 5 minutes after now: a clock a little ahead is tolerated, a date
far in the future is a client bug (and 9999-12-31T23:59:59-12:00 is after year 9999 in UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(minutes=5)

OUT_OF_RANGE = (
    "must be from 1970-01-01T00:00:00Z to 5 minutes after now (the clock skew allowed), "
    "with a UTC offset"
)


class EventTimeOutOfRange(ValueError):
    """An event time outside the range; the message says the range."""


def checked_event_time(value: datetime) -> datetime:
    """`value` when it is in range (aware, from the epoch to now plus the skew), else raises.

    Aware datetimes compare by their UTC instant without converting, so an offset that would
    carry the value past year 1 or year 9999 compares correctly instead of overflowing."""
    if value.utcoffset() is None:
        raise EventTimeOutOfRange(OUT_OF_RANGE)
    if value < EARLIEST_EVENT_TIME or value > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise EventTimeOutOfRange(OUT_OF_RANGE)
    return value
