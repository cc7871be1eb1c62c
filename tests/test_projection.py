"""The projection on both databases: the numbers, structure changes, crashes and rebuilds."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap import LedgerServices
from domain.course import Module, Unit
from eventstore.database import Cursor
from projections.batch_rows import BatchRows
from projections.batch_writes import BatchWrites
from projections.engine import Carried, ProjectionEngine
from projections.progress_tables import GenerationTables
from tests.factories import four_unit_course
from tests.oracle_checks import assert_engine_agrees_with_oracle
from tests.progress_reading import progress_of


def project(services: LedgerServices) -> None:
    services.engine.catch_up(services.generations.live())


def numbers(services: LedgerServices, learner: str, course: str = "c1") -> tuple[int, int, float]:
    """As the API's route reads them."""
    progress = progress_of(services, learner, course)
    return progress["completed_units"], progress["total_units"], progress["percentage"]


def test_progress_follows_completions_and_structure(services: LedgerServices) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    ada = ledger.enroll("ada", "c1").enrollment.id
    bob = ledger.enroll("bob", "c1").enrollment.id
    ledger.complete_module(ada, "m1")
    project(services)
    assert numbers(services, "ada") == (0, 4, 0.0)
    first_unit = progress_of(services, "ada", "c1")["units"][0]
    assert (first_unit["completed_modules"], first_unit["percentage"]) == (1, 50.0)

    ledger.complete_module(ada, "m2")
    ledger.complete_unit(ada, "u2")
    ledger.complete_unit(bob, "u4")
    project(services)
    assert numbers(services, "ada") == (2, 4, 50.0)
    assert numbers(services, "bob") == (1, 4, 25.0)

    ledger.add_unit("c1", Unit("u5"))
    project(services)
    assert numbers(services, "ada") == (2, 5, 40.0)
    assert numbers(services, "bob") == (1, 5, 20.0)

    ledger.remove_unit("c1", "u2")  # ada had completed it: it leaves both counts
    project(services)
    assert numbers(services, "ada") == (1, 4, 25.0)
    assert numbers(services, "bob") == (1, 4, 25.0)


def test_completed_at_is_when_the_learner_reached_100(services: LedgerServices) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", [Unit("a"), Unit("b", modules=(Module("x"),))])
    ada = ledger.enroll("ada", "c1").enrollment.id
    ledger.complete_unit(ada, "a")
    finished = ledger.get_enrollment(ada).modified_on
    ledger.complete_module(ada, "x", occurred_at=finished)
    project(services)
    progress = progress_of(services, "ada", "c1")
    assert progress["percentage"] == 100.0
    assert progress["completed_at"] == finished

    ledger.add_module("c1", "b", Module("y"))  # b stays completed: completion is a fact
    ledger.add_unit("c1", Unit("c"))
    project(services)
    reopened = progress_of(services, "ada", "c1")
    assert (reopened["percentage"], reopened["completed_at"]) == (66.67, None)


def test_withdrawn_enrollments_stay_readable(services: LedgerServices) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    ada = ledger.enroll("ada", "c1").enrollment.id
    ledger.complete_unit(ada, "u2")
    ledger.withdraw(ada)
    project(services)
    progress = progress_of(services, "ada", "c1")
    assert (progress["withdrawn"], progress["percentage"]) == (True, 25.0)


def test_a_course_without_units_is_zero_percent(services: LedgerServices) -> None:
    services.ledger.create_course("c1", "Empty", [])
    services.ledger.enroll("ada", "c1")
    project(services)
    assert numbers(services, "ada") == (0, 0, 0.0)


class SimulatedCrash(BaseException):
    """The process dies: not an Exception, so the engine does not take it for an event it
    cannot apply (which it would park)."""


