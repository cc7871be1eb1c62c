"""The delivery worker: leases subscriptions with pending outbox rows and sends each one's
deliveries in log order, each subscription on a thread of its own, so a slow, failing or
dead receiver holds up only its own subscription (and never a command or the projection,
which only wrote a row).

Runs inside `serve` (LEDGER_DELIVER_WEBHOOKS, the default) and as `progress-ledger deliver`;
any number of them may run on one PostgreSQL database.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from eventsourcing.persistence import PersistenceError

from eventstore.database import Database
from webhooks.queue import DeliveryQueue, Lease
from webhooks.sending import send

log = logging.getLogger(__name__)

# Deliveries sent on one lease before the subscription is given back (others get a turn).
PER_LEASE = 100


@dataclass(frozen=True)
class DeliveryOptions:
    # How long a delivery is retried after its first attempt before it is given up.
    retry_seconds: float = 86_400.0
    timeout_seconds: float = 10.0
    # The first retry's mean wait; each later one doubles, up to backoff_max_seconds.
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 600.0
    # Subscriptions delivered to at once by this process.
    concurrency: int = 8
    poll_seconds: float = 0.2


def backoff(attempts: int, options: DeliveryOptions) -> float:
    """Exponential, with jitter (half fixed, half random) so that receivers coming back
    are not hit by every worker at once."""
    ceiling: float = min(options.backoff_max_seconds, options.backoff_seconds * 2 ** (attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


class Deliverer:
    def __init__(self, db: Database, options: DeliveryOptions) -> None:
        self.queue = DeliveryQueue(db)
        self.options = options
        # Shown on each attempt: which process (and which of its starts) sent it.
        self.worker = f"deliverer-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    @property
    def lease_seconds(self) -> float:
        # Longer than one send can take, so a live worker never loses its lease mid-send.
        return self.options.timeout_seconds * 2 + 5

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="webhook-delivery", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.options.timeout_seconds + 5)

    def run(self) -> None:
        """Claims and delivers until stopped; survives database outages."""
        options = self.options
        with ThreadPoolExecutor(options.concurrency, "webhook-send") as pool:
            while not self._stop.is_set():
                try:
                    claimed = self._claim()
                except PersistenceError as error:
                    log.warning("webhook delivery paused: %s", error)
                    claimed = []
                for lease in claimed:
                    pool.submit(self._deliver, lease)
                self._stop.wait(options.poll_seconds)

    def _claim(self) -> list[Lease]:
        with self._lock:
            free = self.options.concurrency - len(self._busy)
        if free <= 0:
            return []
        now = time.time()
        claimed = self.queue.claim(self.worker, now, now + self.lease_seconds, free)
        with self._lock:
            self._busy.update(lease.subscription_id for lease in claimed)
        return claimed

    def _deliver(self, lease: Lease) -> None:
        next_attempt_at: float | None = None
        try:
            next_attempt_at = self._deliver_in_order(lease)
        except Exception:
            log.exception("webhook delivery to %s failed", lease.subscription_id)
            next_attempt_at = time.time() + self.options.backoff_seconds
        finally:
            try:
                self.queue.release(lease, self.worker, next_attempt_at)
            except Exception:  # the lease expires by itself
                log.exception("could not release webhook %s", lease.subscription_id)
            with self._lock:
                self._busy.discard(lease.subscription_id)

    def _deliver_in_order(self, lease: Lease) -> float | None:
        """Sends the subscription's pending deliveries in log order until one fails (then
        returns when to try again) or none is left."""
        options = self.options
        for _ in range(PER_LEASE):
            if self._stop.is_set():
                return None
            delivery = self.queue.head(lease)
            if delivery is None:
                return None
            now = time.time()
            attempt = self.queue.begin(lease, self.worker, delivery, now, now + self.lease_seconds)
            if attempt is None:
                return None
            started = time.monotonic()
            outcome = send(lease.url, lease.secret, delivery, options.timeout_seconds)
            took_ms = (time.monotonic() - started) * 1000
            if outcome.ok:
                self.queue.delivered(attempt, outcome.status or 200, took_ms)
                continue
            first = delivery.first_attempt_at or now
            give_up = time.time() - first >= options.retry_seconds
            self.queue.failed(attempt, outcome.status, outcome.error, took_ms, give_up=give_up)
            if give_up:
                log.warning("webhook delivery %d given up", delivery.delivery_id)
                continue
            return time.time() + backoff(delivery.attempts + 1, options)
        return None
