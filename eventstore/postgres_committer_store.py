"""The committer's reads and writes on PostgreSQL: few round trips, one connection.

Under load every round trip costs a wake-up of the committer thread, and a pool checkout
costs one more (the pool pings the connection). So the committer keeps one connection
while commands keep coming, and per batch makes one round trip: the recorder's insert
(eventstore/postgres_recorder.py `insert_events_then_select`: the Idempotency-Key rows,
the table lock, NOTIFY, the events and COMMIT) and, after the commit, the read for the
next batch.

Errors are translated by the library's `get_connection`, which also hands a broken
connection back to the pool; the next batch checks out a fresh one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper
from psycopg import Connection
from psycopg.rows import DictRow

from eventstore.encoder import StoredEventEncoder
from eventstore.idempotency_keys import pending_claims, raise_if_taken
from eventstore.postgres_recorder import PostgresIdempotentRecorder
from eventstore.streams import events_by_aggregate


class PostgresCommandStore:
    def __init__(self, mapper: Mapper[UUID], recorder: PostgresIdempotentRecorder) -> None:
        self.mapper = mapper
        self.recorder = recorder
        self.encode = StoredEventEncoder(mapper)
        self._checkout: AbstractContextManager[Connection[DictRow]] | None = None
        self._connection: Connection[DictRow] | None = None

    @contextmanager
    def _connected(self) -> Iterator[Connection[DictRow]]:
        if self._connection is None:
            self._checkout = self.recorder.datastore.get_connection()
            self._connection = self._checkout.__enter__()
        try:
            yield self._connection
        except BaseException:
            held, connection = self._checkout, self._connection
            self._checkout, self._connection = None, None
            assert held is not None
            # A pipelined transaction that failed can leave psycopg believing in statements it
            # prepared there, which the rollback took away ("prepared statement _pg3_N does
            # not exist" on the next use, by any request): the pool replaces a closed one.
            connection.close()
            # Raises the library's own error for a psycopg one, and returns the connection.
            if not held.__exit__(*sys.exc_info()):
                raise

    def idle(self) -> None:
        checkout, self._checkout, self._connection = self._checkout, None, None
        if checkout is not None:
            checkout.__exit__(None, None, None)

    def fast_forward(self, known: Mapping[UUID, int]) -> dict[UUID, list[Any]]:
        with self._connected() as connection:
            return events_by_aggregate(
                self.mapper, self.recorder.select_events_after(known, connection)
            )

    def write(
        self, events: list[Any], save_kwargs: dict[str, list[Any]], read_after: Mapping[UUID, int]
    ) -> tuple[list[int], dict[UUID, list[Any]]]:
        encode = self.encode
        stored_events = [encode(event) for event in events]
        with self._connected() as connection:
            positions, read = self.recorder.insert_events_then_select(
                connection, stored_events, read_after, **save_kwargs
            )
        return positions, events_by_aggregate(self.mapper, read)

    def check_unwritten(self, save_kwargs: dict[str, list[Any]]) -> None:
        claims = pending_claims(save_kwargs)
        if claims:
            with self._connected() as connection:
                taken = self.recorder.taken_keys([claim.key for claim in claims], connection)
            raise_if_taken(claims, taken)

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0
