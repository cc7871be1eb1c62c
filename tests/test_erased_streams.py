"""The projection and a rebuild pass over an erased learner's streams, whichever batch their
events fall in: no rows, nothing parked, the other learners' numbers as before."""

from __future__ import annotations

from bootstrap import LedgerServices
from bootstrap.learner_rights import erase_learner
from cli.operations import event_log
from domain.course import Unit
from projections.audit import verify
from projections.engine import ProjectionEngine
from projections.roster_queries import RosterQuery
from tests.factories import new_id


def history(services: LedgerServices) -> tuple[str, str, str, int]:
    """Two learners in a course, each with completions; returns the course, the learner to
    erase, the one to keep, and the position of the first's enrollment."""
    course_id = new_id("course")
    ledger = services.ledger
    ledger.create_course(course_id, "Course", [Unit(f"u{n}") for n in range(4)])
    erased, kept = new_id("erased"), new_id("kept")
    enrolled_at = 0
    for learner, units in ((erased, 3), (kept, 2)):
        enrolled = ledger.enroll(learner, course_id)
        enrolled_at = enrolled_at or enrolled.recorded.position
        for n in range(units):
            ledger.complete_unit(enrolled.enrollment.id, f"u{n}")
    return course_id, erased, kept, enrolled_at


def one_event_a_batch(services: LedgerServices) -> ProjectionEngine:
    return ProjectionEngine(
        services.ledger.recorder, services.ledger.mapper, services.generations, batch_size=1
    )


def test_a_projector_behind_the_erasure_writes_nothing_of_the_learner(
    services: LedgerServices,
) -> None:
    """The live projection had applied the learner's enrollment, but not their completions,
    when the key was destroyed: another projector (no memory of the enrollment) meets the
    rest, one event a batch, after the rows and the key are gone."""
    services.settings.read_wait_timeout = 0
    course_id, erased, kept, enrolled_at = history(services)
    one_event_a_batch(services).catch_up(services.generations.live(), until=enrolled_at)
    assert services.reads.learner_course(erased, course_id) is not None

    erasure = erase_learner(services, erased)
    live = one_event_a_batch(services).catch_up(services.generations.live())

    assert live.position >= erasure.position
    assert services.reads.learner_course(erased, course_id) is None
    kept_read = services.reads.learner_course(kept, course_id)
    assert kept_read is not None and kept_read["completed_units"] == 2
    roster = services.reads.roster(course_id, RosterQuery(limit=100))
    assert [item["learner_id"] for item in roster["items"]] == [kept]
    assert services.engine.parked.count(live.number) == 0
    assert verify(event_log(services), services.generations).mismatches == []


def test_a_rebuild_after_the_erasure_has_no_rows_for_the_learner(
    services: LedgerServices,
) -> None:
    course_id, erased, kept, _ = history(services)
    services.engine.catch_up(services.generations.live())
    before = services.reads.learner_course(kept, course_id)
    services.start_projection()

    erase_learner(services, erased)
    engine = one_event_a_batch(services)
    rebuilt = engine.catch_up(services.generations.create("units-v1"))

    assert engine.parked.count(rebuilt.number) == 0
    services.generations.switch_live(rebuilt.number)
    assert services.reads.learner_course(erased, course_id) is None
    after = services.reads.learner_course(kept, course_id)
    assert after is not None and before is not None
    assert after["completed_units"] == before["completed_units"] == 2
    assert verify(event_log(services), services.generations).mismatches == []
