"""A learner's rights over what the ledger holds about them: export it all, or erase them.

Erasure is crypto-shredding. The log keeps every event (it is append-only), but the learner's
personal fields in it are sealed under their key and their enrollment ids are keyed hashes
under it; destroying the key leaves nothing there that names them. What the ledger derived
from the log is deleted outright: projection rows in every generation, parked rows,
Idempotency-Key rows (their stored answers name the learner). An `Erased` event appended to
each enrollment tells every projection, and later webhooks, that the learner is gone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from bootstrap import LedgerServices
from domain.acting import ACTING_FIELDS, SYSTEM, Acting
from domain.errors import NotFoundError
from domain.xapi import Statement
from eventstore.idempotency_keys import forget_requests_of
from eventstore.learner_keys import LearnerKey
from eventstore.shredding import shred
from projections.audit import ENVELOPE, EventLog
from projections.outbox import forget_deliveries_of
from projections.parking import forget_streams
from projections.progress_tables import GenerationTables, delete_enrollments


@dataclass(frozen=True)
class Erasure:
    enrollments: int
    # Covers the Erased events: a read with this min_position sees the learner gone.
    position: int
    # The old bytes are out of every file (False: a reader held SQLite's log; see shred).
    shredded: bool


def known_key(services: LedgerServices, learner_id: str) -> LearnerKey:
    key = services.keys.key_of(learner_id)
    if key is None:
        raise NotFoundError(f"learner {learner_id!r} is not known", field="learner_id")
    return key


def erase_learner(services: LedgerServices, learner_id: str, acting: Acting = SYSTEM) -> Erasure:
    """Appends `Erased` to each of the learner's enrollments, then, in one transaction,
    destroys their key and deletes every row derived from them; then shreds the bytes.
    Running it again after a crash finishes the job (erasing twice appends nothing)."""
    key = known_key(services, learner_id)
    streams = services.keys.enrollments_of(key)
    erased, position = erase_streams(services, streams, acting)
    # Let the live projection apply the Erased events first (bounded, like a read's wait):
    # then no batch of its that read the learner before can write their rows after the
    # deletes below.
    wait_for_live(services, position)
    db = services.db
    names = [str(stream) for stream in streams]
    generations = services.generations.all()
    with db.transaction() as cursor:
        for generation in generations:
            delete_enrollments(cursor, GenerationTables(db, generation.number), names)
        forget_streams(cursor, db, names)
        forget_deliveries_of(cursor, db, names)
        forget_requests_of(db, cursor, names, [learner_id, *names])
        services.keys.destroy(cursor, key, streams)
    shredded = shred(db)
    return Erasure(erased, position or services.ledger.head_position(), shredded)


def wait_for_live(services: LedgerServices, position: int) -> None:
    deadline = time.monotonic() + services.settings.read_wait_timeout
    while services.generations.live().position < position and time.monotonic() < deadline:
        time.sleep(0.02)


def erase_streams(services: LedgerServices, streams: list[UUID], acting: Acting) -> tuple[int, int]:
    """How many enrollments exist among `streams` (one may be named but was never written:
    its Enroll was refused), and the position that covers their Erased events."""
    if not streams:
        return 0, 0
    submission = services.ledger.erase_enrollments(streams, acting)
    erased = 0
    for outcome in submission.outcomes:
        if isinstance(outcome, NotFoundError):
            continue
        if isinstance(outcome, Exception):
            raise outcome
        erased += 1
    return erased, submission.position


def export_learner(services: LedgerServices, learner_id: str) -> dict[str, Any]:
    """Everything held about the learner: each enrollment with its events (its history, as
    stored) and its progress as the live projection has it."""
    key = known_key(services, learner_id)
    log = EventLog(services.ledger.recorder, services.ledger.mapper, services.db)
    enrollments: list[dict[str, Any]] = []
    statements: list[Any] = []
    for stream in services.keys.enrollments_of(key):
        events = log.stream(stream)
        if not events:
            continue
        if isinstance(events[0][1], Statement.Received):  # an xAPI statement their actor made
            statements.append(json.loads(events[0][1].statement))
            continue
        course_id: str = events[0][1].course_id
        enrollments.append(
            {
                "enrollment_id": str(stream),
                "course_id": course_id,
                "progress": services.reads.learner_course(learner_id, course_id),
                "events": [
                    {
                        "position": position,
                        "version": event.originator_version,
                        "type": type(event).__name__,
                        "recorded_at": event.timestamp,
                        "occurred_at": getattr(event, "occurred_at", event.timestamp),
                        "data": {k: v for k, v in vars(event).items() if k not in ENVELOPE},
                        **{name: getattr(event, name, None) for name in ACTING_FIELDS},
                    }
                    for position, event in events
                ],
            }
        )
    return {"learner_id": learner_id, "enrollments": enrollments, "xapi_statements": statements}
