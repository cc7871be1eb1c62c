"""Parked events: those a generation's projection could not apply, and those held behind them.

An event that fails to fold or to write is parked with its error; its stream (the enrollment,
or the course and so every enrollment in it) is held: the stream's later events are parked
behind it, in order, so no number is computed from a gap. Every other stream goes on.
Nothing is skipped silently: each parked event has a row here until a retry applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from eventstore.database import Cursor, Database, chunks, placeholders

PARKED_EVENTS = "parked_events"
HELD_BEHIND = "held behind position {position}"


@dataclass(frozen=True)
class ParkedEvent:
    generation: int
    position: int
    stream: str
    kind: str  # "enrollment" or "course"
    error: str
    parked_at: datetime | None


class ParkedEvents:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.table = db.table(PARKED_EVENTS)

    def create_schema(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                "generation INTEGER NOT NULL, position BIGINT NOT NULL, stream TEXT NOT NULL, "
                f"kind TEXT NOT NULL, error TEXT NOT NULL, parked_at {self.db.timestamp_type}, "
                "PRIMARY KEY (generation, position))"
            )
            # Every progress read probes it (projections/progress_reads.py).
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS parked_events_stream "
                f"ON {self.table} (generation, stream)"
            )

    def park(self, generation: int, parked: list[tuple[int, str, str, str]]) -> None:
        """Records (position, stream, kind, error) rows; parking one twice keeps the first."""
        if not parked:
            return
        now = self.db.timestamp(datetime.now(UTC))
        with self.db.transaction() as cursor:
            cursor.executemany(
                f"INSERT INTO {self.table} "
                "(generation, position, stream, kind, error, parked_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(generation, p, stream, kind, error, now) for p, stream, kind, error in parked],
            )

    def held(self, generation: int) -> set[str]:
        """The streams held in this generation (enrollment ids and course aggregate ids)."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT DISTINCT stream FROM {self.table} WHERE generation = %s", (generation,)
            )
            return {row["stream"] for row in cursor.fetchall()}

    def of_generation(self, generation: int) -> list[ParkedEvent]:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT * FROM {self.table} WHERE generation = %s ORDER BY position",
                (generation,),
            )
            rows = cursor.fetchall()
        return [
            ParkedEvent(
                generation=int(r["generation"]),
                position=int(r["position"]),
                stream=r["stream"],
                kind=r["kind"],
                error=r["error"],
                parked_at=self.db.read_timestamp(r["parked_at"]),
            )
            for r in rows
        ]

    def count(self, generation: int) -> int:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT COUNT(*) AS n FROM {self.table} WHERE generation = %s", (generation,)
            )
            row = cursor.fetchone()
        return int(row["n"]) if row else 0

    def counts(self) -> dict[int, tuple[int, int]]:
        """Generation → (parked events, held streams), for generations that have any."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT generation, COUNT(*) AS events, COUNT(DISTINCT stream) AS streams "
                f"FROM {self.table} GROUP BY generation"
            )
            rows = cursor.fetchall()
        return {int(r["generation"]): (int(r["events"]), int(r["streams"])) for r in rows}

    def park_again(self, generation: int, position: int, error: str) -> None:
        """A retry failed again: the newest error."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET error = %s WHERE generation = %s AND position = %s",
                (error, generation, position),
            )

    def release(self, generation: int, positions: list[int]) -> None:
        """Forgets parked events that a retry has applied."""
        with self.db.transaction() as cursor:
            cursor.executemany(
                f"DELETE FROM {self.table} WHERE generation = %s AND position = %s",
                [(generation, p) for p in positions],
            )


def forget_streams(cursor: Cursor, db: Database, streams: Sequence[str]) -> None:
    """Inside an erasure's transaction: the parked rows of these streams, in every
    generation (an erased learner's events are passed over from now on, not parked)."""
    for chunk in chunks(streams):
        cursor.execute(
            f"DELETE FROM {db.table(PARKED_EVENTS)} WHERE stream IN ({placeholders(chunk)})",
            chunk,
        )
