"""The one committer: concurrent commands share an insert, a conflict or a refusal fails only
its own submission, and a write by another process between read and insert is retried."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import pytest

from bootstrap import LedgerServices, Settings, bootstrap
from domain.commands import ChangeCourse, ChangeEnrollment, Command, adding_unit, completing_unit
from domain.course import Unit
from domain.errors import EnrollmentWithdrawnError, NotFoundError
from eventstore.environment import library_environment
from eventstore.idempotency_keys import Claim, IdempotencyKeyTaken
from eventstore.postgres_committer_store import PostgresCommandStore
from ledger.application import ProgressLedger, Recorded, now
from ledger.committer import Committer, Submission, release
from ledger.committer_store import CommandStore, RecorderStore
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.write_lock import holding_the_write_lock


def course_of(units: int) -> list[Unit]:
    return [Unit(f"u{index}") for index in range(units)]


def completing(enrollment_id: UUID, unit_id: str) -> ChangeEnrollment:
    return ChangeEnrollment(enrollment_id, completing_unit(unit_id, now()))


def submitted(
    committer: Committer, commands: Sequence[Command], claim: Claim | None = None
) -> Submission:
    """Handed over without waiting (`Committer.run` would wait)."""
    save_kwargs = {"idempotency": [claim]} if claim else {}
    submission = Submission(commands, save_kwargs, release, threading.Event())
    committer.submit(submission)
    return submission


def settled(submissions: list[Submission]) -> list[Submission]:
    for submission in submissions:
        assert submission.waiter.wait(timeout=DEADLINE), "the committer never settled it"
    return submissions


def test_the_composition_root_builds_one_committing_ledger(services: LedgerServices) -> None:
    ledger = services.ledger
    assert type(ledger) is ProgressLedger and ledger.name == "ProgressLedger"
    store = PostgresCommandStore if services.db.is_postgres else RecorderStore
    assert isinstance(ledger.committer.store, store)


@pytest.fixture(params=[True, False], ids=["group-commit", "an-insert-each"])
def committing(request: pytest.FixtureRequest, settings: Settings) -> Iterator[LedgerServices]:
    built = bootstrap(settings.model_copy(update={"group_commit": request.param}))
    yield built
    built.close()


def test_commands_that_arrive_together_share_an_insert(
    committing: LedgerServices, settings: Settings
) -> None:
    """While one insert waits for the table lock, every command that arrives joins the next
    one or two; without group commit each command takes an insert of its own."""
    ledger = committing.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(2))
    enrollments = [ledger.enroll(new_id("learner"), course_id).enrollment.id for _ in range(32)]
    committer = ledger.committer
    before = committer.inserts

    with holding_the_write_lock(settings):
        submissions = [submitted(committer, [completing(e, "u1")]) for e in enrollments]
        assert committer.unsettled == len(enrollments)
    settled(submissions)

    assert all(s.only().appended == ["UnitCompleted"] for s in submissions)
    inserts = committer.inserts - before
    if committing.settings.group_commit:
        assert inserts <= 3  # the one waiting for the lock, the one read ahead, the rest
    else:
        assert inserts == len(enrollments)


def test_concurrent_completions_are_all_recorded(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(8))
    enrollments = [ledger.enroll(new_id("learner"), course_id).enrollment.id for _ in range(6)]
    # Every learner completes every unit, all at once: many commands share an enrollment.
    commands = [(e, f"u{unit}") for e in enrollments for unit in range(8)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        recorded = list(pool.map(lambda c: ledger.complete_unit(*c), commands))
    assert all(r.appended == ["UnitCompleted"] for r in recorded)
    for enrollment_id in enrollments:
        assert ledger.get_enrollment(enrollment_id).completed_units == {f"u{i}" for i in range(8)}


def test_a_taken_key_in_a_shared_insert_fails_only_its_own_submission(
    services: LedgerServices, settings: Settings
) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(2))
    first, second, third = (
        ledger.enroll(new_id("learner"), course_id).enrollment.id for _ in range(3)
    )
    key = new_id("key")
    committer = ledger.committer
    before = committer.inserts

    with holding_the_write_lock(settings):
        batch = [
            submitted(committer, [completing(first, "u0")], Claim(key, "first")),
            submitted(committer, [completing(second, "u0")], Claim(key, "second")),
            submitted(committer, [completing(third, "u0")]),
        ]
    settled(batch)

    assert batch[0].only().appended == batch[2].only().appended == ["UnitCompleted"]
    assert isinstance(batch[1].error, IdempotencyKeyTaken)
    assert ledger.get_enrollment(second).completed_units == set()
    assert ledger.get_enrollment(third).completed_units == {"u0"}
    # Tried together, then each on its own.
    assert committer.inserts - before <= 3


def test_a_command_that_appends_nothing_answers_at_once(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(1))
    enrollment_id = ledger.enroll(new_id("learner"), course_id).enrollment.id
    first = ledger.complete_unit(enrollment_id, "u0")
    again = ledger.complete_unit(enrollment_id, "u0")
    assert again.appended == []
    assert again.position >= first.position


class RacingStore:
    """The real store; right after one read, another writer appends (as another process
    could), so the batch decided on that read meets a version conflict."""

    def __init__(self, inner: CommandStore, race: Callable[[], object]) -> None:
        self.inner = inner
        self.race: Callable[[], object] | None = race

    def fast_forward(self, known: Mapping[UUID, int]) -> Mapping[UUID, Sequence[Any]]:
        answer = self.inner.fast_forward(known)
        if self.race is not None:
            race, self.race = self.race, None
            race()
        return answer

    def write(
        self, events: list[Any], save_kwargs: dict[str, list[Any]], read_after: Mapping[UUID, int]
    ) -> tuple[list[int], Mapping[UUID, Sequence[Any]]]:
        return self.inner.write(events, save_kwargs, read_after)

    def check_unwritten(self, save_kwargs: dict[str, list[Any]]) -> None:
        self.inner.check_unwritten(save_kwargs)

    def head_position(self) -> int:
        return self.inner.head_position()

    def idle(self) -> None:
        self.inner.idle()


def test_a_write_between_read_and_insert_is_retried_not_lost(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit(f"u{n}") for n in range(3)])
    enrollment_id = ledger.enroll(new_id("learner"), course_id).enrollment.id
    ledger.complete_unit(enrollment_id, "u0")
    other = ProgressLedger(env=library_environment(services.settings.store_options()))
    other.use_keys(services.keys)
    try:
        ledger.committer.store = RacingStore(
            ledger.committer.store, lambda: other.complete_unit(enrollment_id, "u1")
        )
        recorded = ledger.complete_unit(enrollment_id, "u2")
    finally:
        other.close()
    assert recorded.appended == ["UnitCompleted"]
    assert ledger.get_enrollment(enrollment_id).completed_units == {"u0", "u1", "u2"}
    assert recorded.version == ledger.get_enrollment(enrollment_id).version


def test_refused_commands_in_a_batch_fail_alone(services: LedgerServices) -> None:
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit(f"u{n}") for n in range(8)])
    active = [ledger.enroll(new_id("learner"), course_id).enrollment.id for _ in range(4)]
    withdrawn = ledger.enroll(new_id("learner"), course_id).enrollment.id
    ledger.withdraw(withdrawn)
    commands: list[tuple[UUID, str]] = [(e, f"u{n}") for e in active for n in range(8)]
    commands += [(active[0], "no-such-unit"), (uuid4(), "u0"), (withdrawn, "u0")]

    def complete(command: tuple[UUID, str]) -> Recorded | Exception:
        try:
            return ledger.complete_unit(*command)
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        outcomes = list(pool.map(complete, commands))

    assert all(isinstance(o, Recorded) and o.appended == ["UnitCompleted"] for o in outcomes[:-3])
    unknown_unit, unknown_enrollment, refused = outcomes[-3:]
    assert isinstance(unknown_unit, NotFoundError) and unknown_unit.field == "unit_id"
    assert isinstance(unknown_enrollment, NotFoundError)
    assert unknown_enrollment.field == "enrollment_id"
    assert isinstance(refused, EnrollmentWithdrawnError)
    for enrollment_id in active:
        completed = ledger.get_enrollment(enrollment_id).completed_units
        assert completed == {f"u{n}" for n in range(8)}
    assert ledger.get_enrollment(withdrawn).completed_units == set()


def test_a_submission_is_decided_in_order_and_written_in_one_insert(
    services: LedgerServices,
) -> None:
    """Course commands go through the same committer: a unit added by one command is there
    for the completion decided after it, in the same insert."""
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", course_of(1))
    enrollment_id = ledger.enroll(new_id("learner"), course_id).enrollment.id
    committer = ledger.committer
    before = committer.inserts

    commands: list[Command] = [
        ChangeCourse(course_id, adding_unit(Unit("u9"), None)),
        completing(enrollment_id, "u9"),
        completing(enrollment_id, "u8"),
    ]
    together = settled([submitted(committer, commands)])[0].checked()

    added, completed, refused = together.outcomes
    assert isinstance(added, Recorded) and added.appended == ["UnitAdded"]
    assert isinstance(completed, Recorded) and completed.appended == ["UnitCompleted"]
    assert isinstance(refused, NotFoundError) and refused.field == "unit_id"
    assert together.position == completed.position == added.position + 1
    assert committer.inserts - before == 1
