"""Holding the event store's write lock from outside, so commands pile up behind it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from bootstrap import Settings
from eventstore.environment import is_postgres, library_environment
from ledger.application import ProgressLedger

EVENTS_TABLE = f"{ProgressLedger.name.lower()}_events"


@contextmanager
def holding_the_write_lock(settings: Settings) -> Iterator[None]:
    """What every insert of events must take first: on PostgreSQL the library's
    `LOCK TABLE … IN EXCLUSIVE MODE`, on SQLite the database's write lock."""
    if is_postgres(settings.database_url):
        with psycopg.connect(settings.database_url) as locking:
            table = f'"{settings.database_schema or "public"}".{EVENTS_TABLE}'
            locking.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                locking.rollback()
        return
    path = library_environment(settings.store_options())["SQLITE_DBNAME"]
    writing = sqlite3.connect(path, isolation_level=None)
    try:
        writing.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            writing.execute("ROLLBACK")
    finally:
        writing.close()
