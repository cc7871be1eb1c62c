"""`progress-ledger migrate`: a log written before learners had keys, copied into a new store.

Before, an Enrolled event held the learner's id in clear and an enrollment's id was a uuid5
of course and learner, which anyone with a list of learner ids could compute. Stored events
are never edited, so the old log is copied, in position order, into a new (empty) store:
course events as they were; each enrollment's events under a new id derived under the
learner's key (made in the target), with the personal fields sealed by the target's mapper.
Each chunk is one insert; the source position it reached is recorded in the target after
it, so a stopped migration resumes, and a chunk found already written (the stop came between
the two) is not written twice. The source is left as it was: once the target is serving, the
operator deletes the old database (it still names every learner).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from domain.enrollment import Enrollment
from domain.errors import LedgerError
from eventstore.migration_progress import MigrationProgress
from eventstore.personal_data import KeyMissing
from ledger.application import ProgressLedger


class MigrationRefused(LedgerError):
    pass


class LegacyMigration:
    def __init__(
        self,
        source: Application[UUID],
        target: ProgressLedger,
        progress: MigrationProgress,
        source_name: str,
    ) -> None:
        self.source = source
        self.target = target
        self.progress = progress
        self.source_name = source_name
        # Old enrollment id → new, learned from each stream's Enrolled event.
        self.streams: dict[UUID, UUID] = {}

    def run(
        self,
        batch_size: int = 1000,
        on_chunk: Callable[[int, int], None] | None = None,
        max_chunks: int | None = None,
    ) -> int:
        """Copies the rest of the source log; returns how many events it wrote.
        `on_chunk(position, head)` hears each chunk; `max_chunks` stops early (a test's
        stand-in for an interruption)."""
        position = self._start()
        head = self.source.recorder.max_notification_id() or 0
        written = chunks = 0
        while position < head and (max_chunks is None or chunks < max_chunks):
            notifications = self.source.recorder.select_notifications(
                start=position + 1, limit=batch_size
            )
            if not notifications:
                break
            events = [self._decoded(n) for n in notifications]
            copies = self._copies(events)
            if not self._already_written(copies[0]):
                self.target.recorder.insert_events(
                    [self.target.mapper.to_stored_event(copy) for copy in copies]
                )
                written += len(copies)
            position = notifications[-1].id
            self.progress.record(self.source_name, position)
            chunks += 1
            if on_chunk is not None:
                on_chunk(position, head)
        return written

    def _start(self) -> int:
        position = self.progress.position(self.source_name)
        if position is None:
            if self.target.head_position():
                raise MigrationRefused(
                    "the target database already holds events: migrate into an empty one",
                    field="LEDGER_DATABASE_URL",
                )
            self.progress.record(self.source_name, 0)
            return 0
        return position

    def _decoded(self, notification: Any) -> Any:
        try:
            return self.source.mapper.to_domain_event(notification)
        except KeyMissing:
            raise MigrationRefused(
                "the source already seals learners' data under their keys: nothing to migrate",
                field="--from",
            ) from None

    def _copies(self, events: Sequence[Any]) -> list[Any]:
        enrolled = [e for e in events if isinstance(e, Enrollment.Enrolled)]
        if enrolled:
            keys = self.target.learner_keys().enroll(
                {(e.learner_id, e.course_id) for e in enrolled}
            )
            for e in enrolled:
                self.streams[e.originator_id] = keys[e.learner_id].enrollment_id(e.course_id)
        copies = []
        for event in events:
            if isinstance(event, Enrollment.Event):
                event = retargeted(event, self._new_id(event.originator_id))
            copies.append(event)
        return copies

    def _new_id(self, old_id: UUID) -> UUID:
        """The new id of an old enrollment stream whose Enrolled event an earlier run
        copied (this run has not seen it)."""
        known = self.streams.get(old_id)
        if known is not None:
            return known
        (first,) = self.source.recorder.select_events(old_id, limit=1)
        enrolled = self.source.mapper.to_domain_event(first)
        assert isinstance(enrolled, Enrollment.Enrolled), f"stream {old_id} has no Enrolled"
        key = self.target.learner_keys().enroll([(enrolled.learner_id, enrolled.course_id)])
        new_id = self.streams[old_id] = key[enrolled.learner_id].enrollment_id(enrolled.course_id)
        return new_id

    def _already_written(self, first: Any) -> bool:
        version = first.originator_version
        return bool(
            self.target.recorder.select_events(
                first.originator_id, gt=version - 1, lte=version, limit=1
            )
        )


def retargeted(event: Any, originator_id: UUID) -> Any:
    """The same event (same version, fields and times) on another stream."""
    copy = object.__new__(type(event))
    copy.__dict__.update(vars(event))
    copy.__dict__["originator_id"] = originator_id
    return copy
