"""The one place that turns our settings into the eventsourcing library's environment."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

# Recorders that write Idempotency-Key rows in the events' transaction (and, on PostgreSQL,
# COPY big inserts under the library's own table lock: see eventstore/postgres_recorder.py).
SQLITE_RECORDER_TOPIC = "eventstore.sqlite_recorder:SQLiteIdempotentRecorder"
POSTGRES_RECORDER_TOPIC = "eventstore.postgres_recorder:PostgresIdempotentRecorder"


class DatabaseUrlError(ValueError):
    pass


@dataclass(frozen=True)
class StoreOptions:
    """What the event store needs to know of the settings (built by the composition root)."""

    database_url: str
    database_schema: str = ""
    database_connect_timeout: float = 3.0
    database_pool_size: int = 8


def is_postgres(database_url: str) -> bool:
    return urlsplit(database_url).scheme in ("postgresql", "postgres")


# Decodes the library's JSON with orjson (the stored shape is the library's own). The
# library's aggregate cache stays off: the committer (ledger/committer.py) keeps the one
# cache commands need, and reads load from the database, current with every writer.
LIBRARY_EXTENSIONS = {
    "TRANSCODER_TOPIC": "eventstore.transcoder:FastJSONTranscoder",
    # Seals learners' personal fields under their own keys (eventstore/personal_data.py).
    "MAPPER_TOPIC": "eventstore.personal_data:PersonalDataMapper",
}


def library_environment(settings: StoreOptions) -> dict[str, str]:
    url = urlsplit(settings.database_url)
    if url.scheme == "sqlite":
        path = unquote(url.path)
        # sqlite:///./relative.db and sqlite:////absolute.db, like SQLAlchemy.
        database = path[1:] if path.startswith("/") else path
        if not database:
            raise DatabaseUrlError("LEDGER_DATABASE_URL needs a file: sqlite:///./ledger.sqlite3")
        return {
            **LIBRARY_EXTENSIONS,
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": database,
            "SQLITE_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": "y",
            "APPLICATION_RECORDER_TOPIC": SQLITE_RECORDER_TOPIC,
        }
    if is_postgres(settings.database_url):
        timeout = str(max(1, round(settings.database_connect_timeout)))
        return {
            **LIBRARY_EXTENSIONS,
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": url.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(url.port or 5432),
            "POSTGRES_USER": unquote(url.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(url.password or ""),
            "POSTGRES_SCHEMA": settings.database_schema,
            # Fail fast when the database is away: a quick 503 beats minutes of retries.
            "POSTGRES_CONNECT_TIMEOUT": timeout,
            "POSTGRES_MAX_WAITING": "256",
            "POSTGRES_POOL_SIZE": str(settings.database_pool_size),
            "POSTGRES_MAX_OVERFLOW": str(settings.database_pool_size),
            "POSTGRES_PRE_PING": "y",
            "POSTGRES_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": "y",
            "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER_TOPIC,
        }
    raise DatabaseUrlError(
        f"LEDGER_DATABASE_URL must start with sqlite:/// or postgresql://, not {url.scheme!r}"
    )


def postgres_conninfo(settings: StoreOptions) -> str:
    """A libpq connection string for connections outside the library's pool (LISTEN)."""
    env = library_environment(settings)
    return (
        f"host={env['POSTGRES_HOST']} port={env['POSTGRES_PORT']} "
        f"dbname={env['POSTGRES_DBNAME']} user={env['POSTGRES_USER']} "
        f"password='{env['POSTGRES_PASSWORD']}' connect_timeout={env['POSTGRES_CONNECT_TIMEOUT']}"
    )
