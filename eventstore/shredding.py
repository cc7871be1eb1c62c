"""Making deleted bytes really gone, after an erasure's transaction committed.

Deleting a row leaves its bytes in the database's files until they are overwritten. SQLite
writes with `secure_delete` on (eventstore/database.py), so freed space is zeroed; but the
write-ahead log still holds the pages as they were, until a checkpoint copies them back and
the log is truncated. PostgreSQL keeps a deleted row as a dead tuple until VACUUM: the key
table is vacuumed at once (it is small, and holds the secrets); the other tables' dead
tuples hold only sealed or opaque values, or projection rows that the next autovacuum
reclaims (a logical dump, `pg_dump`, never shows them).
"""

from __future__ import annotations

import logging
import sqlite3

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from eventstore.database import Database, PostgresDatabase, SQLiteDatabase
from eventstore.learner_keys import LEARNER_ENROLLMENTS, LEARNER_KEYS

log = logging.getLogger(__name__)

CHECKPOINT_TIMEOUT = 5.0


def shred(db: Database) -> bool:
    """After the deletes committed: True when the old bytes are out of every file."""
    if isinstance(db, SQLiteDatabase):
        return checkpoint_sqlite(db.datastore)
    if isinstance(db, PostgresDatabase):
        return vacuum_keys(db.datastore)
    return False


def checkpoint_sqlite(datastore: SQLiteDatastore) -> bool:
    """Copies the write-ahead log into the file and truncates it to nothing (waiting, up to
    the timeout, for readers that still need its older pages)."""
    connection = sqlite3.connect(
        datastore.pool.db_name, uri=True, timeout=CHECKPOINT_TIMEOUT, isolation_level=None
    )
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    if busy:
        log.warning("the write-ahead log could not be truncated yet (a reader holds it)")
    return not busy


def vacuum_keys(datastore: PostgresDatastore) -> bool:
    # The library's connections are in autocommit mode: VACUUM runs outside a transaction.
    with datastore.get_connection() as connection:
        for table in (LEARNER_KEYS, LEARNER_ENROLLMENTS):
            connection.execute(f'VACUUM "{datastore.schema or "public"}".{table}')
    return True
