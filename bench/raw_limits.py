"""What the database itself does with the same rows, measured in the same run as the figure
it bounds: a paged scan of the events table (against the rebuild) and a binary COPY of the
bulk ingest's rows into a scratch copy of the table (against bulk ingest)."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import sql

from bootstrap import Settings
from ledger.application import ProgressLedger

COLUMNS = sql.SQL("notification_id, originator_id, originator_version, topic, state")
COPY_CHUNK = 1 << 20


def events_table(settings: Settings) -> sql.Composed:
    # The library names the table after the application: `<name>_events`, lower-cased.
    name = f"{ProgressLedger.name.lower()}_events"
    return sql.SQL("{0}.{1}").format(sql.Identifier(settings.database_schema), sql.Identifier(name))


def paged_scan(settings: Settings) -> dict[str, Any]:
    """Every row of the events table, in position order, a page of the rebuild's size at a
    time (keyset paging, as the rebuild reads), fetched as tuples and not decoded."""
    page = settings.projection_batch_size
    statement = sql.SQL(
        "SELECT {0} FROM {1} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
    ).format(COLUMNS, events_table(settings))
    rows = last = 0
    with psycopg.connect(settings.database_url, autocommit=True) as connection:
        started = time.perf_counter()
        while fetched := connection.execute(statement, (last, page)).fetchall():
            rows += len(fetched)
            last = fetched[-1][0]
        elapsed = time.perf_counter() - started
    return {"rows": rows, "seconds": elapsed, "rows_per_second": rows / elapsed}


def binary_copy(settings: Settings, rows: int) -> dict[str, Any]:
    """The log's last `rows` rows (bulk ingest's, when it wrote last), read out in COPY's
    binary format, then timed going back in by COPY into a scratch table with the events
    table's columns and indexes, in one committed transaction."""
    table = events_table(settings)
    scratch = sql.Identifier(settings.database_schema, "bench_copy_scratch")
    with psycopg.connect(settings.database_url) as connection:
        source = sql.SQL(
            "COPY (SELECT {0} FROM {1} ORDER BY notification_id DESC LIMIT {2}) "
            "TO STDOUT (FORMAT BINARY)"
        ).format(COLUMNS, table, sql.Literal(rows))
        with connection.cursor().copy(source) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {0}").format(scratch))
        connection.execute(
            sql.SQL("CREATE TABLE {0} (LIKE {1} INCLUDING INDEXES)").format(scratch, table)
        )
        connection.commit()
        started = time.perf_counter()
        target = sql.SQL("COPY {0} ({1}) FROM STDIN (FORMAT BINARY)").format(scratch, COLUMNS)
        with connection.cursor().copy(target) as copy:
            for offset in range(0, len(data), COPY_CHUNK):
                copy.write(data[offset : offset + COPY_CHUNK])
        connection.commit()
        elapsed = time.perf_counter() - started
        connection.execute(sql.SQL("DROP TABLE {0}").format(scratch))
        connection.commit()
    return {"rows": rows, "seconds": elapsed, "rows_per_second": rows / elapsed}
