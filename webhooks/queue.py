"""The delivery queue over the outbox: which subscription a worker may deliver now, its next
delivery in log order, and what an attempt did.

A worker leases a subscription, not a row: a subscription's deliveries go out one at a time
in log order, so two workers must never send for the same one at once. On PostgreSQL the
lease is taken with FOR UPDATE SKIP LOCKED, so several processes claim different
subscriptions without waiting on each other; on SQLite the claim's transaction (BEGIN
IMMEDIATE) does the same. A worker that dies holds its lease only until it expires; another
then sends the same delivery again (at least once), to the same single outbox row. Each
attempt has a row of its own, written before the send and given its outcome after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from eventstore.database import Cursor, Database, Row
from projections.outbox import ATTEMPTS, OUTBOX, SUBSCRIPTIONS


@dataclass(frozen=True)
class Lease:
    subscription_id: str
    url: str
    secret: str


@dataclass(frozen=True)
class Attempt:
    """An attempt under way: its row in the attempts table waits for the outcome."""

    attempt_id: int
    delivery_id: int
    attempted_at: float


@dataclass(frozen=True)
class PendingDelivery:
    delivery_id: int
    position: int
    event_type: str
    enrollment_id: str
    occurred_at: str
    data: str
    attempts: int
    first_attempt_at: float | None


class DeliveryQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.subscriptions = db.table(SUBSCRIPTIONS)
        self.outbox = db.table(OUTBOX)
        self.attempts = db.table(ATTEMPTS)
        self.skip_locked = " FOR UPDATE SKIP LOCKED" if db.is_postgres else ""

    def claim(self, worker: str, now: float, lease_until: float, limit: int) -> list[Lease]:
        """Leases up to `limit` subscriptions that have a pending delivery, are not backing
        off and are not leased."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.subscriptions} SET leased_until = %s, leased_by = %s "
                "WHERE subscription_id IN ("
                f"SELECT s.subscription_id FROM {self.subscriptions} s "
                "WHERE s.leased_until < %s AND s.next_attempt_at <= %s AND EXISTS ("
                f"SELECT 1 FROM {self.outbox} o WHERE o.subscription_id = s.subscription_id "
                "AND o.status = 'pending') "
                f"ORDER BY s.next_attempt_at LIMIT %s{self.skip_locked}) "
                "RETURNING subscription_id, url, secret",
                (lease_until, worker, now, now, limit),
            )
            return [
                Lease(row["subscription_id"], row["url"], row["secret"])
                for row in cursor.fetchall()
            ]

    def begin(
        self, lease: Lease, worker: str, delivery: PendingDelivery, now: float, lease_until: float
    ) -> Attempt | None:
        """Extends the lease and records the attempt about to be made, in one transaction
        before the send, so an attempt whose worker dies mid-send is still seen (with no
        outcome). None when another worker took the subscription over: nothing is sent."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.subscriptions} SET leased_until = %s "
                "WHERE subscription_id = %s AND leased_by = %s RETURNING subscription_id",
                (lease_until, lease.subscription_id, worker),
            )
            if cursor.fetchone() is None:
                return None
            cursor.execute(
                f"UPDATE {self.outbox} SET attempts = attempts + 1, "
                "first_attempt_at = COALESCE(first_attempt_at, %s), last_attempt_at = %s "
                "WHERE delivery_id = %s",
                (now, now, delivery.delivery_id),
            )
            cursor.execute(
                f"INSERT INTO {self.attempts} "
                "(delivery_id, subscription_id, worker, attempted_at) VALUES (%s, %s, %s, %s) "
                "RETURNING attempt_id",
                (delivery.delivery_id, lease.subscription_id, worker, now),
            )
            row = cursor.fetchone()
        assert row is not None
        return Attempt(int(row["attempt_id"]), delivery.delivery_id, now)

    def release(self, lease: Lease, worker: str, next_attempt_at: float | None = None) -> None:
        """Gives the subscription back; `next_attempt_at`: when it may be tried again."""
        with self.db.transaction() as cursor:
            if next_attempt_at is None:
                cursor.execute(
                    f"UPDATE {self.subscriptions} SET leased_until = 0, leased_by = NULL "
                    "WHERE subscription_id = %s AND leased_by = %s",
                    (lease.subscription_id, worker),
                )
            else:
                cursor.execute(
                    f"UPDATE {self.subscriptions} SET leased_until = 0, leased_by = NULL, "
                    "next_attempt_at = %s WHERE subscription_id = %s AND leased_by = %s",
                    (next_attempt_at, lease.subscription_id, worker),
                )

    def head(self, lease: Lease) -> PendingDelivery | None:
        """The subscription's first pending delivery in log order."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.outbox} WHERE subscription_id = %s AND status = 'pending' "
                "ORDER BY position, seq LIMIT 1",
                (lease.subscription_id,),
            )
            row = cursor.fetchone()
        return None if row is None else pending_of(row)

    def delivered(self, attempt: Attempt, status: int, duration_ms: float) -> None:
        now = attempt.attempted_at + duration_ms / 1000
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.outbox} SET status = 'delivered', last_status = %s, "
                "last_error = NULL, delivered_at = %s WHERE delivery_id = %s",
                (status, now, attempt.delivery_id),
            )
            self._outcome(cursor, attempt, status, None, duration_ms)

    def failed(
        self,
        attempt: Attempt,
        status: int | None,
        error: str,
        duration_ms: float,
        *,
        give_up: bool,
    ) -> None:
        """Records a failed attempt; `give_up`: the retry period is over, the next delivery
        in log order goes next."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.outbox} SET status = %s, last_status = %s, last_error = %s "
                "WHERE delivery_id = %s",
                ("failed" if give_up else "pending", status, error[:500], attempt.delivery_id),
            )
            self._outcome(cursor, attempt, status, error[:500], duration_ms)

    def _outcome(
        self,
        cursor: Cursor,
        attempt: Attempt,
        status: int | None,
        error: str | None,
        duration_ms: float,
    ) -> None:
        cursor.execute(
            f"UPDATE {self.attempts} SET status = %s, error = %s, duration_ms = %s "
            "WHERE attempt_id = %s",
            (status, error, round(duration_ms, 3), attempt.attempt_id),
        )


def pending_of(row: Row) -> PendingDelivery:
    first = row["first_attempt_at"]
    return PendingDelivery(
        delivery_id=int(row["delivery_id"]),
        position=int(row["position"]),
        event_type=row["event_type"],
        enrollment_id=row["enrollment_id"],
        occurred_at=row["occurred_at"],
        data=row["data"],
        attempts=int(row["attempts"]),
        first_attempt_at=None if first is None else float(first),
    )
