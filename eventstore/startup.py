"""What processes do on a PostgreSQL database before they build the event store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from eventstore.environment import StoreOptions, is_postgres, postgres_conninfo


@contextmanager
def startup_lock(options: StoreOptions) -> Iterator[None]:
    """Processes starting together on a new PostgreSQL database (API workers, the projector)
    take turns creating tables: concurrent CREATE ... IF NOT EXISTS can still collide."""
    if not is_postgres(options.database_url):
        yield
        return
    with psycopg.connect(postgres_conninfo(options), autocommit=True) as connection:
        key = f"progress-ledger startup {options.database_schema or 'public'}"
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def create_schema(options: StoreOptions) -> None:
    with psycopg.connect(postgres_conninfo(options), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{options.database_schema}"')
