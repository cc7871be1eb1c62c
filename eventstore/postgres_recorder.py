"""The PostgreSQL event store's application recorder (chosen through the library's
APPLICATION_RECORDER_TOPIC, see eventstore/environment.py). It adds three things to the
library's, and keeps everything the library relies on:

- a request's Idempotency-Key row is written inside the very transaction that inserts its
  events (`_insert_events`, the step the library lets subclasses extend);
- the events are inserted as one array a column (`_insert_stored_events`, the library's own
  step with its lock and NOTIFY): the library's array of composites costs about 30 µs an
  event to build and escape in Python, these a few;
- the committer's write (`insert_events_then_select`): the library's steps in one round
  trip, then, after the commit, the read of the committer's next batch;
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
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Connection, Cursor
from psycopg.errors import PipelineAborted, UniqueViolation
from psycopg.pq import TransactionStatus
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

# Below this the single INSERT statement is as quick and needs no extra round trips.
COPY_FROM = 64
# The committer's batches of commands are written in one round trip up to this many events
# (a round trip costs more than COPY saves); bigger ones (bulk ingest) by COPY.
PIPELINED_UP_TO = 1_000


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
        # COPYs run (tests/test_copy_recorder.py: for the big inserts, and only for those).
        self.copies = 0
        self.idempotency_table = SQL("{0}.{1}").format(
            Identifier(datastore.schema or "public"), Identifier(TABLE)
        )
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0} (" + COLUMNS + ")").format(self.idempotency_table)
        )
        # Every claim of a batch in one statement that fails on a taken key, aborting the
        # transaction: a pipeline cannot look at a RETURNING before its COMMIT without
        # another round trip (the unpipelined `_insert_events` does, one claim at a time).
        self.claim_keys_statement = SQL(
            "INSERT INTO {0} (key, fingerprint, created_at, stream) "
            "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
        ).format(self.idempotency_table)
        self.events_table = SQL("{0}.{1}").format(
            Identifier(datastore.schema), Identifier(events_table_name)
        )
        id_type = SQL(datastore.originator_id_type)
        # The library's `insert_events_statement`, with one array a column.
        self.insert_columns_statement = SQL(
            "INSERT INTO {0} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::{1}[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING notification_id"
        ).format(self.events_table, id_type)
        # `= ANY` as well as the join: without it, a table whose statistics lag behind (it
        # grew since the last ANALYZE) was read whole by a merge join, ten times slower.
        self.select_events_after_statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {0} AS e "
            "JOIN unnest(%s::{1}[], %s::bigint[]) AS known (id, version) "
            "ON e.originator_id = known.id "
            "WHERE e.originator_id = ANY(%s::{1}[]) AND e.originator_version > known.version "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(self.events_table, id_type)

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
            with self.datastore.get_connection() as connection:
                ids = self._copy_events(connection, stored_events, idempotency=claims)
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
                    "INSERT INTO {0} (key, fingerprint, created_at, stream) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO NOTHING RETURNING key"
                ).format(self.idempotency_table),
                (claim.key, claim.fingerprint, now_text(), claim.stream),
            )
            if curs.fetchone() is None:
                raise IdempotencyKeyTaken(claim.key)
        super()._insert_events(curs, stored_events, **kwargs)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's step (the table lock, NOTIFY, the insert) with one array a column
        instead of an array of composites: `tests/test_recorder_drift.py` compares them."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_columns_statement, columns(stored_events))

    def taken_keys(
        self, keys: list[str], connection: Connection[DictRow] | None = None
    ) -> set[str]:
        """Which of the Idempotency-Keys already have a row."""
        if connection is None:
            with self.datastore.get_connection() as held:
                return self.taken_keys(keys, held)
        statement = SQL("SELECT key FROM {0} WHERE key = ANY(%s)").format(self.idempotency_table)
        return {row["key"] for row in connection.execute(statement, (keys,)).fetchall()}

    def select_events_after(
        self, known: Mapping[UUID, int], connection: Connection[DictRow] | None = None
    ) -> list[StoredEvent]:
        """The events of every aggregate after the version given for it, in order: what
        `select_events(id, gt=version)` answers for each, in one statement."""
        if connection is None:
            with self.datastore.get_connection() as held:
                return self.select_events_after(known, held)
        rows = connection.execute(self.select_events_after_statement, arrays(known)).fetchall()
        return stored_events_of(rows)

    def insert_events_then_select(
        self,
        connection: Connection[DictRow],
        stored_events: Sequence[StoredEvent],
        read_after: Mapping[UUID, int],
        **kwargs: Any,
    ) -> tuple[list[int], list[StoredEvent]]:
        """What `insert_events` does (the Idempotency-Key rows, the lock, NOTIFY, the insert,
        the ids), and then, once committed, `select_events_after(read_after)`: pipelined,
        one round trip on `connection`, where the library's insert makes two and the read a
        third. Errors are psycopg's: the caller's `get_connection` translates them."""
        claims = pending_claims(kwargs)
        if len(stored_events) > PIPELINED_UP_TO:
            ids = self._copy_events(connection, stored_events, idempotency=claims)
            read = self.select_events_after(read_after, connection) if read_after else []
        else:
            ids, read = self._pipelined(connection, stored_events, read_after, claims)
        for claim in claims:
            claim.recorded = True
        return ids, read

    def _pipelined(
        self,
        connection: Connection[DictRow],
        stored_events: Sequence[StoredEvent],
        read_after: Mapping[UUID, int],
        claims: Sequence[Any],
    ) -> tuple[list[int], list[StoredEvent]]:
        ids: list[int] = []
        rows: list[DictRow] = []
        failure: Exception | None = None
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
                        created_at = now_text()
                        cursor.execute(
                            self.claim_keys_statement,
                            (
                                [claim.key for claim in claims],
                                [claim.fingerprint for claim in claims],
                                [created_at] * len(claims),
                                [claim.stream for claim in claims],
                            ),
                        )
                    super()._insert_events(cursor, stored_events)  # the library's hook
                    if stored_events:
                        self._insert_stored_events(inserting, stored_events)
                    cursor.execute("COMMIT")
                    if read_after:
                        reading.execute(self.select_events_after_statement, arrays(read_after))
                    pipeline.sync()
                    if stored_events:
                        inserted = self._fetch_ids_after_insert_events(inserting, stored_events)
                        ids = list(inserted or ())
                    if read_after:
                        rows = reading.fetchall()
                except Exception as error:  # raised once the pipeline is closed
                    failure = error
        except PipelineAborted:
            # The statements queued after the one that failed were never run: closing the
            # pipeline says so, and the failure itself is what the caller must hear (a
            # version conflict is retried, not reported).
            if failure is None:
                raise
        if failure is not None:
            if connection.info.transaction_status != TransactionStatus.IDLE:
                connection.execute("ROLLBACK")
            if isinstance(failure, UniqueViolation) and failure.diag.table_name == TABLE:
                raise IdempotencyKeyTaken(failure.diag.message_detail or "") from None
            raise failure
        return ids, stored_events_of(rows)

    def _copy_events(
        self, connection: Connection[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> list[int]:
        with connection.transaction(), connection.cursor() as cursor:
            # Subclasses' own rows first, before the lock, as the library's insert does.
            self._insert_events(cursor, stored_events, **kwargs)
            return self._copy_stored_events(cursor, stored_events)

    def _copy_stored_events(
        self, cursor: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> list[int]:
        """`_insert_stored_events` by COPY: the same lock and NOTIFY, and the ids."""
        self._lock_table(cursor)
        self._notify_channel(cursor)
        # Holding the lock, no other insert can commit: every id above the highest
        # committed one is ours.
        cursor.execute(
            SQL("SELECT COALESCE(MAX(notification_id), 0) AS top FROM {0}").format(
                self.events_table
            )
        )
        row = cursor.fetchone()
        top = int(row["top"]) if row else 0
        copy_rows = SQL(
            "COPY {0} (originator_id, originator_version, topic, state) FROM STDIN"
        ).format(self.events_table)
        with cursor.copy(copy_rows) as copy:
            copy.write(copy_text(stored_events))
        # COPY draws the ids from the sequence row by row, in the order it reads the rows,
        # and the lock keeps every other insert out: the ids above `top`, in order, are the
        # events' own, in order (no need to read back a UUID per row).
        with cursor.connection.cursor(row_factory=scalar_row) as ids_cursor:
            ids_cursor.execute(
                SQL(
                    "SELECT notification_id FROM {0} WHERE notification_id > %s "
                    "ORDER BY notification_id"
                ).format(self.events_table),
                (top,),
            )
            ids: list[int] = ids_cursor.fetchall()
        if len(ids) != len(stored_events):  # rolls the insert back
            raise ProgrammingError(f"COPY wrote {len(ids)} rows for {len(stored_events)} events")
        self.copies += 1
        return ids


def arrays(known: Mapping[UUID, int]) -> tuple[str, str, str]:
    """Ids, versions and ids again as array literals (the parameters of
    `select_events_after_statement`): psycopg would dump a list of UUIDs one by one."""
    ids = "{" + ",".join(str(key) for key in known) + "}"
    versions = "{" + ",".join(str(version) for version in known.values()) + "}"
    return ids, versions, ids


def columns(stored_events: Sequence[StoredEvent]) -> tuple[str, str, str, str]:
    """The events as four array literals."""
    ids = "{" + ",".join(array_id(event.originator_id) for event in stored_events) + "}"
    versions = "{" + ",".join(str(event.originator_version) for event in stored_events) + "}"
    topics = "{" + ",".join(quoted(event.topic) for event in stored_events) + "}"
    states = "{" + ",".join(f'"\\\\x{event.state.hex()}"' for event in stored_events) + "}"
    return ids, versions, topics, states


def array_id(originator_id: UUID | str) -> str:
    if type(originator_id) is UUID:
        return str(originator_id)  # hex digits and dashes: nothing to quote
    return quoted(str(originator_id))


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def stored_events_of(rows: list[DictRow]) -> list[StoredEvent]:
    return [
        StoredEvent(
            originator_id=row["originator_id"],
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=bytes(row["state"]),
        )
        for row in rows
    ]


def copy_text(stored_events: Sequence[StoredEvent]) -> bytes:
    """The rows in COPY's text format, built in one go: psycopg's `write_row` is a Python
    call per row, which cost more than the rest of the insert."""
    topics: dict[str, bytes] = {}
    # An aggregate's events share its id object, and formatting a UUID costs a microsecond:
    # each is formatted once, found again by identity (hashing a UUID costs a call too).
    originators: dict[int, bytes] = {}
    rows: list[bytes] = []
    for event in stored_events:
        topic = topics.get(event.topic)
        if topic is None:
            topic = topics[event.topic] = copy_field(event.topic)
        originator = originators.get(id(event.originator_id))
        if originator is None:
            originator = originators[id(event.originator_id)] = originator_text(event.originator_id)
        rows.append(
            b"%s\t%d\t%s\t\\\\x%s\n"
            % (originator, event.originator_version, topic, hexlify(event.state))
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
