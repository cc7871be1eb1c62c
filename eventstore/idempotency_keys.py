"""Idempotency-Key rows: a request's claim on its key, written in its events' transaction.

The recorders (eventstore/sqlite_recorder.py, eventstore/postgres_recorder.py) insert the
claim's row in the very transaction that inserts the command's events, so a command and
its key commit or vanish together; the HTTP middleware (api/idempotency.py) finds and
remembers answers here.
"""

from __future__ import annotations

import logging
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from eventstore.database import Cursor, Database, chunks, placeholders

log = logging.getLogger(__name__)

TABLE = "idempotency_keys"
COLUMNS = (
    "key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, created_at TEXT NOT NULL, "
    "status INTEGER, media_type TEXT, body TEXT, stream TEXT"
)


@dataclass
class Claim:
    """A request's claim on its key; `recorded` once a transaction holding it committed."""

    key: str
    fingerprint: str
    recorded: bool = field(default=False)
    # The one enrollment the request's command named, so erasing its learner finds the row
    # (its stored answer names them); None for a request of many commands, or of a course.
    stream: str | None = None


class IdempotencyKeyTaken(Exception):
    """Another request holding the same key committed first; this transaction rolled back."""


current_claim: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


def pending_claims(kwargs: dict[str, Any]) -> list[Claim]:
    """The claims a save must write: those passed as `idempotency=` (the committer passes
    each submission's, asked for in its caller's context by `claims_of_this_request`)."""
    given = kwargs.get("idempotency")
    claims = [given] if isinstance(given, Claim) else list(given or ())
    return [claim for claim in claims if not claim.recorded]


def claims_of_this_request(stream: UUID | None = None) -> dict[str, list[Any]]:
    """For commands handed to the committer's thread: this request's claim, if any, tagged
    with the one enrollment its commands name (`stream`)."""
    claim = current_claim.get()
    if claim is None or claim.recorded:
        return {}
    if stream is not None:
        claim.stream = str(stream)
    return {"idempotency": [claim]}


def without_claims(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in kwargs.items() if name != "idempotency"}


def raise_if_taken(claims: list[Claim], taken_keys: set[str]) -> None:
    """What writing the claims would raise, for claims that were not written (their command
    was refused), given which of their keys already have a row."""
    for claim in claims:
        if claim.key in taken_keys:
            raise IdempotencyKeyTaken(claim.key)


def now_text() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class Remembered:
    fingerprint: str
    status: int | None
    media_type: str | None
    body: str | None


class IdempotencyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.table = db.table(TABLE)

    def find(self, key: str) -> Remembered | None:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT fingerprint, status, media_type, body FROM {self.table} WHERE key = %s",
                (key,),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return Remembered(row["fingerprint"], row["status"], row["media_type"], row["body"])

    def remember(self, answers: list[StoredAnswer]) -> None:
        """Stores answers to requests whose claims committed, in one transaction."""
        with self.db.transaction() as cursor:
            if self.db.is_postgres:
                # Losing these rows in a crash only means a retry runs its command again
                # (appending nothing), so they need not wait for their own disk flush.
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute(
                    f"UPDATE {self.table} AS t SET status = a.status, "
                    "media_type = a.media_type, body = a.body "
                    "FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[]) "
                    "AS a (key, status, media_type, body) "
                    "WHERE t.key = a.key AND t.status IS NULL",
                    [list(column) for column in zip(*answers, strict=True)],
                )
            else:
                cursor.executemany(
                    f"UPDATE {self.table} SET status = %s, media_type = %s, body = %s "
                    "WHERE key = %s AND status IS NULL",
                    [(status, media_type, body, key) for key, status, media_type, body in answers],
                )


# An answer to remember: key, status, media type, body.
StoredAnswer = tuple[str, int, str, str]


class AnswerWriter:
    """Stores answers in batches, on a thread of its own, after they were sent: a request
    with a key then costs its caller no more than one without (its claim rides in its
    events' insert). A retry that comes before its answer is stored waits for it (see
    api/idempotency.py); one that comes after a crash lost it runs its command again."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store
        self._queued: list[StoredAnswer] = []
        self._arrived = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def remember(self, key: str, status: int, media_type: str, body: str) -> None:
        with self._arrived:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="idempotency-answers", daemon=True
                )
                self._thread.start()
            self._queued.append((key, status, media_type, body))
            self._arrived.notify()

    def close(self) -> None:
        with self._arrived:
            self._closed = True
            self._arrived.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._arrived:
                self._arrived.wait_for(lambda: bool(self._queued) or self._closed)
                answers, self._queued = self._queued, []
                if not answers and self._closed:
                    return
            try:
                self.store.remember(answers)
            except PersistenceError as error:
                log.warning("could not store %d idempotent answers: %s", len(answers), error)


def add_stream_column(db: Database) -> None:
    """Databases made before erasure existed have no `stream` column: add it, and its index
    (what erasure looks rows up by)."""
    table = db.table(TABLE)
    with db.transaction() as cursor:
        if db.is_postgres:
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS stream TEXT")
        else:
            cursor.execute(f"PRAGMA table_info({table})")
            if "stream" not in {row["name"] for row in cursor.fetchall()}:
                cursor.execute(f"ALTER TABLE {table} ADD COLUMN stream TEXT")
        cursor.execute(f"CREATE INDEX IF NOT EXISTS idempotency_keys_stream ON {table} (stream)")


def forget_requests_of(
    db: Database, cursor: Cursor, streams: list[str], mentions: list[str]
) -> None:
    """Inside an erasure's transaction: deletes the rows of requests about these streams, and
    the rows of requests of many commands (a batch) whose stored answer mentions any of
    `mentions` (the learner's id, their enrollments' ids)."""
    table = db.table(TABLE)
    for chunk in chunks(streams):
        cursor.execute(f"DELETE FROM {table} WHERE stream IN ({placeholders(chunk)})", chunk)
    for chunk in chunks(mentions):
        like = " OR ".join(["body LIKE %s"] * len(chunk))
        # Ids hold no `%`; a `_` matches itself and any one character: only a wider net.
        cursor.execute(
            f"DELETE FROM {table} WHERE stream IS NULL AND ({like})",
            [f"%{text.replace('%', '')}%" for text in chunk],
        )
