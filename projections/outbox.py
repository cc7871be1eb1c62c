"""The webhook outbox: what the live projection noticed (a unit completed, a course's
percentage changed, ...), written as delivery rows for every subscription that wants it,
in the same transaction as the batch's snapshot rows and tracking position.

Only the live generation's batches carry signals (engine.py), so a rebuild or a replay
never adds a row; a crash before the batch commits leaves neither rows nor position, and
the redone batch writes each row once. The unique key makes a second write of the same
(subscription, position, type, enrollment) a no-op all the same.

The delivery worker (webhooks/) reads these tables; subscriptions are written by the API.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from eventstore.database import Cursor, Database, chunks, placeholders

SUBSCRIPTIONS = "webhook_subscriptions"
# One row per (subscription, event type it wants): the outbox insert joins on it, so the
# projector never needs to know who subscribed.
SUBSCRIBED_TYPES = "webhook_subscribed_types"
OUTBOX = "webhook_outbox"
# One row per attempt to send a delivery, written by the delivery worker (webhooks/queue.py):
# when, how long, the HTTP status or the error. Never a body sent or answered, so nothing in
# it names a learner.
ATTEMPTS = "webhook_attempts"

UNIT_COMPLETED = "unit.completed"
UNIT_REVOKED = "unit.revoked"
COURSE_COMPLETED = "course.completed"
COURSE_PROGRESSED = "course.progressed"
ENROLLMENT_WITHDRAWN = "enrollment.withdrawn"
LEARNER_ERASED = "learner.erased"
EVENT_TYPES = (
    UNIT_COMPLETED,
    UNIT_REVOKED,
    COURSE_COMPLETED,
    COURSE_PROGRESSED,
    ENROLLMENT_WITHDRAWN,
    LEARNER_ERASED,
)

# What the fold noticed: (position, event type, enrollment id, recorded at, data).
Signal = tuple[int, str, str, datetime, dict[str, Any]]

OUTBOX_KEY = ("subscription_id", "position", "event_type", "enrollment_id")


def create_outbox_tables(db: Database) -> None:
    serial = "BIGSERIAL PRIMARY KEY" if db.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    with db.transaction() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {db.table(SUBSCRIPTIONS)} ("
            "subscription_id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL, "
            "event_types TEXT NOT NULL, created_at TEXT NOT NULL, "
            # Times as epoch seconds: compared in SQL the same way on both databases.
            "next_attempt_at DOUBLE PRECISION NOT NULL DEFAULT 0, "
            "leased_until DOUBLE PRECISION NOT NULL DEFAULT 0, leased_by TEXT)"
        )
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {db.table(SUBSCRIBED_TYPES)} ("
            "event_type TEXT NOT NULL, subscription_id TEXT NOT NULL, "
            "PRIMARY KEY (event_type, subscription_id))"
        )
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {db.table(OUTBOX)} ("
            f"delivery_id {serial}, subscription_id TEXT NOT NULL, "
            "position BIGINT NOT NULL, seq INTEGER NOT NULL, event_type TEXT NOT NULL, "
            "enrollment_id TEXT NOT NULL, occurred_at TEXT NOT NULL, data TEXT NOT NULL, "
            "status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, "
            "first_attempt_at DOUBLE PRECISION, last_attempt_at DOUBLE PRECISION, "
            "last_status INTEGER, last_error TEXT, delivered_at DOUBLE PRECISION, "
            f"UNIQUE ({', '.join(OUTBOX_KEY)}))"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS webhook_outbox_queue ON {db.table(OUTBOX)} "
            "(subscription_id, status, position, seq)"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS webhook_outbox_enrollment ON {db.table(OUTBOX)} "
            "(enrollment_id)"
        )
        # status, error and duration_ms stay NULL while the attempt is under way, and for
        # good when its worker died before the answer came.
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {db.table(ATTEMPTS)} ("
            f"attempt_id {serial}, delivery_id BIGINT NOT NULL, subscription_id TEXT NOT NULL, "
            "worker TEXT NOT NULL, attempted_at DOUBLE PRECISION NOT NULL, status INTEGER, "
            "error TEXT, duration_ms DOUBLE PRECISION)"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON {db.table(ATTEMPTS)} "
            "(delivery_id, attempt_id)"
        )
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS webhook_attempts_subscription ON {db.table(ATTEMPTS)} "
            "(subscription_id)"
        )


def signals_json(signals: list[Signal]) -> str:
    """The batch's signals as one JSON array, `seq` keeping their log order."""
    return orjson.dumps(
        [
            {
                "position": position,
                "seq": seq,
                "event_type": event_type,
                "enrollment_id": enrollment_id,
                "occurred_at": at,
                "data": data,
            }
            for seq, (position, event_type, enrollment_id, at, data) in enumerate(signals)
        ],
        option=orjson.OPT_UTC_Z,
    ).decode()


