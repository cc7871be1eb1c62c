"""How far `progress-ledger migrate` has copied each source log: its last copied position,
recorded in the target database after each chunk, so a stopped migration resumes."""

from __future__ import annotations

from eventstore.database import Database

MIGRATIONS = "migrations"


class MigrationProgress:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.table = db.table(MIGRATIONS)

    def create_schema(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} "
                "(source TEXT PRIMARY KEY, position BIGINT NOT NULL)"
            )

    def position(self, source: str) -> int | None:
        """The last source position copied; None when this source was never started."""
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT position FROM {self.table} WHERE source = %s", (source,))
            row = cursor.fetchone()
        return None if row is None else int(row["position"])

    def record(self, source: str, position: int) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                f"INSERT INTO {self.table} (source, position) VALUES (%s, %s) "
                "ON CONFLICT (source) DO UPDATE SET position = excluded.position",
                (source, position),
            )
