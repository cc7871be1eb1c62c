"""The command committer's reads and writes on PostgreSQL: few round trips, one connection.

Under load every round trip costs a wake-up of the committer thread, and a pool checkout
costs one more (the pool pings the connection). So the committer keeps one connection
while commands keep coming, and per batch makes:

- the library's own insert (`PostgresApplicationRecorder.insert_events`, step by step on
  this connection): the Idempotency-Key rows, `LOCK TABLE … IN EXCLUSIVE MODE`, NOTIFY and
  the events in one transaction, and COMMIT, pipelined;
- in the same round trip, after the commit, the read for the next batch: the events after
  the version the committer holds of every aggregate that batch touches.

Errors are translated by the library's `get_connection`, which also hands a broken
connection back to the pool; the next batch checks out a fresh one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.errors import PipelineAborted
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow

from eventstore.idempotency_keys import pending_claims
from eventstore.postgres_recorder import PostgresIdempotentRecorder


def arrays(known: Mapping[UUID, int]) -> tuple[str, str]:
    """Ids and versions as array literals: psycopg would dump a list of UUIDs one by one."""
    ids = "{" + ",".join(str(key) for key in known) + "}"
    versions = "{" + ",".join(str(version) for version in known.values()) + "}"
    return ids, versions


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def columns(stored_events: list[StoredEvent]) -> tuple[str, str, str, str]:
    """The events as four array literals: the library's array of composites costs about
    30 µs an event to build and escape in Python, these a few."""
    ids = "{" + ",".join(str(event.originator_id) for event in stored_events) + "}"
    versions = "{" + ",".join(str(event.originator_version) for event in stored_events) + "}"
    topics = "{" + ",".join(quoted(event.topic) for event in stored_events) + "}"
    states = "{" + ",".join(f'"\\\\x{event.state.hex()}"' for event in stored_events) + "}"
    return ids, versions, topics, states


class PostgresCommandStore:
    def __init__(self, mapper: Mapper[UUID], recorder: PostgresIdempotentRecorder) -> None:
        self.mapper = mapper
        self.recorder = recorder
        self.datastore: PostgresDatastore = recorder.datastore
        table = f'"{self.datastore.schema}".{recorder.events_table_name}'
        self.fast_forward_statement = (
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            f"FROM {table} AS e "
            "JOIN unnest(%s::uuid[], %s::bigint[]) AS known (id, version) "
            "ON e.originator_id = known.id AND e.originator_version > known.version "
            "ORDER BY e.originator_id, e.originator_version"
        )
        # The library's insert (`PostgresAggregateRecorder.insert_events_statement`) with
        # one array a column instead of an array of composites.
        self.insert_statement = (
            f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING notification_id"
        )
        self._checkout: AbstractContextManager[Connection[DictRow]] | None = None
        self._connection: Connection[DictRow] | None = None

    @contextmanager
    def _connected(self) -> Iterator[Connection[DictRow]]:
        if self._connection is None:
            self._checkout = self.datastore.get_connection()
            self._connection = self._checkout.__enter__()
        try:
            yield self._connection
        except BaseException:
            held, self._checkout, self._connection = self._checkout, None, None
            assert held is not None
            # Raises the library's own error for a psycopg one, and returns the connection.
            if not held.__exit__(*sys.exc_info()):
                raise

    def idle(self) -> None:
        checkout, self._checkout, self._connection = self._checkout, None, None
        if checkout is not None:
            checkout.__exit__(None, None, None)

    def fast_forward(self, known: Mapping[UUID, int]) -> dict[UUID, list[Any]]:
        with self._connected() as connection:
            rows = connection.execute(self.fast_forward_statement, arrays(known)).fetchall()
        return self._events(rows)

    def _events(self, rows: list[DictRow]) -> dict[UUID, list[Any]]:
        to_domain_event = self.mapper.to_domain_event
        events: dict[UUID, list[Any]] = {}
        for row in rows:
            originator_id: UUID = row["originator_id"]
            stored = StoredEvent(
                originator_id=originator_id,
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            events.setdefault(originator_id, []).append(to_domain_event(stored))
        return events

    def write(
        self, events: list[Any], save_kwargs: dict[str, list[Any]], read_after: Mapping[UUID, int]
    ) -> tuple[list[int], dict[UUID, list[Any]]]:
        """What the library's `insert_events` does, in one round trip: BEGIN, the
        Idempotency-Key rows (each checked at once, as the recorder does), the table lock,
        NOTIFY, the insert and COMMIT; then, after the commit, the next batch's read."""
        to_stored_event = self.mapper.to_stored_event
        stored_events = [to_stored_event(event) for event in events]
        claims = pending_claims(save_kwargs)
        recorder = self.recorder
        positions: list[int] = []
        rows: list[DictRow] = []
        failure: Exception | None = None
        with self._connected() as connection:
            try:
                with (
                    connection.pipeline() as pipeline,
                    connection.cursor() as cursor,
                    connection.cursor() as inserting,
                    connection.cursor() as reading,
                ):
                    try:
                        cursor.execute("BEGIN")
                        if claims:
                            recorder._insert_events(cursor, stored_events, idempotency=claims)
                        if stored_events:
                            recorder._lock_table(inserting)
                            recorder._notify_channel(inserting)
                            inserting.execute(self.insert_statement, columns(stored_events))
                        cursor.execute("COMMIT")
                        if read_after:
                            reading.execute(self.fast_forward_statement, arrays(read_after))
                        pipeline.sync()
                        if stored_events:
                            ids = recorder._fetch_ids_after_insert_events(inserting, stored_events)
                            positions = list(ids or ())
                        if read_after:
                            rows = reading.fetchall()
                    except Exception as error:  # raised once the pipeline is closed
                        failure = error
            except PipelineAborted:
                # The statements queued after the one that failed were never run: closing
                # the pipeline says so, and the failure itself is what the caller must hear
                # (a version conflict is retried, not reported).
                if failure is None:
                    raise
            if failure is not None:
                if connection.info.transaction_status != TransactionStatus.IDLE:
                    connection.execute("ROLLBACK")
                raise failure
        for claim in claims:
            claim.recorded = True
        return positions, self._events(rows)

    def head_position(self) -> int:
        with self._connected() as connection:
            row = connection.execute(
                f'SELECT max(notification_id) AS head FROM "{self.datastore.schema}".'
                f"{self.recorder.events_table_name}"
            ).fetchone()
        return int(row["head"] or 0) if row else 0