OUTBOX_COLUMNS = "subscription_id, position, seq, event_type, enrollment_id, occurred_at, data"


@lru_cache(maxsize=16)
def outbox_insert(db_is_postgres: bool, outbox: str, subscribed: str, guard: str = "") -> str:
    """One statement: the batch's signals (one JSON parameter) fanned out to every subscription
    of their type, numbered (delivery_id) in log order. `guard`: a condition the rows need
    (the one-statement batch's claim)."""
    conflict = f"ON CONFLICT ({', '.join(OUTBOX_KEY)}) DO NOTHING"
    if db_is_postgres:
        return (
            f"INSERT INTO {outbox} ({OUTBOX_COLUMNS}) "
            "SELECT t.subscription_id, e.position, e.seq, e.event_type, e.enrollment_id, "
            "e.occurred_at, e.data::text "
            "FROM json_to_recordset(%s::json) AS e(position BIGINT, seq INTEGER, "
            "event_type TEXT, enrollment_id TEXT, occurred_at TEXT, data JSON) "
            f"JOIN {subscribed} t ON t.event_type = e.event_type "
            f"{'WHERE ' + guard if guard else ''} ORDER BY e.seq {conflict}"
        )
    field = "json_extract(e.value, '$.{}')".format
    return (
        f"INSERT INTO {outbox} ({OUTBOX_COLUMNS}) "
        f"SELECT t.subscription_id, {field('position')}, {field('seq')}, "
        f"{field('event_type')}, {field('enrollment_id')}, {field('occurred_at')}, "
        f"{field('data')} FROM json_each(%s) AS e "
        f"JOIN {subscribed} t ON t.event_type = {field('event_type')} "
        # WHERE: SQLite's parser needs it before ON CONFLICT after a SELECT.
        f"WHERE {guard or 'true'} ORDER BY {field('seq')} {conflict}"
    )


def write_signals(cursor: Cursor, db: Database, signals: list[Signal]) -> None:
    """The outbox rows of a batch written in a transaction (the one-statement batch writes
    them in its own statement: see batch_writes.py)."""
    if signals:
        statement = outbox_insert(db.is_postgres, db.table(OUTBOX), db.table(SUBSCRIBED_TYPES))
        cursor.execute(statement, [signals_json(signals)])


def forget_deliveries_of(cursor: Cursor, db: Database, enrollment_ids: list[str]) -> None:
    """An erased learner's outbox rows go (their data names the learner), but the
    `learner.erased` ones, which name only the enrollment and the course; their attempts
    (which name no one) go with them."""
    for chunk in chunks(enrollment_ids):
        cursor.execute(
            f"DELETE FROM {db.table(ATTEMPTS)} WHERE delivery_id IN ("
            f"SELECT delivery_id FROM {db.table(OUTBOX)} "
            f"WHERE enrollment_id IN ({placeholders(chunk)}) AND event_type <> %s)",
            [*chunk, LEARNER_ERASED],
        )
        cursor.execute(
            f"DELETE FROM {db.table(OUTBOX)} WHERE enrollment_id IN ({placeholders(chunk)}) "
            "AND event_type <> %s",
            [*chunk, LEARNER_ERASED],
        )
