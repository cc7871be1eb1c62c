"""How the PostgreSQL connection pools of this process are used, for the metrics.

psycopg_pool counts what it does (`get_stats`); this turns its counts into one plain value
per pool, so nothing above the seam knows psycopg_pool. SQLite has no pool to report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventsourcing.postgres import PostgresDatastore

from eventstore.async_reads import AsyncReadPool
from eventstore.database import Database, PostgresDatabase


@dataclass(frozen=True)
class PoolUse:
    pool: str  # "store" (the library's, every write and most reads) or "live-reads"
    open_connections: int
    idle_connections: int
    max_connections: int
    waiting_requests: int
    # Counted since the pool was opened:
    requests: int
    wait_seconds: float
    request_errors: int
    connections_lost: int

    @property
    def connections_in_use(self) -> int:
        return max(0, self.open_connections - self.idle_connections)


def pool_use(db: Database, live_reads: AsyncReadPool | None) -> list[PoolUse]:
    """Every pool of this process, as it is now (empty on SQLite)."""
    uses = []
    if isinstance(db, PostgresDatabase) and isinstance(db.datastore, PostgresDatastore):
        uses.append(of_stats("store", db.datastore.pool.get_stats()))
    if live_reads is not None:
        uses.append(of_stats("live-reads", live_reads.pool.get_stats()))
    return uses


def of_stats(name: str, stats: dict[str, Any]) -> PoolUse:
    # Counters psycopg_pool has not incremented yet are missing from its stats.
    return PoolUse(
        pool=name,
        open_connections=int(stats.get("pool_size", 0)),
        idle_connections=int(stats.get("pool_available", 0)),
        max_connections=int(stats.get("pool_max", 0)),
        waiting_requests=int(stats.get("requests_waiting", 0)),
        requests=int(stats.get("requests_num", 0)),
        wait_seconds=int(stats.get("requests_wait_ms", 0)) / 1000,
        request_errors=int(stats.get("requests_errors", 0)),
        connections_lost=int(stats.get("connections_lost", 0)),
    )
