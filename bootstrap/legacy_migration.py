"""Builds `progress-ledger migrate`: the old store opened read-only in spirit (nothing of it
is written), the target from the process's own settings (ledger/migration.py has the how)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from bootstrap import LedgerServices
from eventstore.environment import StoreOptions, library_environment
from eventstore.migration_progress import MigrationProgress
from ledger.application import ProgressLedger
from ledger.migration import LegacyMigration, MigrationRefused


def source_name(url: str, schema: str) -> str:
    """The source as the target remembers it: its URL without a password, and its schema."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    plain = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    return plain + (f"#{schema}" if schema else "")


def migrate(
    services: LedgerServices,
    source_url: str,
    source_schema: str = "",
    batch_size: int = 1000,
    on_chunk: Callable[[int, int], None] | None = None,
) -> int:
    """Copies the old log at `source_url` into this process's database, then brings its
    live projection up to date. Returns how many events were written."""
    options = services.settings.store_options()
    if (source_url, source_schema) == (options.database_url, options.database_schema):
        raise MigrationRefused("the source is the target: give the old database", field="--from")
    source = ProgressLedger(
        env=library_environment(
            StoreOptions(
                database_url=source_url,
                database_schema=source_schema,
                database_connect_timeout=options.database_connect_timeout,
                database_pool_size=2,
            )
        )
    )
    try:
        progress = MigrationProgress(services.db)
        progress.create_schema()
        migration = LegacyMigration(
            source, services.ledger, progress, source_name(source_url, source_schema)
        )
        written = migration.run(batch_size, on_chunk)
    finally:
        source.close()
    services.engine.catch_up(services.generations.live())
    return written
