"""The PostgreSQL event store's application recorder (chosen through the library's
APPLICATION_RECORDER_TOPIC, see eventstore/environment.py). It adds three things to the
library's, and keeps everything the library relies on:

- a request's Idempotency-Key row is written inside the very transaction that inserts its
  events (`_insert_events`, the step the library lets subclasses extend);
- big inserts (bulk ingest) stream the rows with COPY. The library inserts a batch with one
  `INSERT … SELECT FROM unnest(composite[])`, whose composite values psycopg builds in
  Python: about 35 µs an event. COPY keeps the same `LOCK TABLE … IN EXCLUSIVE MODE` and
  NOTIFY in the same transaction, so ids still become visible in commit order, and a
  duplicate version still raises IntegrityError;
- an outage fails fast: the library retries each call ten times, and each try may wait the
  whole connect timeout for the pool, so a request could hang for half a minute. Here a call
  is tried again once, and only when a connection broke (not when none could be had), and
  this recorder's pool reconnects every second rather than backing off to minutes.
"""

from __future__ import annotations

from binascii import hexlify
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow, scalar_row
from psycopg.sql import SQL, Identifier

from eventstore.idempotency_keys import (
    COLUMNS,
    TABLE,
    IdempotencyKeyTaken,
    now_text,
    pending_claims,
    without_claims,
)
from eventstore.pool_reconnects import reconnect_steadily
from eventstore.retries import retry_once

# Below this the library's single statement is as quick and needs no extra round trips.
COPY_FROM = 64


F = TypeVar("F", bound=Callable[..., Any])


def unretried(method: F) -> F:
    """The library's method without its ten-attempt retry decorator."""
    inner: F = getattr(method, "__wrapped__", method)
    return inner


class PostgresIdempotentRecorder(PostgresApplicationRecorder):
    select_events = retry_once(unretried(PostgresApplicationRecorder.select_events))
    select_notifications = retry_once(unretried(PostgresApplicationRecorder.select_notifications))
    max_notification_id = retry_once(unretried(PostgresApplicationRecorder.max_notification_id))

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        reconnect_steadily(datastore.pool)
        self.idempotency_table = SQL("{0}.{1}").format(
            Identifier(datastore.schema or "public"), Identifier(TABLE)
        )
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0} (" + COLUMNS + ")").format(self.idempotency_table)
        )

    @retry_once
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        claims = pending_claims(kwargs)
        ids: Sequence[int] | None
        if len(stored_events) < COPY_FROM:
            insert = unretried(PostgresApplicationRecorder.insert_events)
            ids = insert(self, stored_events, idempotency=claims, **without_claims(kwargs))
        else:
            ids = self._copy_events(stored_events, idempotency=claims)
        for claim in claims:
            claim.recorded = True
        return ids

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        for claim in kwargs.get("idempotency", ()):
            # Taken before the events table's lock, so a second request with the same key
            # waits here for the first to commit, then finds the row.
            curs.execute(
                SQL(
                    "INSERT INTO {0} (key, fingerprint, created_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (key) DO NOTHING RETURNING key"
                ).format(self.idempotency_table),
                (claim.key, claim.fingerprint, now_text()),
            )
            if curs.fetchone() is None:
                raise IdempotencyKeyTaken(claim.key)
        super()._insert_events(curs, stored_events, **kwargs)

    def _copy_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[int]:
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.events_table_name)
        )
        with (
            self.datastore.get_connection() as connection,
            connection.transaction(),
            connection.cursor() as cursor,
        ):
            # Subclasses' own rows first, before the lock, as the library's insert does.
            self._insert_events(cursor, stored_events, **kwargs)
            self._lock_table(cursor)
            self._notify_channel(cursor)
            # Holding the lock, no other insert can commit: every id above the highest
            # committed one is ours.
            cursor.execute(
                SQL("SELECT COALESCE(MAX(notification_id), 0) AS top FROM {0}").format(table)
            )
            row = cursor.fetchone()
            top = int(row["top"]) if row else 0
            copy_rows = SQL(
                "COPY {0} (originator_id, originator_version, topic, state) FROM STDIN"
            ).format(table)
            with cursor.copy(copy_rows) as copy:
                copy.write(copy_text(stored_events))
            # COPY draws the ids from the sequence row by row, in the order it reads the
            # rows, and the lock keeps every other insert out: the ids above `top`, in
            # order, are the events' own, in order (no need to read back a UUID per row).
            with connection.cursor(row_factory=scalar_row) as ids_cursor:
                ids_cursor.execute(
                    SQL(
                        "SELECT notification_id FROM {0} WHERE notification_id > %s "
                        "ORDER BY notification_id"
                    ).format(table),
                    (top,),
                )
                ids: list[int] = ids_cursor.fetchall()
            if len(ids) != len(stored_events):  # rolls the insert back
                raise ProgrammingError(
                    f"COPY wrote {len(ids)} rows for {len(stored_events)} events"
                )
        return ids


def copy_text(stored_events: Sequence[StoredEvent]) -> bytes:
    """The rows in COPY's text format, built in one go: psycopg's `write_row` is a Python
    call per row, which cost more than the rest of the insert."""
    topics: dict[str, bytes] = {}
    rows: list[bytes] = []
    for event in stored_events:
        topic = topics.get(event.topic)
        if topic is None:
            topic = topics[event.topic] = copy_field(event.topic)
        rows.append(
            b"%s\t%d\t%s\t\\\\x%s\n"
            % (
                originator_text(event.originator_id),
                event.originator_version,
                topic,
                hexlify(event.state),
            )
        )
    return b"".join(rows)


def originator_text(originator_id: UUID | str) -> bytes:
    if type(originator_id) is UUID:
        return str(originator_id).encode()  # hex digits and dashes: nothing to escape
    return copy_field(str(originator_id))


def copy_field(text: str) -> bytes:
    """A text value escaped for COPY: backslash first, then the characters COPY reads as
    separators."""
    escaped = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return escaped.replace("\r", "\\r").encode()