class CrashingWrites(BatchWrites):
    """Writes the rows of every third batch, then dies before the tracking position."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.batches = 0

    def _in_one_statement(self, rows: BatchRows) -> bool:
        return False  # a single statement cannot die half way: take the transaction's path

    def _write_rows(self, cursor: Cursor, t: GenerationTables, rows: BatchRows) -> None:
        super()._write_rows(cursor, t, rows)
        self.batches += 1
        if self.batches % 3 == 0:
            raise SimulatedCrash("crash half way through the batch")


def table_rows(services: LedgerServices, generation: int) -> dict[str, list[tuple[Any, ...]]]:
    tables = GenerationTables(services.db, generation)
    rows = {}
    for name, table, order in (
        ("course_progress", tables.course_progress, "enrollment_id"),
        ("unit_progress", tables.unit_progress, "enrollment_id, unit_id"),
    ):
        with services.db.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT * FROM {table} ORDER BY {order}")
            rows[name] = [tuple(row.values()) for row in cursor.fetchall()]
    return rows


def make_history(services: LedgerServices) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    for n in range(12):
        enrollment = ledger.enroll(f"learner-{n}", "c1").enrollment.id
        ledger.complete_module(enrollment, "m1")
        if n % 2:
            ledger.complete_module(enrollment, "m2")
        if n % 3 == 0:
            ledger.complete_unit(enrollment, "u4")
        if n == 5:
            ledger.add_unit("c1", Unit(f"extra-{n}", modules=(Module(f"xm-{n}"),)))
        if n == 8:
            ledger.remove_unit("c1", "u2")


def test_a_crash_mid_batch_neither_double_counts_nor_skips(services: LedgerServices) -> None:
    make_history(services)
    head = services.ledger.head_position()
    engine = ProjectionEngine(
        services.ledger.recorder,
        services.ledger.mapper,
        services.generations,
        writes=CrashingWrites(services.db),
        batch_size=7,
    )
    live = services.generations.live()
    crashes = 0
    while live.position < head:
        try:
            engine.catch_up(live)
        except SimulatedCrash:
            crashes += 1
        live = services.generations.live()  # a restart reads the tracking position
    assert crashes >= 2

    assert_engine_agrees_with_oracle(services)
    assert len(table_rows(services, live.number)["course_progress"]) == 12


def test_live_projectors_taking_turns_drop_the_states_they_remembered(
    services: LedgerServices,
) -> None:
    """Live projectors keep what they wrote between wake-ups; two of them writing one
    generation by turns (a lost lock) still end with the rows a replay makes."""
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    ada = ledger.enroll("ada", "c1").enrollment.id
    engines = [ProjectionEngine(ledger.recorder, ledger.mapper, services.generations) for _ in "ab"]
    remembered = [Carried(), Carried()]
    generations = [services.generations.live()] * 2
    for turn, unit in enumerate(["u4", "u3", "u2"]):
        ledger.complete_unit(ada, unit)
        for index in (turn % 2, 1 - turn % 2):  # the other one goes first each turn
            generations[index] = engines[index].catch_up(
                generations[index], remembered=remembered[index]
            )
    live = services.generations.live()
    assert live.position == ledger.head_position()
    assert numbers(services, "ada")[0] == 3
    replay = services.engine.catch_up(services.generations.create(live.rules))
    assert table_rows(services, live.number) == table_rows(services, replay.number)


def test_rebuild_switches_reads_to_a_new_generation(services: LedgerServices) -> None:
    make_history(services)
    project(services)
    before = numbers(services, "learner-3")
    old = services.generations.live()
    rebuilt = services.engine.catch_up(services.generations.create("required-units-v2"))
    services.generations.switch_live(rebuilt.number)
    after = progress_of(services, "learner-3", "c1")
    assert after["rules"] == "required-units-v2"
    assert services.generations.get(old.number).status == "retired"
    # learner-3 completed u1 (both modules) and u4; u3 is optional under the new rules.
    assert before == (2, 4, 50.0)
    assert numbers(services, "learner-3") == (2, 3, 66.67)


@pytest.mark.parametrize("batch_size", [1, 3, 5000])
def test_batch_size_does_not_change_the_result(services: LedgerServices, batch_size: int) -> None:
    make_history(services)
    engine = ProjectionEngine(
        services.ledger.recorder,
        services.ledger.mapper,
        services.generations,
        batch_size=batch_size,
    )
    small = engine.catch_up(services.generations.live())
    whole = services.engine.catch_up(services.generations.create(small.rules))
    assert table_rows(services, small.number) == table_rows(services, whole.number)
