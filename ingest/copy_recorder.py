"""The event store's recorder, with COPY for big inserts (bulk ingest, group commits).

The library inserts a batch with one `INSERT … SELECT FROM unnest(composite[])`, whose
composite values psycopg builds in Python: about 35 µs an event here. COPY streams the
same rows for a fraction of that. Everything the library relies on is kept: the same
`LOCK TABLE … IN EXCLUSIVE MODE` and NOTIFY in the same transaction, so ids still become
visible in commit order, and a duplicate version still raises IntegrityError.
"""

from __future__ import annotations

from binascii import hexlify
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import scalar_row
from psycopg.sql import SQL, Identifier

# Below this the library's single statement is as quick and needs no extra round trips.
COPY_FROM = 64


class CopyingApplicationRecorder(PostgresApplicationRecorder):
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if len(stored_events) < COPY_FROM:
            # This method is retried already: call the library's insert without its retries.
            insert = PostgresApplicationRecorder.insert_events.__wrapped__
            inserted: Sequence[int] | None = insert(self, stored_events, **kwargs)
            return inserted
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
