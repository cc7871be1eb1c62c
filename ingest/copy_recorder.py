"""The event store's recorder, with COPY for big inserts (bulk ingest, group commits).

The library inserts a batch with one `INSERT … SELECT FROM unnest(composite[])`, whose
composite values psycopg builds in Python: about 35 µs an event here. COPY streams the
same rows for a fraction of that. Everything the library relies on is kept: the same
`LOCK TABLE … IN EXCLUSIVE MODE` and NOTIFY in the same transaction, so ids still become
visible in commit order, and a duplicate version still raises IntegrityError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
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
                for event in stored_events:
                    copy.write_row(
                        (event.originator_id, event.originator_version, event.topic, event.state)
                    )
            cursor.execute(
                SQL(
                    "SELECT originator_id, originator_version, notification_id FROM {0} "
                    "WHERE notification_id > %s"
                ).format(table),
                (top,),
            )
            ids: dict[tuple[UUID | str, int], int] = {
                (r["originator_id"], r["originator_version"]): r["notification_id"]
                for r in cursor.fetchall()
            }
        return [ids[(e.originator_id, e.originator_version)] for e in stored_events]
