"""What the database says at the moment of a scrape: the log's head, each projecting
generation's position, lag and events/s, rebuilds, parked events.

Read at scrape time (three statements), so they hold whichever process projects (this
one, another worker, `progress-ledger project` or a `rebuild` run from the CLI) and any
worker may answer the scrape. When the database does not answer, the scrape still does,
with `ledger_database_up 0` and the counters of the processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from api.routers.projections import events_per_second
from bootstrap import LedgerServices
from projections.generations import Generation

log = logging.getLogger(__name__)

# Generations that move: the live one and those being rebuilt.
PROJECTING = frozenset({"live", "building"})
# A live generation's events/s is measured between two scrapes at least this far apart.
RATE_WINDOW_SECONDS = 1.0


class PositionRates:
    """Events/s of the live generation: how far its position moved since an earlier scrape
    of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, tuple[float, int]] = {}

    def per_second(self, generation: int, position: int) -> float:
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(generation)
            if seen is None:
                self._seen[generation] = (now, position)
                return 0.0
            then, before = seen
            if now - then >= RATE_WINDOW_SECONDS:
                self._seen[generation] = (now, position)
            elapsed = now - then
            return max(0, position - before) / elapsed if elapsed > 0 else 0.0


class LedgerGauges:
    """A prometheus-client collector over the services' database."""

    def __init__(self, services: LedgerServices) -> None:
        self.services = services
        self.rates = PositionRates()

    def collect(self) -> Iterator[Metric]:
        services = self.services
        up = GaugeMetricFamily("ledger_database_up", "1 when the database answered the scrape")
        try:
            head = services.ledger.head_position()
            generations = services.generations.all()
            parked = services.engine.parked.counts()
        except Exception:  # the database is away: the scrape still tells what it can
            log.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield gauge("ledger_log_head_position", "Position of the log's last event", head)
        yield self.generation_info(generations)
        projecting = [g for g in generations if g.status in PROJECTING]
        yield from self.positions(projecting, head)
        yield from self.parked(projecting, parked)
        yield from self.live(generations, head)
        yield from self.rebuilds(projecting, head)

    @staticmethod
    def generation_info(generations: list[Generation]) -> Metric:
        info = GaugeMetricFamily(
            "ledger_projection_generation_info",
            "Every projection generation, its rules and status (always 1)",
            labels=["generation", "rules", "status"],
        )
        for generation in generations:
            info.add_metric([str(generation.number), generation.rules, generation.status], 1)
        return info

    def positions(self, projecting: list[Generation], head: int) -> Iterator[Metric]:
        position = labelled("ledger_projection_position", "Log position the generation applied")
        lag = labelled("ledger_projection_lag_events", "Events the generation is behind the head")
        rate = labelled(
            "ledger_projection_events_per_second",
            "Events the generation applies per second (live: since an earlier scrape; "
            "building: the rebuild's own measure)",
        )
        for generation in projecting:
            number = str(generation.number)
            position.add_metric([number], generation.position)
            lag.add_metric([number], max(0, head - generation.position))
            rate.add_metric([number], self.events_per_second(generation))
        yield from (position, lag, rate)

    def events_per_second(self, generation: Generation) -> float:
        if generation.status == "live":
            return self.rates.per_second(generation.number, generation.position)
        return events_per_second(self.services, generation) or 0.0

    @staticmethod
    def parked(
        projecting: list[Generation], parked: dict[int, tuple[int, int]]
    ) -> Iterator[Metric]:
        events = labelled(
            "ledger_projection_parked_events", "Events the generation could not apply, parked"
        )
        streams = labelled("ledger_projection_held_streams", "Streams held behind a parked event")
        for generation in projecting:
            parked_events, held_streams = parked.get(generation.number, (0, 0))
            events.add_metric([str(generation.number)], parked_events)
            streams.add_metric([str(generation.number)], held_streams)
        yield from (events, streams)

    def live(self, generations: list[Generation], head: int) -> Iterator[Metric]:
        live = [g for g in generations if g.status == "live"]
        if not live:
            return
        yield gauge("ledger_projection_live_generation", "The live generation", live[0].number)
        stalled = self.services.progress_watch.stalled_for(live[0].position, head)
        yield gauge(
            "ledger_projection_stalled_seconds",
            "Seconds the live projection has been behind the head without moving",
            stalled,
        )

    @staticmethod
    def rebuilds(projecting: list[Generation], head: int) -> Iterator[Metric]:
        building = [g for g in projecting if g.status == "building"]
        yield gauge("ledger_rebuilds_running", "Generations being rebuilt", len(building))
        progress = labelled(
            "ledger_rebuild_progress_ratio", "How far a rebuild has got: position / head (0-1)"
        )
        for generation in building:
            done = min(1.0, generation.position / head) if head else 1.0
            progress.add_metric([str(generation.number)], done)
        yield progress


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def labelled(name: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=["generation"])
