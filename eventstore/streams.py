"""Loads many aggregates with one query per few hundred, instead of one query each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import Mapper, StoredEvent

from eventstore.database import Database, chunks, placeholders


def load_aggregates(
    db: Database, events_table: str, mapper: Mapper[UUID], ids: Iterable[UUID]
) -> dict[UUID, Any]:
    """The current state of every aggregate named that exists, by id."""
    table = db.table(events_table)
    keys = sorted(ids)
    streams: dict[UUID, list[Any]] = {}
    with db.transaction(commit=False) as cursor:
        for chunk in chunks(keys):
            params = chunk if db.is_postgres else [key.hex for key in chunk]
            cursor.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {table} "
                f"WHERE originator_id IN ({placeholders(chunk)}) "
                "ORDER BY originator_id, originator_version",
                params,
            )
            for row in cursor.fetchall():
                originator_id = UUID(str(row["originator_id"]))
                stored = StoredEvent(
                    originator_id=originator_id,
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                streams.setdefault(originator_id, []).append(mapper.to_domain_event(stored))
    return {key: project_aggregate(None, events) for key, events in streams.items()}
