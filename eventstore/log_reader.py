"""Reads the log for the projection: a page of events by position, as records for the fold.

The library's way (`select_notifications`, then `mapper.to_domain_event`) builds a
Notification, a UUID and a domain event object for every event; a rebuild reads millions.
Here PostgreSQL rows come back as plain tuples (the same statement as the library's, so the
same visibility: everything after a position, in position order), and an event whose stored
JSON needs no upcasting and holds only flat fields and datetimes is turned into the fold's
record directly. Anything else (an older class version, nested values, a cipher or a
compressor, a topic that does not resolve) goes through the library's mapper, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    Mapper,
    Notification,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import resolve_topic
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

from eventstore.personal_data import PersonalDataMapper, sealed_key_id
from eventstore.retries import retry_once
from eventstore.transcoder import tagged_datetime

# An event as the fold reads it: its class, its position, its aggregate's id as text and
# its fields (datetimes revived, upcast to the class's current version).
Record = tuple[type[Any], int, str, dict[str, Any]]

# notification id, originator id (text on PostgreSQL), originator version, topic, state
LogRow = tuple[int, Any, int, str, bytes]


class LogReader:
    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any]) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self._plain_json = (
            mapper.cipher is None
            and mapper.compressor is None
            and isinstance(mapper.transcoder, JSONTranscoder)
        )
        self._kinds: dict[str, tuple[type[Any], int] | None] = {}
        # Opens sealed personal fields (eventstore/personal_data.py) of events decoded here.
        self._opens = mapper if isinstance(mapper, PersonalDataMapper) else None
        self._statement: Composed | None = None
        if isinstance(recorder, PostgresApplicationRecorder):
            self._statement = SQL(
                "SELECT notification_id, originator_id::text, originator_version, topic, state "
                "FROM {schema}.{table} WHERE notification_id>=%s "
                "ORDER BY notification_id LIMIT %s"
            ).format(
                schema=Identifier(recorder.datastore.schema),
                table=Identifier(recorder.events_table_name),
            )

    def read(
        self, start: int, limit: int, connection: Connection[Any] | None = None
    ) -> tuple[list[Record], int | None]:
        """The records of up to `limit` events from position `start`, and the last position
        read (None when there is nothing from `start` on). On PostgreSQL, `connection` is
        one the caller took from the pool (so its errors are the caller's)."""
        rows = self._select_on(connection, start, limit) if connection else self._rows(start, limit)
        if not rows:
            return [], None
        if self._opens is not None:
            self._opens.prefetch([row[4] for row in rows])
        return [self._record(row) for row in rows], rows[-1][0]

    def stream_at(self, position: int) -> tuple[int, str, str] | None:
        """The position, stream and topic of the first event from `position`, undecoded: what
        can be said of an event that cannot be decoded (None past the log's end)."""
        rows = self._rows(position, 1)
        if not rows:
            return None
        found, originator_id, _, topic, _ = rows[0]
        return found, str(originator_id), topic

    def _rows(self, start: int, limit: int) -> Sequence[LogRow]:
        if self._statement is None:
            return [
                (n.id, n.originator_id, n.originator_version, n.topic, n.state)
                for n in self.recorder.select_notifications(start=start, limit=limit)
            ]
        return self._select(start, limit)

    @retry_once
    def _select(self, start: int, limit: int) -> list[LogRow]:
        assert isinstance(self.recorder, PostgresApplicationRecorder)
        with self.recorder.datastore.get_connection() as connection:
            return self._select_on(connection, start, limit)

    def _select_on(self, connection: Connection[Any], start: int, limit: int) -> list[LogRow]:
        assert self._statement is not None
        with connection.cursor(row_factory=tuple_row, binary=True) as cursor:
            cursor.execute(self._statement, (start, limit), prepare=True)
            return cursor.fetchall()

    def _record(self, row: LogRow) -> Record:
        position, originator_id, version, topic, state = row
        kind = self._kind(topic) if self._plain_json else None
        if kind is not None:
            flat = _flat_fields(orjson.loads(state), kind[1])
            if flat is not None:
                fields, sealed = flat
                if sealed and self._opens is not None:
                    self._opens.open_fields(kind[0], originator_id, fields, note_stream=False)
                return kind[0], position, str(originator_id), fields
        event = self.mapper.to_domain_event(
            Notification(
                id=position,
                originator_id=UUID(originator_id) if type(originator_id) is str else originator_id,
                originator_version=version,
                topic=topic,
                state=bytes(state),
            )
        )
        return type(event), position, str(event.originator_id), event.__dict__

    def _kind(self, topic: str) -> tuple[type[Any], int] | None:
        """The class a topic names and its class version (None if it does not resolve)."""
        try:
            return self._kinds[topic]
        except KeyError:
            try:
                cls = resolve_topic(topic)
                kind: tuple[type[Any], int] | None = (cls, getattr(cls, "class_version", 1))
            except Exception:
                kind = None  # the mapper raises its own error for it
            self._kinds[topic] = kind
            return kind


def _flat_fields(state: Any, class_version: int) -> tuple[dict[str, Any], bool] | None:
    """The event's fields with datetimes revived, and whether a personal field is sealed
    (found here, where every field is looked at anyway: searching the stored bytes for the
    mark cost a rebuild 3 %), if they need no upcasting and hold nothing nested; else None
    (the mapper decodes it)."""
    if type(state) is not dict or state.pop("class_version", 1) != class_version:
        return None
    sealed = False
    for name, value in state.items():
        kind = type(value)
        if kind is dict:
            revived = tagged_datetime(value)
            if revived is None:
                if sealed_key_id(value) is None:
                    return None
                sealed = True  # a personal field: opened by the caller
            else:
                state[name] = revived
        elif kind is list:
            return None
    return state, sealed
