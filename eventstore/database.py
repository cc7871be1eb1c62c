"""One narrow SQL interface over the event store's own connection pool, for SQLite and PostgreSQL.

Projection rows live in the same database as the events and reuse the library's pool, so
there is a single place that knows how to connect. Statements are written once with `%s`
placeholders; the SQLite side rewrites them to `?`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

Row = Mapping[str, Any]


class Cursor(Protocol):
    def execute(self, statement: str, params: Sequence[Any] = ()) -> None: ...

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def fetchall(self) -> list[Row]: ...

    def fetchone(self) -> Row | None: ...

    def upsert(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Inserts rows, replacing those with the same key; rows have distinct keys."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Inserts rows that cannot exist yet."""

    def insert_new(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Inserts rows, leaving alone any whose key exists (another writer's, kept)."""


def insert_new_statement(
    table: str, columns: Sequence[str], key: Sequence[str], source: str
) -> str:
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {source} "
        f"ON CONFLICT ({', '.join(key)}) DO NOTHING"
    )


def upsert_statement(table: str, columns: Sequence[str], key: Sequence[str], source: str) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {source} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def insert_statement(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) {values_source(columns)}"


def values_source(columns: Sequence[str]) -> str:
    return f"VALUES ({', '.join(['%s'] * len(columns))})"


# Values per `IN (...)` list: SQLite allows 32,766 parameters a statement.
CHUNK = 500


def chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


class Database(ABC):
    """What differs between the two databases, and nothing else."""

    timestamp_type: str
    json_type: str
    percentage_type: str
    for_update: str

    @abstractmethod
    def transaction(self, *, commit: bool = True) -> Any:
        """A context manager yielding a Cursor; commits at the end when asked to."""

    def one_statement(self) -> Any:
        """A cursor for a single read. On PostgreSQL it runs outside any explicit transaction:
        one statement sees one snapshot, and it saves the BEGIN and ROLLBACK round trips."""
        return self.transaction(commit=False)

    @abstractmethod
    def table(self, name: str) -> str:
        """The name to use in SQL, qualified by schema where there is one."""

    @abstractmethod
    def timestamp(self, value: datetime | None) -> Any: ...

    @abstractmethod
    def read_timestamp(self, value: Any) -> datetime | None: ...

    def percentage(self, value: float) -> Any:
        """A percentage as the percentage column takes it."""
        return value

    @abstractmethod
    def add_column_if_missing(
        self, cursor: Cursor, table: str, column: str, sql_type: str
    ) -> None: ...

    @property
    @abstractmethod
    def is_postgres(self) -> bool: ...


class SQLiteDatabase(Database):
    timestamp_type = "TEXT"
    json_type = "TEXT"
    percentage_type = "REAL"
    for_update = ""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    @contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=commit) as cursor:
            if commit:
                # The library begins deferred. A transaction that reads before it writes
                # cannot wait for another process's write (SQLite answers "database is
                # locked" at once, whatever the busy timeout), so take the write lock first.
                cursor.execute("ROLLBACK")
                # What a write deletes or moves is overwritten with zeros, not left in free
                # space: an erased learner's rows leave no bytes behind in the file.
                cursor.execute("PRAGMA secure_delete = ON")
                cursor.execute("BEGIN IMMEDIATE")
            yield _SQLiteCursor(cursor)

    def table(self, name: str) -> str:
        return name

    def add_column_if_missing(self, cursor: Cursor, table: str, column: str, sql_type: str) -> None:
        cursor.execute(f"SELECT name FROM pragma_table_info('{table}')")
        if column not in {row["name"] for row in cursor.fetchall()}:
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")

    def timestamp(self, value: datetime | None) -> Any:
        return None if value is None else value.isoformat()

    def read_timestamp(self, value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    @property
    def is_postgres(self) -> bool:
        return False


class _SQLiteCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(statement.replace("%s", "?"), tuple(params))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(statement.replace("%s", "?"), rows)

    def fetchall(self) -> list[Row]:
        return [dict(row) for row in self._cursor.fetchall()]

    def upsert(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self.executemany(upsert_statement(table, columns, key, values_source(columns)), rows)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.executemany(insert_statement(table, columns), rows)

    def insert_new(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self.executemany(insert_new_statement(table, columns, key, values_source(columns)), rows)

    def fetchone(self) -> Row | None:
        row = self._cursor.fetchone()
        return None if row is None else dict(row)


COPY_THRESHOLD = 200


class PostgresDatabase(Database):
    timestamp_type = "TIMESTAMPTZ"
    json_type = "TEXT"
    percentage_type = "NUMERIC(5, 2)"
    for_update = " FOR UPDATE"

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self._column_types: dict[tuple[str, tuple[str, ...]], list[int]] = {}

    @contextmanager
    def transaction(self, *, commit: bool = True) -> Iterator[Cursor]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield _PostgresCursor(cursor, self._column_types)

    @contextmanager
    def one_statement(self) -> Iterator[Cursor]:
        with self.datastore.get_connection() as connection, connection.cursor() as cursor:
            yield _PostgresCursor(cursor, self._column_types)

    def percentage(self, value: float) -> Any:
        # Binary COPY sends NUMERIC as a Decimal; the same few values recur.
        return decimal_of(value)

    def table(self, name: str) -> str:
        return f'"{self.datastore.schema}".{name}'

    def add_column_if_missing(self, cursor: Cursor, table: str, column: str, sql_type: str) -> None:
        cursor.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {sql_type}")

    def timestamp(self, value: datetime | None) -> Any:
        return value

    def read_timestamp(self, value: Any) -> datetime | None:
        return value if value is None or isinstance(value, datetime) else None

    @property
    def is_postgres(self) -> bool:
        return True


@lru_cache(maxsize=65_536)
def decimal_of(value: float) -> Decimal:
    return Decimal(repr(value))


class _PostgresCursor:
    def __init__(
        self, cursor: Any, column_types: dict[tuple[str, tuple[str, ...]], list[int]]
    ) -> None:
        self._cursor = cursor
        self._column_types = column_types

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(statement, tuple(params))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(statement, rows)

    def fetchall(self) -> list[Row]:
        return list(self._cursor.fetchall())

    def upsert(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Many rows go through COPY into a temporary table and one INSERT … SELECT: set-based,
        several times faster than a row-by-row executemany."""
        if len(rows) < COPY_THRESHOLD:
            self.executemany(upsert_statement(table, columns, key, values_source(columns)), rows)
            return
        stage = "stage_" + table.rsplit(".", 1)[-1]
        names = ", ".join(columns)
        self._cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        self._copy(stage, table, columns, rows)
        self._cursor.execute(upsert_statement(table, columns, key, f"SELECT {names} FROM {stage}"))
        self._cursor.execute(f"DROP TABLE {stage}")

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Many rows are copied straight into the table."""
        if len(rows) < COPY_THRESHOLD:
            self.executemany(insert_statement(table, columns), rows)
            return
        self._copy(table, table, columns, rows)

    def insert_new(
        self, table: str, columns: Sequence[str], key: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Many rows go through COPY into a temporary table and one INSERT … SELECT."""
        if len(rows) < COPY_THRESHOLD:
            statement = insert_new_statement(table, columns, key, values_source(columns))
            self.executemany(statement, rows)
            return
        stage = "stage_" + table.rsplit(".", 1)[-1]
        self._cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        self._copy(stage, table, columns, rows)
        source = f"SELECT {', '.join(columns)} FROM {stage}"
        self._cursor.execute(insert_new_statement(table, columns, key, source))
        self._cursor.execute(f"DROP TABLE {stage}")

    def _copy(
        self, into: str, like: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Binary COPY: about half the client's and the server's work of text COPY."""
        types = self._types(like, columns)
        statement = f"COPY {into} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        with self._cursor.copy(statement) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _types(self, table: str, columns: Sequence[str]) -> list[int]:
        key = (table, tuple(columns))
        types = self._column_types.get(key)
        if types is None:
            self._cursor.execute(
                "SELECT attname, atttypid FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table,),
            )
            by_name = {row["attname"]: int(row["atttypid"]) for row in self._cursor.fetchall()}
            types = self._column_types[key] = [by_name[column] for column in columns]
        return types

    def fetchone(self) -> Row | None:
        row: Row | None = self._cursor.fetchone()
        return row


def database_for(datastore: object) -> Database:
    """The Database for the event store's datastore (the library picks it from settings)."""
    if isinstance(datastore, PostgresDatastore):
        return PostgresDatabase(datastore)
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteDatabase(datastore)
    raise TypeError(f"unsupported datastore {type(datastore).__name__}")
