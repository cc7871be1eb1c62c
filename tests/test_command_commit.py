"""Commands decided in batches by the committer: a race with another writer fails no one, a
refused command fails only itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

from bootstrap import LedgerServices
from domain.course import Unit
from domain.errors import EnrollmentWithdrawnError, NotFoundError
from eventstore.environment import library_environment
from ledger.application import ProgressLedger, Recorded
from ledger.committer_store import CommandStore
from ledger.group_commit import GroupCommitLedger
from tests.factories import new_id


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

    def head_position(self) -> int:
        return self.inner.head_position()

    def idle(self) -> None:
        self.inner.idle()


def committing_ledger(services: LedgerServices) -> GroupCommitLedger:
    assert isinstance(services.ledger, GroupCommitLedger)
    return services.ledger


def test_a_write_between_read_and_insert_is_retried_not_lost(services: LedgerServices) -> None:
    ledger = committing_ledger(services)
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit(f"u{n}") for n in range(3)])
    enrollment_id = ledger.enroll(new_id("learner"), course_id).enrollment.id
    ledger.complete_unit(enrollment_id, "u0")
    other = ProgressLedger(env=library_environment(services.settings.store_options()))
    try:
        ledger.use_command_store(
            RacingStore(ledger.commands.store, lambda: other.complete_unit(enrollment_id, "u1"))
        )
        recorded = ledger.complete_unit(enrollment_id, "u2")
    finally:
        other.close()
    assert recorded.appended == ["UnitCompleted"]
    assert ledger.get_enrollment(enrollment_id).completed_units == {"u0", "u1", "u2"}
    assert recorded.version == ledger.get_enrollment(enrollment_id).version


def test_refused_commands_in_a_batch_fail_alone(services: LedgerServices) -> None:
    ledger = committing_ledger(services)
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
