"""The metrics a process counts as it works: requests, commands, events, its pools.

One `LedgerMetrics` per process, built by `bootstrap`. Alone, a process keeps them in a
registry of its own; among workers (bootstrap/metrics_directory.py) prometheus-client keeps
them in the shared directory and a scrape adds up every worker's. What the database says at
the moment of a scrape (positions, lag, parked events, rebuilds) is read then, by
api/ledger_gauges.py, not counted here.

On the hot paths (a command's request, the committer) only counters move: a few
increments per request or per insert, on children looked up once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from bootstrap.metrics_directory import forget_dead_workers
from eventstore.pool_use import PoolUse

log = logging.getLogger(__name__)

# Seconds; commands are answered in milliseconds, a waiting read in up to 5 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Commands decided in one committer insert (at most 256 submissions, 10,000 commands).
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 10_000)
# Methods a route may serve; anything else a client sends is counted as "other", so that
# no client can make new series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# How often a worker among several writes down how its pools are used (a scrape reads its
# own worker's pools at once, the others' as of their last sample).
POOL_SAMPLE_SECONDS = 5.0

RecordRequest = Callable[[float], None]


class LedgerMetrics:
    def __init__(self, shared_directory: Path | None = None) -> None:
        """`shared_directory`: the workers' directory when this process is one of several."""
        self.shared_directory = shared_directory
        self.registry = CollectorRegistry(auto_describe=True)
        # Among workers the values live in the directory's files, not in a registry.
        registry = None if shared_directory else self.registry
        self.requests = Counter(
            "ledger_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "ledger_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        commands = Counter(
            "ledger_commands",
            "Commands decided by the committer: appended (events written), unchanged (already "
            "so: nothing to write), refused (the command's own error), failed (not written: "
            "the database)",
            ["outcome"],
            registry=registry,
        )
        self._appended = commands.labels("appended")
        self._unchanged = commands.labels("unchanged")
        self._refused = commands.labels("refused")
        self._failed = commands.labels("failed")
        self._events = Counter(
            "ledger_events_appended", "Events appended to the log by this server", registry=registry
        )
        self._batch = Histogram(
            "ledger_commit_batch_commands",
            "Commands decided together in one insert of the committer",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self._pools = PoolGauges(registry)
        # Route, method and status → the request's counter and histogram children.
        self._recorders: dict[tuple[str, str, int], tuple[Callable[[], None], RecordRequest]] = {}
        self._sampling: threading.Thread | None = None
        self._stop = threading.Event()

    # Requests ---------------------------------------------------------------------

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        recorders = self._recorders.get((method, route, status))
        if recorders is None:
            recorders = self._recorders_for(method, route, status)
        count, observe = recorders
        count()
        observe(seconds)

    def _recorders_for(
        self, method: str, route: str, status: int
    ) -> tuple[Callable[[], None], RecordRequest]:
        counted = method if method in METHODS else "other"
        counter = self.requests.labels(counted, route, str(status))
        histogram = self.request_seconds.labels(counted, route)
        recorders = (counter.inc, histogram.observe)
        if counted == method:
            self._recorders[(method, route, status)] = recorders
        return recorders

    # The committer (ledger/committer.py's CommitMetrics) ------------------------------

    def decided(self, appended: int, unchanged: int, refused: int, events: int) -> None:
        if appended:
            self._appended.inc(appended)
        if unchanged:
            self._unchanged.inc(unchanged)
        if refused:
            self._refused.inc(refused)
        if events:
            self._events.inc(events)
            self._batch.observe(appended + unchanged + refused)

    def failed(self, commands: int) -> None:
        self._failed.inc(commands)

    # Pools --------------------------------------------------------------------------

    def sample_pools(self, uses: Iterable[PoolUse]) -> None:
        self._pools.sample(uses)

    def sample_pools_every(self, seconds: float, pools: Callable[[], list[PoolUse]]) -> None:
        """Among workers: samples this worker's pools on a thread of its own until `close`,
        so a scrape answered by another worker sees them too."""
        if self.shared_directory is None or self._sampling is not None:
            return

        def sample() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.sample_pools(pools())
                except Exception:  # a pool closing under us: the next sample will do
                    log.debug("sampling the pools failed", exc_info=True)

        self.sample_pools(pools())
        self._sampling = threading.Thread(target=sample, name="metrics-pools", daemon=True)
        self._sampling.start()

    def close(self) -> None:
        self._stop.set()

    # Scrapes ------------------------------------------------------------------------

    def collected(self) -> Collector:
        """What this process exports: its own registry, or every worker's files."""
        if self.shared_directory is None:
            return self.registry
        forget_dead_workers(self.shared_directory)
        workers = CollectorRegistry(auto_describe=True)
        MultiProcessCollector(workers, str(self.shared_directory))  # type: ignore[no-untyped-call]
        return workers


class PoolGauges:
    """How the connection pools are used. Among workers the gauges add up the living
    workers' samples; the counts since start become counters, moved by what changed since
    the last sample."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        labels = ["pool"]
        self.connections = Gauge(
            "ledger_db_pool_connections",
            "Database connections open, by pool and state (in_use, idle)",
            ["pool", "state"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.max_connections = Gauge(
            "ledger_db_pool_max_connections",
            "Most connections the pool may open",
            labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.waiting = Gauge(
            "ledger_db_pool_waiting_requests",
            "Requests waiting for a connection",
            labels,
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.requests = Counter(
            "ledger_db_pool_requests", "Connections handed out", labels, registry=registry
        )
        self.wait_seconds = Counter(
            "ledger_db_pool_wait_seconds",
            "Time requests spent waiting for a connection",
            labels,
            registry=registry,
        )
        self.errors = Counter(
            "ledger_db_pool_request_errors",
            "Requests for a connection that failed (timeout, pool full)",
            labels,
            registry=registry,
        )
        self.lost = Counter(
            "ledger_db_pool_connections_lost",
            "Connections found broken and replaced",
            labels,
            registry=registry,
        )
        self._last: dict[str, PoolUse] = {}
        self._lock = threading.Lock()

    def sample(self, uses: Iterable[PoolUse]) -> None:
        with self._lock:
            for use in uses:
                name = use.pool
                self.connections.labels(name, "in_use").set(use.connections_in_use)
                self.connections.labels(name, "idle").set(use.idle_connections)
                self.max_connections.labels(name).set(use.max_connections)
                self.waiting.labels(name).set(use.waiting_requests)
                last = self._last.get(name)
                for counter, now, before in (
                    (self.requests, use.requests, last.requests if last else 0),
                    (self.wait_seconds, use.wait_seconds, last.wait_seconds if last else 0),
                    (self.errors, use.request_errors, last.request_errors if last else 0),
                    (self.lost, use.connections_lost, last.connections_lost if last else 0),
                ):
                    counter.labels(name).inc(max(0, now - before))
                self._last[name] = use
