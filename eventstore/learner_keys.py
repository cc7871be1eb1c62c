"""Each learner's secret key, kept outside the log: destroying it erases the learner.

A learner's row (`learner_keys`) is the only place that holds their id in clear. Their
personal fields in events are sealed under the key (eventstore/personal_data.py), and their
enrollments' ids are a keyed hash of the course under it (`LearnerKey.enrollment_id`), so
once the row is gone nothing left in the database can be matched against a list of emails.
`learner_enrollments` names the streams sealed under each key (what erasure and export
walk); `erased_streams` remembers the streams whose key was destroyed, which are opaque
ids by then, so the projection can tell an erased stream from a fault.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventstore.database import CHUNK, Cursor, Database, Row, chunks, placeholders

LEARNER_KEYS = "learner_keys"
LEARNER_ENROLLMENTS = "learner_enrollments"
ERASED_STREAMS = "erased_streams"
SECRETS_KEPT = 100_000
STREAMS_KEPT = 200_000


@dataclass(frozen=True)
class LearnerKey:
    key_id: str
    learner_id: str
    secret: bytes

    def enrollment_id(self, course_id: str) -> UUID:
        """The learner's enrollment in the course: without the secret, no one can tell
        whose it is, nor compute it from a learner id."""
        digest = hashlib.blake2b(
            b"enrollment\x1f" + course_id.encode(), key=self.secret, digest_size=16
        )
        return UUID(bytes=digest.digest(), version=4)


def new_key(learner_id: str) -> LearnerKey:
    return LearnerKey(uuid.uuid4().hex, learner_id, secrets.token_bytes(32))


def key_of_row(row: Row) -> LearnerKey:
    return LearnerKey(row["key_id"], row["learner_id"], bytes.fromhex(row["secret"]))


class LearnerKeys:
    """The key store. Learner lookups always ask the database (another process may have
    erased the learner); secrets found by key id are cached, since a key id names one
    secret forever, and forgotten when its learner is erased here or an erasure is read."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.keys = db.table(LEARNER_KEYS)
        self.enrollments = db.table(LEARNER_ENROLLMENTS)
        self.erased = db.table(ERASED_STREAMS)
        # Bounded, oldest first out (a miss only costs a query): a rebuild or a long-lived
        # server meets every learner, and memory must not grow with them.
        self._secrets: OrderedDict[str, bytes] = OrderedDict()
        self._stream_keys: OrderedDict[UUID, str] = OrderedDict()
        self._lock = threading.Lock()
        # Counts the times a secret was forgotten here (what is derived from secrets, such
        # as eventstore/personal_data.py's ciphers, is forgotten with them).
        self.forgotten = 0

    def create_schema(self) -> None:
        ts = self.db.timestamp_type
        with self.db.transaction() as cursor:
            for statement in (
                f"CREATE TABLE IF NOT EXISTS {self.keys} (key_id TEXT PRIMARY KEY, "
                f"learner_id TEXT NOT NULL UNIQUE, secret TEXT NOT NULL, created_at {ts})",
                f"CREATE TABLE IF NOT EXISTS {self.enrollments} ("
                "enrollment_id TEXT PRIMARY KEY, key_id TEXT NOT NULL)",
                f"CREATE INDEX IF NOT EXISTS learner_enrollments_key "
                f"ON {self.enrollments} (key_id)",
                f"CREATE TABLE IF NOT EXISTS {self.erased} (stream_id TEXT PRIMARY KEY)",
            ):
                cursor.execute(statement)

    # Learners -------------------------------------------------------------------

    def key_of(self, learner_id: str) -> LearnerKey | None:
        return self.keys_of([learner_id]).get(learner_id)

    def keys_of(self, learner_ids: Collection[str]) -> dict[str, LearnerKey]:
        """The keys of those learners that have one."""
        with self.db.one_statement() as cursor:
            found = self._select(cursor, sorted(set(learner_ids)))
        self._remember(found.values())
        return found

    def enroll(self, pairs: Collection[tuple[str, str]]) -> dict[str, LearnerKey]:
        """The keys of the learners of these (learner, course) pairs, made for those who have
        none, with each pair's enrollment named under its key. A learner enrolling again
        (their key found, the enrollment already named here) costs one read; otherwise one
        transaction."""
        learner_ids = sorted({learner for learner, _ in pairs})
        if len(learner_ids) <= CHUNK:
            found = self.keys_of(learner_ids)
            if len(found) == len(learner_ids) and all(
                found[learner].enrollment_id(course) in self._stream_keys
                for learner, course in pairs
            ):
                return found
        with self.db.transaction() as cursor:
            found = self._found_or_made(cursor, learner_ids)
            streams = {
                str(found[learner].enrollment_id(course)): found[learner].key_id
                for learner, course in pairs
            }
            named: set[str] = set()
            for chunk in chunks(sorted(streams)):
                cursor.execute(
                    f"SELECT enrollment_id FROM {self.enrollments} "
                    f"WHERE enrollment_id IN ({placeholders(chunk)})",
                    chunk,
                )
                named.update(row["enrollment_id"] for row in cursor.fetchall())
            cursor.insert_new(
                self.enrollments,
                ("enrollment_id", "key_id"),
                ("enrollment_id",),
                [
                    (stream, key_id)
                    for stream, key_id in sorted(streams.items())
                    if stream not in named
                ],
            )
        self._remember(found.values())
        for stream, key_id in streams.items():
            self._stream_keys[UUID(stream)] = key_id
        _trim(self._stream_keys, STREAMS_KEPT)
        return found

    def _found_or_made(self, cursor: Cursor, learner_ids: list[str]) -> dict[str, LearnerKey]:
        """The learners' keys, made in this transaction for those who have none (a key made
        meanwhile by another process is kept: the insert skips what exists, then reads)."""
        if self.db.is_postgres:
            found = self._found_or_made_at_once(cursor, learner_ids)
        else:
            found = self._select(cursor, learner_ids)
        missing = [learner for learner in learner_ids if learner not in found]
        if missing:
            now = self.db.timestamp(datetime.now(UTC))
            cursor.insert_new(
                self.keys,
                ("key_id", "learner_id", "secret", "created_at"),
                ("learner_id",),
                [(k.key_id, k.learner_id, k.secret.hex(), now) for k in map(new_key, missing)],
            )
            found.update(self._select(cursor, missing))
        return found

    def _found_or_made_at_once(
        self, cursor: Cursor, learner_ids: list[str]
    ) -> dict[str, LearnerKey]:
        """PostgreSQL: one statement offers a new key for every learner and reads the keys
        that were there (a learner whose key another transaction made meanwhile is in
        neither: the caller reads those again). A key made here wins over one the
        statement still saw while an erasure deleted it."""
        offered = [new_key(learner) for learner in learner_ids]
        cursor.execute(
            f"WITH made AS (INSERT INTO {self.keys} (key_id, learner_id, secret, created_at) "
            "SELECT *, now() FROM unnest(%s::text[], %s::text[], %s::text[]) "
            "ON CONFLICT (learner_id) DO NOTHING RETURNING key_id, learner_id, secret) "
            f"SELECT key_id, learner_id, secret, false AS made FROM {self.keys} "
            "WHERE learner_id = ANY(%s::text[]) "
            "UNION ALL SELECT key_id, learner_id, secret, true AS made FROM made",
            (
                [key.key_id for key in offered],
                learner_ids,
                [key.secret.hex() for key in offered],
                learner_ids,
            ),
        )
        found: dict[str, LearnerKey] = {}
        for row in sorted(cursor.fetchall(), key=lambda row: bool(row["made"])):
            found[row["learner_id"]] = key_of_row(row)
        return found

    def name_streams(
        self,
        owners: Mapping[UUID, str],
        pairs: Collection[tuple[str, str]] = (),
        *,
        name_enrollments: bool = False,
    ) -> dict[str, LearnerKey]:
        """Names each stream (an xAPI statement's) as its owner's, so that its personal
        fields are sealed under their key, and their export finds it: the keys of the owners
        and of the learners of the (learner, course) `pairs`, made for those who have none.
        With `name_enrollments`, names the pairs' enrollments too, as `enroll` does. One
        transaction.

        A stream named before is named again: its latest claimant is the one whose
        statement can still be written under it (a claimant refused for a conflict writes
        nothing, and what was written stays sealed under the key it was sealed with)."""
        learner_ids = sorted({*owners.values(), *(learner for learner, _ in pairs)})
        with self.db.transaction() as cursor:
            found = self._found_or_made(cursor, learner_ids)
            named = {stream: found[owner].key_id for stream, owner in owners.items()}
            self._name(cursor, named, replace=True)
            enrolled = {
                found[learner].enrollment_id(course): found[learner].key_id
                for learner, course in (pairs if name_enrollments else ())
            }
            self._name(cursor, enrolled, replace=False)
        self._remember(found.values())
        self._stream_keys.update(named)
        self._stream_keys.update(enrolled)
        _trim(self._stream_keys, STREAMS_KEPT)
        return found

    def _name(self, cursor: Cursor, streams: Mapping[UUID, str], *, replace: bool) -> None:
        """Names the streams under their keys; a stream named before keeps its key unless
        `replace`. In key order, so two transactions naming the same streams cannot
        deadlock."""
        rows = sorted((str(stream), key_id) for stream, key_id in streams.items())
        if not rows:
            return
        if not self.db.is_postgres:
            write = cursor.upsert if replace else cursor.insert_new
            write(self.enrollments, ("enrollment_id", "key_id"), ("enrollment_id",), rows)
            return
        # One statement of two arrays, no temporary table to stage the rows in (as `upsert`
        # does for the projection's many columns); written as array literals, since
        # stream ids and key ids hold nothing to quote (psycopg adapts a list item by item).
        conflict = "DO UPDATE SET key_id = excluded.key_id" if replace else "DO NOTHING"
        cursor.execute(
            f"INSERT INTO {self.enrollments} (enrollment_id, key_id) "
            f"SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT (enrollment_id) {conflict}",
            (
                "{" + ",".join(stream for stream, _ in rows) + "}",
                "{" + ",".join(key_id for _, key_id in rows) + "}",
            ),
        )

    def _select(self, cursor: Cursor, learner_ids: list[str]) -> dict[str, LearnerKey]:
        found: dict[str, LearnerKey] = {}
        for chunk in chunks(learner_ids):
            cursor.execute(
                f"SELECT key_id, learner_id, secret FROM {self.keys} "
                f"WHERE learner_id IN ({placeholders(chunk)})",
                chunk,
            )
            for row in cursor.fetchall():
                found[row["learner_id"]] = key_of_row(row)
        return found

    def enrollments_of(self, key: LearnerKey) -> list[UUID]:
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT enrollment_id FROM {self.enrollments} WHERE key_id = %s "
                "ORDER BY enrollment_id",
                (key.key_id,),
            )
            return [UUID(row["enrollment_id"]) for row in cursor.fetchall()]

    # Streams and secrets (the mapper's side) -------------------------------------

    def secret(self, key_id: str) -> bytes | None:
        """The secret a key id names; None once its learner was erased."""
        found = self._secrets.get(key_id)
        if found is not None:
            return found
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT secret FROM {self.keys} WHERE key_id = %s", (key_id,))
            row = cursor.fetchone()
        if row is None:
            return None
        found = self._secrets[key_id] = bytes.fromhex(row["secret"])
        _trim(self._secrets, SECRETS_KEPT)
        return found

    def prefetch(self, key_ids: Collection[str]) -> None:
        """Reads the secrets of these keys that are not cached yet, in one statement a
        chunk (a rebuild meets thousands of learners: not a round trip each)."""
        missing = sorted({key_id for key_id in key_ids if key_id not in self._secrets})
        if not missing:
            return
        with self.db.transaction(commit=False) as cursor:
            for chunk in chunks(missing):
                cursor.execute(
                    f"SELECT key_id, secret FROM {self.keys} "
                    f"WHERE key_id IN ({placeholders(chunk)})",
                    chunk,
                )
                for row in cursor.fetchall():
                    self._secrets[row["key_id"]] = bytes.fromhex(row["secret"])
        _trim(self._secrets, SECRETS_KEPT)

    def key_id_of_stream(self, stream_id: UUID) -> str | None:
        """The key an enrollment's personal fields are sealed under (None: erased)."""
        found = self._stream_keys.get(stream_id)
        if found is not None:
            return found
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT key_id FROM {self.enrollments} WHERE enrollment_id = %s",
                (str(stream_id),),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        found = self._stream_keys[stream_id] = str(row["key_id"])
        _trim(self._stream_keys, STREAMS_KEPT)
        return found

    def saw_stream(self, stream_id: UUID, key_id: str) -> None:
        self._stream_keys[stream_id] = key_id
        _trim(self._stream_keys, STREAMS_KEPT)

    def forget_stream(self, stream_id: UUID) -> None:
        """An erasure of the stream was read: its secret is not to be used again here."""
        key_id = self._stream_keys.pop(stream_id, None)
        if key_id is not None:
            self._secrets.pop(key_id, None)
            self.forgotten += 1

    def _remember(self, keys: Iterable[LearnerKey]) -> None:
        for key in keys:
            self._secrets[key.key_id] = key.secret
        _trim(self._secrets, SECRETS_KEPT)

    # Erasure --------------------------------------------------------------------

    def destroy(self, cursor: Cursor, key: LearnerKey, streams: Collection[UUID]) -> None:
        """Inside the erasure's transaction: the key, its learner's row and the names of
        their streams go; the streams are remembered as erased (opaque ids from now on)."""
        cursor.execute(f"DELETE FROM {self.enrollments} WHERE key_id = %s", (key.key_id,))
        cursor.execute(f"DELETE FROM {self.keys} WHERE key_id = %s", (key.key_id,))
        cursor.executemany(
            f"INSERT INTO {self.erased} (stream_id) VALUES (%s) ON CONFLICT DO NOTHING",
            [(str(stream),) for stream in streams],
        )
        self._secrets.pop(key.key_id, None)
        self.forgotten += 1
        for stream in streams:
            self._stream_keys.pop(stream, None)


def erased_among(db: Database, stream_ids: Collection[str]) -> set[str]:
    """Which of these streams belonged to an erased learner."""
    erased: set[str] = set()
    if not stream_ids:
        return erased
    with db.transaction(commit=False) as cursor:
        for chunk in chunks(sorted(stream_ids)):
            cursor.execute(
                f"SELECT stream_id FROM {db.table(ERASED_STREAMS)} "
                f"WHERE stream_id IN ({placeholders(chunk)})",
                chunk,
            )
            erased.update(row["stream_id"] for row in cursor.fetchall())
    return erased


def _trim(kept: OrderedDict[Any, Any], limit: int) -> None:
    while len(kept) > limit:
        kept.popitem(last=False)
