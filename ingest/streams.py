"""Loads many aggregates with one query per few hundred, instead of one query each."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent

from domain.ledger import ProgressLedger
from projections.database import Database
from projections.store import chunks, placeholders


def load_aggregates(ledger: ProgressLedger, db: Database, ids: Iterable[UUID]) -> dict[UUID, Any]:
    """The current state of every aggregate named that exists, by id."""
    table = db.table(ledger.recorder.events_table_name)  # type: ignore[attr-defined]
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
                streams.setdefault(originator_id, []).append(ledger.mapper.to_domain_event(stored))
    return {key: project_aggregate(None, events) for key, events in streams.items()}
