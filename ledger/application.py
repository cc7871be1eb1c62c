"""ProgressLedger: the only way in. Every command goes to its one committer, which checks it
against the course and saves the facts; reads load through the library's repository."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, project_aggregate
from eventsourcing.domain import Aggregate

from domain.acting import SYSTEM, Acting
from domain.commands import (
    Change,
    ChangeCourse,
    ChangeEnrollment,
    Command,
    CreateCourse,
    Enroll,
    adding_module,
    adding_unit,
    changing_threshold,
    changing_unit,
    completing_module,
    completing_unit,
    erasing,
    removing_module,
    removing_unit,
    resetting,
    revoking_module,
    revoking_unit,
    withdrawing,
)
from domain.commands import Recorded as Recorded
from domain.course import DEFAULT_THRESHOLD, Course, Module, Unit
from domain.enrollment import Enrollment
from domain.errors import NotFoundError
from domain.identifiers import course_aggregate_id
from eventstore.idempotency_keys import IdempotencyKeyTaken, claims_of_this_request
from eventstore.learner_keys import LearnerKeys
from eventstore.personal_data import KeyMissing, PersonalDataMapper
from eventstore.postgres_committer_store import PostgresCommandStore
from eventstore.postgres_recorder import PostgresIdempotentRecorder
from ledger.command_waiters import decided
from ledger.committer import CommitMetrics, Committer, Submission
from ledger.committer_store import CommandStore, RecorderStore

A = TypeVar("A", bound=Aggregate)


@dataclass(frozen=True)
class Enrolled:
    enrollment: Enrollment
    created: bool
    recorded: Recorded


def enrolled(command: Enroll, recorded: Recorded) -> Enrolled:
    assert command.enrollment is not None, "an accepted Enroll keeps its enrollment"
    return Enrolled(command.enrollment, "Enrolled" in recorded.appended, recorded)


def now() -> datetime:
    return datetime.now(UTC)


class ProgressLedger(Application[UUID]):
    name = "ProgressLedger"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        group_commit: bool = True,
        metrics: CommitMetrics | None = None,
    ):
        """Without `group_commit`, the committer writes every submission in an insert of
        its own (a batch request is still one submission); `metrics` counts its commands."""
        super().__init__(env)
        # Called with the new head position after every insert that appended events.
        self.on_recorded: list[Callable[[int], None]] = []
        # Given by the composition root once the database is open (`use_keys`).
        self.keys: LearnerKeys | None = None
        self.committer = Committer(
            self.command_store(),
            on_written=self.announce,
            # A learner erased while their command was in flight fails that command alone.
            apart_on=(IdempotencyKeyTaken, KeyMissing),
            max_batch=None if group_commit else 1,
            metrics=metrics,
        )

    def command_store(self) -> CommandStore:
        if isinstance(self.recorder, PostgresIdempotentRecorder):
            return PostgresCommandStore(self.mapper, self.recorder)
        return RecorderStore(self.mapper, self.recorder)

    def use_keys(self, keys: LearnerKeys) -> None:
        """The learners' keys: enrollment ids are derived under them, and the mapper seals
        personal fields with them."""
        self.keys = keys
        if isinstance(self.mapper, PersonalDataMapper):
            self.mapper.use_keys(keys)

    def learner_keys(self) -> LearnerKeys:
        if self.keys is None:
            raise RuntimeError("the ledger has no key store (bootstrap gives it one)")
        return self.keys

    def announce(self, position: int) -> None:
        """Tells the listeners that the log grew up to `position`."""
        for listener in self.on_recorded:
            listener(position)

    def close(self) -> None:
        self.committer.close()
        super().close()

    # Commands ------------------------------------------------------------------

    def submission(
        self,
        commands: Sequence[Command],
        acting: Acting,
        aggregate_ids: set[UUID] | None = None,
    ) -> Submission:
        """Commands to be written together, by `acting`, with this request's Idempotency-Key
        claim (asked now, in the caller's own context), tagged with the enrollment a single
        command names (erasing its learner deletes the row)."""
        stream = getattr(commands[0], "enrollment_id", None) if len(commands) == 1 else None
        return Submission(
            commands, claims_of_this_request(stream), aggregate_ids=aggregate_ids, acting=acting
        )

    def run_together(
        self,
        commands: Sequence[Command],
        acting: Acting,
        aggregate_ids: set[UUID] | None = None,
    ) -> Submission:
        """Decides the commands, writes them in one insert, and waits: every outcome.
        `aggregate_ids`: every aggregate the commands name, if the caller knows them."""
        return self.committer.run(self.submission(commands, acting, aggregate_ids)).checked()

    def run(self, command: Command, acting: Acting = SYSTEM) -> Recorded:
        """Decides the command and waits: its record, or its refusal raised."""
        return self.committer.run(self.submission([command], acting)).only()

    async def decide(self, command: Command, acting: Acting) -> Recorded:
        """`run` for a caller on an event loop: no thread waits, the loop is woken once a
        batch."""
        return (await decided(self.committer, self.submission([command], acting))).only()

    async def decide_whole(self, commands: Sequence[Command], acting: Acting) -> list[Recorded]:
        """`decide` for commands that are written all together or not at all: every record,
        or the first refusal raised."""
        submission = self.submission(commands, acting)
        submission.whole = True
        outcomes = (await decided(self.committer, submission)).checked().outcomes
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return [outcome for outcome in outcomes if isinstance(outcome, Recorded)]

    # Courses -----------------------------------------------------------------

    def create_course(
        self,
        course_id: str,
        title: str,
        units: Sequence[Unit],
        completion_threshold: float = DEFAULT_THRESHOLD,
        acting: Acting = SYSTEM,
    ) -> Recorded:
        return self.run(CreateCourse(course_id, title, units, completion_threshold), acting)

    def change_unit(
        self,
        course_id: str,
        unit_id: str,
        *,
        title: str | None = None,
        required: bool | None = None,
        weight: float | None = None,
        acting: Acting = SYSTEM,
    ) -> Recorded:
        change = changing_unit(unit_id, title, required, weight)
        return self.run(ChangeCourse(course_id, change), acting)

    def change_threshold(
        self, course_id: str, completion_threshold: float, acting: Acting = SYSTEM
    ) -> Recorded:
        return self.run(ChangeCourse(course_id, changing_threshold(completion_threshold)), acting)

    def add_unit(
        self, course_id: str, unit: Unit, index: int | None = None, acting: Acting = SYSTEM
    ) -> Recorded:
        return self.run(ChangeCourse(course_id, adding_unit(unit, index)), acting)

    def remove_unit(self, course_id: str, unit_id: str, acting: Acting = SYSTEM) -> Recorded:
        return self.run(ChangeCourse(course_id, removing_unit(unit_id)), acting)

    def add_module(
        self,
        course_id: str,
        unit_id: str,
        module: Module,
        index: int | None = None,
        acting: Acting = SYSTEM,
    ) -> Recorded:
        return self.run(ChangeCourse(course_id, adding_module(unit_id, module, index)), acting)

    def remove_module(
        self, course_id: str, unit_id: str, module_id: str, acting: Acting = SYSTEM
    ) -> Recorded:
        return self.run(ChangeCourse(course_id, removing_module(unit_id, module_id)), acting)

    # Enrollments -------------------------------------------------------------

    def enroll(self, learner_id: str, course_id: str, acting: Acting = SYSTEM) -> Enrolled:
        """Enrolling twice returns the same enrollment; its id is derived, so races cannot
        make two."""
        command = self.enroll_command(learner_id, course_id)
        return enrolled(command, self.run(command, acting))

    def enroll_command(self, learner_id: str, course_id: str) -> Enroll:
        """The learner's key, made if they have none (one transaction), names the
        enrollment."""
        key = self.learner_keys().enroll([(learner_id, course_id)])[learner_id]
        return Enroll(learner_id, course_id, now(), key.enrollment_id(course_id))

    def enrollment_id(self, learner_id: str, course_id: str) -> UUID | None:
        """The learner's enrollment id in the course; None when they have no key."""
        key = self.learner_keys().key_of(learner_id)
        return None if key is None else key.enrollment_id(course_id)

    def erase_enrollments(
        self, enrollment_ids: Sequence[UUID], acting: Acting = SYSTEM
    ) -> Submission:
        """Appends `Erased` to each enrollment that exists, in one insert."""
        at = now()
        return self.run_together(
            [ChangeEnrollment(key, erasing(at)) for key in enrollment_ids],
            acting,
            set(enrollment_ids),
        )

    def complete_module(
        self,
        enrollment_id: UUID,
        module_id: str,
        occurred_at: datetime | None = None,
        acting: Acting = SYSTEM,
    ) -> Recorded:
        change = completing_module(module_id, occurred_at or now())
        return self.change_enrollment(enrollment_id, change, acting)

    def complete_unit(
        self,
        enrollment_id: UUID,
        unit_id: str,
        occurred_at: datetime | None = None,
        acting: Acting = SYSTEM,
    ) -> Recorded:
        change = completing_unit(unit_id, occurred_at or now())
        return self.change_enrollment(enrollment_id, change, acting)

    def revoke_unit(self, enrollment_id: UUID, unit_id: str, acting: Acting = SYSTEM) -> Recorded:
        return self.change_enrollment(enrollment_id, revoking_unit(unit_id, now()), acting)

    def revoke_module(
        self, enrollment_id: UUID, module_id: str, acting: Acting = SYSTEM
    ) -> Recorded:
        return self.change_enrollment(enrollment_id, revoking_module(module_id, now()), acting)

    def reset(self, enrollment_id: UUID, acting: Acting = SYSTEM) -> Recorded:
        return self.change_enrollment(enrollment_id, resetting(now()), acting)

    def withdraw(
        self, enrollment_id: UUID, occurred_at: datetime | None = None, acting: Acting = SYSTEM
    ) -> Recorded:
        return self.change_enrollment(enrollment_id, withdrawing(occurred_at or now()), acting)

    def change_enrollment(
        self, enrollment_id: UUID, change: Change, acting: Acting = SYSTEM
    ) -> Recorded:
        return self.run(ChangeEnrollment(enrollment_id, change), acting)

    # Reads -------------------------------------------------------------------

    def get_course(self, course_id: str) -> Course:
        return self._get(
            course_aggregate_id(course_id), Course, f"course {course_id!r}", "course_id"
        )

    def get_enrollment(self, enrollment_id: UUID) -> Enrollment:
        return self._get(enrollment_id, Enrollment, f"enrollment {enrollment_id}", "enrollment_id")

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def current(self, ids: Sequence[UUID]) -> dict[UUID, Aggregate]:
        """Those of these aggregates that exist, as stored now, read together (one
        statement a chunk, where the repository makes one a aggregate)."""
        read = RecorderStore(self.mapper, self.recorder).fast_forward(dict.fromkeys(ids, 0))
        found: dict[UUID, Aggregate] = {}
        for key, events in read.items():
            aggregate = project_aggregate(None, events)
            if aggregate is not None:
                found[key] = aggregate
        return found

    def _get(self, aggregate_id: UUID, kind: type[A], label: str, field: str) -> A:
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(f"{label} does not exist", field=field) from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(f"{label} does not exist", field=field)
        return aggregate
