"""Generations of the progress projection: which exist, which one is live, and their
lifecycle (building → live → retired, or building → cancelled; then dropped).

Each generation's row also holds its tracking position, which the batch writes move on
(projections/batch_writes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from eventstore.database import Cursor, Database, Row
from projections.progress_tables import (
    GENERATIONS,
    GenerationTables,
    add_missing_columns,
    create_tables,
    drop_tables,
    point_views_at,
    sorted_roster_indexes,
)


class GenerationNotFound(Exception):
    pass


@dataclass(frozen=True)
class Generation:
    number: int
    rules: str
    status: str
    position: int
    created_at: datetime | None
    switched_at: datetime | None


class Generations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.table = db.table(GENERATIONS)

    def create_schema(self, default_rules: str) -> None:
        """Creates the bookkeeping table and, on a new database, a live first generation."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                "generation INTEGER PRIMARY KEY, rules TEXT NOT NULL, status TEXT NOT NULL, "
                f"position BIGINT NOT NULL, created_at {self.db.timestamp_type}, "
                f"switched_at {self.db.timestamp_type})"
            )
        generations = self.all()
        if not generations:
            self.switch_live(self.create(default_rules).number)
        with self.db.transaction() as cursor:
            for generation in generations:
                tables = GenerationTables(self.db, generation.number)
                add_missing_columns(cursor, self.db, tables)
                if generation.status == "live":
                    # A view lists its table's columns as they were when it was made.
                    point_views_at(cursor, self.db, tables)

    def all(self) -> list[Generation]:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.table} ORDER BY generation")
            return [self.of_row(row) for row in cursor.fetchall()]

    def get(self, number: int) -> Generation:
        for generation in self.all():
            if generation.number == number:
                return generation
        raise GenerationNotFound(f"projection generation {number} does not exist")

    def live(self) -> Generation:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {self.table} WHERE status = 'live'")
            row = cursor.fetchone()
        if row is None:
            raise GenerationNotFound("no live projection generation; run create_schema")
        return self.of_row(row)

    def create(self, rules: str) -> Generation:
        """A new, empty generation under `rules`, building from position 0."""
        with self.db.transaction() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(generation), 0) + 1 AS next FROM {self.table}")
            row = cursor.fetchone()
            number = int(row["next"]) if row else 1
            cursor.execute(
                f"INSERT INTO {self.table} (generation, rules, status, position, created_at) "
                "VALUES (%s, %s, 'building', 0, %s)",
                (number, rules, self.db.timestamp(datetime.now(UTC))),
            )
            create_tables(cursor, self.db, GenerationTables(self.db, number), for_reads=False)
        return self.get(number)

    def index_for_reads(self, number: int) -> None:
        """Makes the indexes the roster reads of a generation need (a rebuild, before it
        switches: one sort each at the end costs less than keeping them all along)."""
        with self.db.transaction() as cursor:
            for statement in sorted_roster_indexes(GenerationTables(self.db, number)):
                cursor.execute(statement)

    def switch_live(self, number: int) -> None:
        """Points the views at this generation; readers see the old or the new, never a mix."""
        with self.db.transaction() as cursor:
            self._switch(cursor, number)

    def switch_when_caught_up(self, number: int, *, ahead: bool = False) -> bool:
        """Switches a building generation only if it stands at the live one's position, so
        a read that waited for a position never lands on a generation behind it, and every
        event is applied as live by one generation or the other (only the live projection
        feeds the webhook outbox); with `ahead`, also when it has gone past it. Locks both
        rows, so the live projector cannot move on between the check and the switch."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"SELECT generation, status, position FROM {self.table} "
                f"WHERE status = 'live' OR generation = %s ORDER BY generation{self.db.for_update}",
                (number,),
            )
            rows = cursor.fetchall()
            candidate = [r for r in rows if int(r["generation"]) == number]
            live = [int(r["position"]) for r in rows if r["status"] == "live"]
            if not candidate or candidate[0]["status"] != "building":
                return False
            if live and not (
                live[0] == int(candidate[0]["position"])
                or (ahead and live[0] < int(candidate[0]["position"]))
            ):
                return False
            self._switch(cursor, number)
            return True

    def _switch(self, cursor: Cursor, number: int) -> None:
        for statement in sorted_roster_indexes(GenerationTables(self.db, number)):
            cursor.execute(statement)  # made already, unless the switch came at once
        cursor.execute(f"UPDATE {self.table} SET status = 'retired' WHERE status = 'live'")
        cursor.execute(
            f"UPDATE {self.table} SET status = 'live', switched_at = %s WHERE generation = %s",
            (self.db.timestamp(datetime.now(UTC)), number),
        )
        point_views_at(cursor, self.db, GenerationTables(self.db, number))

    def cancel_building(self, number: int) -> bool:
        """Cancels the generation if it is still building (a switch may have just won); its
        next batch write is then refused."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"SELECT status FROM {self.table} WHERE generation = %s{self.db.for_update}",
                (number,),
            )
            row = cursor.fetchone()
            if row is None or row["status"] != "building":
                return False
            cursor.execute(
                f"UPDATE {self.table} SET status = 'cancelled' WHERE generation = %s", (number,)
            )
            return True

    def move(self, number: int, from_status: str, to_status: str) -> bool:
        """Moves the generation from one status to another, if it is still in the first."""
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET status = %s WHERE generation = %s AND status = %s "
                "RETURNING generation",
                (to_status, number, from_status),
            )
            return cursor.fetchone() is not None

    def drop(self, number: int) -> None:
        """Drops a generation's tables and its row."""
        if self.get(number).status == "live":
            raise ValueError(f"generation {number} is live; switch to another before dropping")
        with self.db.transaction() as cursor:
            drop_tables(cursor, GenerationTables(self.db, number))
            cursor.execute(f"DELETE FROM {self.table} WHERE generation = %s", (number,))

    def of_row(self, row: Row) -> Generation:
        return Generation(
            number=int(row["generation"]),
            rules=row["rules"],
            status=row["status"],
            position=int(row["position"]),
            created_at=self.db.read_timestamp(row["created_at"]),
            switched_at=self.db.read_timestamp(row["switched_at"]),
        )
