"""Where the live projection stands, read straight from the bench's schema."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from bench.raw_limits import events_table
from bootstrap import Settings


def live_position(connection: psycopg.Connection[Any], settings: Settings) -> int:
    row = connection.execute(
        f'SELECT position FROM "{settings.database_schema}".projection_generations '
        "WHERE status = 'live'"
    ).fetchone()
    return int(row[0]) if row else 0


def head_position(connection: psycopg.Connection[Any], settings: Settings) -> int:
    row = connection.execute(
        sql.SQL("SELECT max(notification_id) FROM {0}").format(events_table(settings))
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def events_between(
    connection: psycopg.Connection[Any], settings: Settings, after: int, until: int
) -> int:
    """The events stored in (after, until]: positions may have gaps, the count has none."""
    row = connection.execute(
        sql.SQL(
            "SELECT count(*) FROM {0} WHERE notification_id > %s AND notification_id <= %s"
        ).format(events_table(settings)),
        (after, until),
    ).fetchone()
    return int(row[0]) if row else 0


def wait_caught_up(settings: Settings, position: int, timeout: float = 300) -> int:
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        return caught_up(connection, settings, position, timeout)


def caught_up(
    connection: psycopg.Connection[Any], settings: Settings, position: int, timeout: float = 300
) -> int:
    """Waits until the live projection has applied `position`; returns where it stands."""
    deadline = time.monotonic() + timeout
    while (applied := live_position(connection, settings)) < position:
        if time.monotonic() > deadline:
            raise RuntimeError("the projector did not catch up")
        time.sleep(0.05)
    return applied


def percentiles(seconds: list[float]) -> dict[str, Any]:
    """Samples in seconds → their count, p50 and p99 in ms (nearest rank)."""
    ordered = sorted(seconds)
    if not ordered:
        return {"samples": 0, "p50_ms": float("nan"), "p99_ms": float("nan")}
    return {
        "samples": len(ordered),
        "p50_ms": ordered[len(ordered) // 2] * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }
