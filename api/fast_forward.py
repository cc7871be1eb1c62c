"""Brings many cached aggregates up to date with one query (PostgreSQL).

The library fast-forwards a cached aggregate with a query of its own; the command committer
(domain/command_commit.py) asks for every aggregate of a batch at once: one round trip
returns, for each id, only the events after the version it already holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from api.recorders import retry_once
from domain.ledger import ProgressLedger
from projections.database import Database


class PostgresFastForward:
    def __init__(self, ledger: ProgressLedger, db: Database) -> None:
        self.ledger = ledger
        self.db = db
        table = db.table(ledger.recorder.events_table_name)  # type: ignore[attr-defined]
        self.statement = (
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            f"FROM {table} AS e "
            "JOIN unnest(%s::uuid[], %s::bigint[]) AS known (id, version) "
            "ON e.originator_id = known.id AND e.originator_version > known.version "
            "ORDER BY e.originator_id, e.originator_version"
        )

    @retry_once
    def __call__(self, known: Mapping[UUID, int]) -> dict[UUID, list[Any]]:
        with self.db.one_statement() as cursor:
            cursor.execute(self.statement, (list(known), list(known.values())))
            rows = cursor.fetchall()
        to_domain_event = self.ledger.mapper.to_domain_event
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
