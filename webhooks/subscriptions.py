"""Webhook subscriptions and their deliveries as the API shows them: create, list, delete,
the deliveries of one, and redelivery."""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from domain.errors import NotFoundError
from eventstore.database import Database, Row
from projections.outbox import ATTEMPTS, OUTBOX, SUBSCRIBED_TYPES, SUBSCRIPTIONS

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    url: str
    event_types: list[str]
    created_at: str
    secret: str


@dataclass(frozen=True)
class Delivery:
    delivery_id: int
    event_id: str
    event_type: str
    position: int
    enrollment_id: str
    status: str
    attempts: int
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try at sending a delivery. No outcome (status, error and duration all None): under
    way, or its worker stopped before the answer came."""

    attempt_id: int
    attempted_at: datetime
    status: int | None
    error: str | None
    duration_ms: float | None
    worker: str


@dataclass(frozen=True)
class WebhookHealth:
    """A webhook's deliveries by status, and the oldest one still waiting (its lag)."""

    subscription_id: str
    url: str
    pending: int
    delivered: int
    failed: int
    attempts: int
    oldest_pending_position: int | None


def event_id(position: int, event_type: str, enrollment_id: str) -> str:
    """The CloudEvent's id: the same event has it in every subscription and every attempt."""
    return f"{position}:{event_type}:{enrollment_id}"


