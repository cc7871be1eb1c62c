"""The rows of one SELECT as CSV bytes, with no Python object per row on PostgreSQL.

PostgreSQL writes them itself (`COPY (SELECT …) TO STDOUT`), read in the blocks it sends;
SQLite's rows go through the csv module as tuples. The text is the same on both when the
SELECT gives text or numbers: UTF-8, `\\n` line ends, fields quoted only when they hold a
comma, a quote or a line break, quotes doubled, NULL as an empty field. (PostgreSQL quotes an
empty string, which the csv module does not: a SELECT that may give one should give NULL.)
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from typing import Any, NamedTuple

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from eventstore.database import Database, PostgresDatabase, SQLiteDatabase

# Rows a fetch on SQLite.
SQLITE_BATCH = 2000


class CsvText(NamedTuple):
    text: bytes
    rows: int


def select_csv(db: Database, select: str, params: Sequence[Any]) -> CsvText:
    """Every row of `select` (`%s` placeholders), no header, read whole in one statement
    that holds a connection only while it runs: bound the SELECT to bound the memory."""
    if isinstance(db, PostgresDatabase):
        return postgres_csv(db.datastore, select, params)
    if isinstance(db, SQLiteDatabase):
        return sqlite_csv(db.datastore, select, params)
    raise TypeError(f"unsupported database {type(db).__name__}")


def postgres_csv(datastore: PostgresDatastore, select: str, params: Sequence[Any]) -> CsvText:
    written = bytearray()
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        # COPY takes no server-side parameters: psycopg merges them into the statement.
        with cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT csv)", tuple(params)) as copy:
            for block in copy:
                written += block
        rows, encoding = cursor.rowcount, connection.info.encoding
    text = bytes(written)
    if codecs.lookup(encoding).name != "utf-8":
        text = text.decode(encoding).encode()
    return CsvText(text, rows)


def sqlite_csv(datastore: SQLiteDatastore, select: str, params: Sequence[Any]) -> CsvText:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    count = 0
    with datastore.transaction(commit=False) as cursor:
        rows_of = cursor.sqlite_cursor
        rows_of.execute(select.replace("%s", "?"), tuple(params))
        while rows := rows_of.fetchmany(SQLITE_BATCH):
            writer.writerows(rows)
            count += len(rows)
    return CsvText(buffer.getvalue().encode(), count)