def moment(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(float(epoch), UTC)


class Subscriptions:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.subscriptions = db.table(SUBSCRIPTIONS)
        self.types = db.table(SUBSCRIBED_TYPES)
        self.outbox = db.table(OUTBOX)
        self.attempts = db.table(ATTEMPTS)

    def create(self, url: str, event_types: list[str], secret: str) -> Subscription:
        """Events the live projection applies from the commit on are delivered to it."""
        subscription = Subscription(
            subscription_id=f"wh_{uuid.uuid4().hex}",
            url=url,
            event_types=sorted(set(event_types)),
            created_at=datetime.now(UTC).isoformat(),
            secret=secret,
        )
        with self.db.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {self.subscriptions} "
                "(subscription_id, url, secret, event_types, created_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    subscription.subscription_id,
                    url,
                    secret,
                    orjson.dumps(subscription.event_types).decode(),
                    subscription.created_at,
                ),
            )
            cursor.executemany(
                f"INSERT INTO {self.types} (event_type, subscription_id) VALUES (%s, %s)",
                [(t, subscription.subscription_id) for t in subscription.event_types],
            )
        return subscription

    def all(self) -> list[Subscription]:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.subscriptions} ORDER BY created_at")
            return [self._of_row(row) for row in cursor.fetchall()]

    def health(self) -> list[WebhookHealth]:
        """Every webhook's counts in one statement (the operations page, /metrics)."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT s.subscription_id, s.url, "
                "COALESCE(SUM(CASE WHEN o.status = 'pending' THEN 1 ELSE 0 END), 0) AS pending, "
                "COALESCE(SUM(CASE WHEN o.status = 'delivered' THEN 1 ELSE 0 END), 0) "
                "AS delivered, "
                "COALESCE(SUM(CASE WHEN o.status = 'failed' THEN 1 ELSE 0 END), 0) AS failed, "
                "COALESCE(SUM(o.attempts), 0) AS attempts, "
                "MIN(CASE WHEN o.status = 'pending' THEN o.position END) AS oldest "
                f"FROM {self.subscriptions} s LEFT JOIN {self.outbox} o "
                "ON o.subscription_id = s.subscription_id "
                "GROUP BY s.subscription_id, s.url, s.created_at ORDER BY s.created_at"
            )
            return [
                WebhookHealth(
                    subscription_id=row["subscription_id"],
                    url=row["url"],
                    pending=int(row["pending"]),
                    delivered=int(row["delivered"]),
                    failed=int(row["failed"]),
                    attempts=int(row["attempts"]),
                    oldest_pending_position=row["oldest"],
                )
                for row in cursor.fetchall()
            ]

    def get(self, subscription_id: str) -> Subscription:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.subscriptions} WHERE subscription_id = %s",
                (subscription_id,),
            )
            row = cursor.fetchone()
        if row is None:
            raise NotFoundError(
                f"webhook {subscription_id!r} does not exist", field="subscription_id"
            )
        return self._of_row(row)

    def delete(self, subscription_id: str) -> None:
        """Nothing more is written or sent for it; its deliveries go with it."""
        self.get(subscription_id)
        with self.db.transaction() as cursor:
            for table in (self.attempts, self.types, self.outbox, self.subscriptions):
                cursor.execute(
                    f"DELETE FROM {table} WHERE subscription_id = %s", (subscription_id,)
                )

    def deliveries(
        self, subscription_id: str, *, status: str | None, after: int, limit: int
    ) -> list[Delivery]:
        """In the order they were written, from the one after delivery `after`."""
        self.get(subscription_id)
        where = "subscription_id = %s AND delivery_id > %s"
        params: list[Any] = [subscription_id, after]
        if status is not None:
            where += " AND status = %s"
            params.append(status)
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.outbox} WHERE {where} ORDER BY delivery_id LIMIT %s",
                [*params, limit],
            )
            return [delivery_of(row) for row in cursor.fetchall()]

    def attempts_of(
        self, subscription_id: str, delivery_id: int, *, after: int, limit: int
    ) -> list[DeliveryAttempt]:
        """A delivery's attempts in the order they were made, from the one after `after`."""
        self.get(subscription_id)
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT delivery_id FROM {self.outbox} "
                "WHERE subscription_id = %s AND delivery_id = %s",
                (subscription_id, delivery_id),
            )
            if cursor.fetchone() is None:
                raise no_such_delivery(subscription_id, delivery_id)
            cursor.execute(
                f"SELECT * FROM {self.attempts} WHERE delivery_id = %s AND attempt_id > %s "
                "ORDER BY attempt_id LIMIT %s",
                (delivery_id, after, limit),
            )
            return [attempt_of(row) for row in cursor.fetchall()]

    def redeliver(self, subscription_id: str, delivery_id: int) -> None:
        """Sends the delivery again (delivered or given up), ahead of the pending ones after it
        in log order, with a fresh retry period."""
        self.get(subscription_id)
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.outbox} SET status = 'pending', first_attempt_at = NULL "
                "WHERE subscription_id = %s AND delivery_id = %s RETURNING delivery_id",
                (subscription_id, delivery_id),
            )
            if cursor.fetchone() is None:
                raise no_such_delivery(subscription_id, delivery_id)
            cursor.execute(
                f"UPDATE {self.subscriptions} SET next_attempt_at = 0 WHERE subscription_id = %s",
                (subscription_id,),
            )

    @staticmethod
    def _of_row(row: Row) -> Subscription:
        return Subscription(
            subscription_id=row["subscription_id"],
            url=row["url"],
            event_types=orjson.loads(row["event_types"]),
            created_at=row["created_at"],
            secret=row["secret"],
        )


def delivery_of(row: Row) -> Delivery:
    return Delivery(
        delivery_id=int(row["delivery_id"]),
        event_id=event_id(int(row["position"]), row["event_type"], row["enrollment_id"]),
        event_type=row["event_type"],
        position=int(row["position"]),
        enrollment_id=row["enrollment_id"],
        status=row["status"],
        attempts=int(row["attempts"]),
        first_attempt_at=moment(row["first_attempt_at"]),
        last_attempt_at=moment(row["last_attempt_at"]),
        last_status=row["last_status"],
        last_error=row["last_error"],
        delivered_at=moment(row["delivered_at"]),
    )


def attempt_of(row: Row) -> DeliveryAttempt:
    duration = row["duration_ms"]
    return DeliveryAttempt(
        attempt_id=int(row["attempt_id"]),
        attempted_at=datetime.fromtimestamp(float(row["attempted_at"]), UTC),
        status=row["status"],
        error=row["error"],
        duration_ms=None if duration is None else float(duration),
        worker=row["worker"],
    )


def no_such_delivery(subscription_id: str, delivery_id: int) -> NotFoundError:
    return NotFoundError(
        f"webhook {subscription_id!r} has no delivery {delivery_id}", field="delivery_id"
    )
