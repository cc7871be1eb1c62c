"""The progress documents on both databases. Each is built by one function from the rows of
one statement, so an enrollment reads the same in every document; on PostgreSQL the read on
the event loop (the route's) and the read on the database's pool agree to the byte."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import orjson

from bootstrap import LedgerServices, Settings, bootstrap
from domain.course import Unit
from projections.progress_documents import CourseProgress
from projections.progress_tables import GenerationTables, point_views_at
from projections.roster_queries import RosterQuery
from tests.factories import enrollment_id_of
from tests.progress_reading import progress_of, read_progress
from tests.test_projection import make_history, project

LEARNERS = [f"learner-{n}" for n in range(12)]


def as_sent(document: Any) -> bytes:
    """As the API writes it (orjson refuses a Decimal or any type it does not know)."""
    return orjson.dumps(document, option=orjson.OPT_UTC_Z)


def without_units(progress: CourseProgress) -> CourseProgress:
    return {**progress, "units": []}


def test_every_document_shows_an_enrollment_alike(services: LedgerServices) -> None:
    make_history(services)
    ledger = services.ledger
    ledger.create_course("c2", "Other", [Unit("only")])
    ledger.complete_unit(ledger.enroll("learner-3", "c2").enrollment.id, "only")
    ledger.withdraw(enrollment_id_of(ledger, "c1", "learner-0"))
    for unit in ("u3", "u4", "extra-5"):  # learner-1 completed u1 by its modules
        ledger.complete_unit(enrollment_id_of(ledger, "c1", "learner-1"), unit)
    project(services)
    reads = services.reads
    position = services.generations.live().position

    single = {learner: progress_of(services, learner, "c1") for learner in LEARNERS}
    for learner, progress in single.items():
        assert progress["projection_position"] == position
        assert as_sent(reads.learner_course(learner, "c1")) == as_sent(progress)

    mine = reads.learner_courses("learner-3")
    assert [c["course_id"] for c in mine["courses"]] == ["c1", "c2"]
    assert as_sent(mine["courses"][0]) == as_sent(single["learner-3"])
    assert as_sent(mine["courses"][1]) == as_sent(progress_of(services, "learner-3", "c2"))
    assert (mine["learner_id"], mine["projection_position"]) == ("learner-3", position)

    listed: list[CourseProgress] = []
    after = None
    while True:
        page = reads.roster("c1", RosterQuery(limit=5, after=after))
        assert page["projection_position"] == position
        listed += page["items"]
        after = page["next"]
        if after is None:
            break
    assert as_sent(listed) == as_sent(
        [without_units(single[learner]) for learner in sorted(LEARNERS)]
    )
    assert single["learner-1"]["percentage"] == 100.0
    # Withdrawn learners are listed, not counted.
    assert single["learner-0"]["withdrawn"]
    counted = [single[learner] for learner in LEARNERS[1:]]
    exact = sum(
        (Fraction(100 * p["completed_units"], p["total_units"]) for p in counted), Fraction()
    )
    assert page["summary"] == {
        "enrolled": len(counted),
        "completed": sum(p["percentage"] >= 100 for p in counted),
        "average_percentage": half_up(exact / len(counted)),
    }


def half_up(exact: Fraction) -> float:
    return float(
        (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
    )


def average_of(services: LedgerServices, course_id: str) -> float:
    return services.reads.roster(course_id, RosterQuery(limit=10))["summary"]["average_percentage"]


def test_the_roster_average_is_of_exact_values_rounded_once(services: LedgerServices) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", [Unit("u1"), Unit("u2"), Unit("u3")])
    for learner, done in (("a", 1), ("b", 1), ("c", 3), ("d", 0)):
        enrollment = ledger.enroll(learner, "c1").enrollment.id
        for unit in ("u1", "u2", "u3")[:done]:
            ledger.complete_unit(enrollment, unit)
    # Another whose exact average sits on a half cent: 12.5 % and three 0 % give 3.125.
    ledger.create_course("c8", "Eighths", [Unit(f"u{n}") for n in range(8)])
    for learner in ("a", "b", "c", "d"):
        enrollment = ledger.enroll(learner, "c8").enrollment.id
        if learner == "a":
            ledger.complete_unit(enrollment, "u0")
    project(services)

    summary = services.reads.roster("c1", RosterQuery(limit=10))["summary"]
    # The rounded percentages (33.33, 33.33, 100, 0) would average 41.66.
    assert summary == {"enrolled": 4, "completed": 1, "average_percentage": 41.67}
    assert average_of(services, "c8") == 3.13


def test_a_weighted_roster_averages_unrounded_percentages(settings: Settings) -> None:
    """Weights 1, 1, 1: a third is 33.333…; rounded first, (33.33 + 33.33 + 100 + 0) / 4
    would give 41.66."""
    services = bootstrap(settings.model_copy(update={"rules": "weighted-v1"}))
    try:
        ledger = services.ledger
        ledger.create_course("c1", "Course", [Unit("u1", weight=2), Unit("u2"), Unit("u3")])
        for learner, done in (("a", ("u2",)), ("b", ("u3",)), ("c", ("u1", "u2", "u3")), ("d", ())):
            enrollment = ledger.enroll(learner, "c1").enrollment.id
            for unit in done:
                ledger.complete_unit(enrollment, unit)
        project(services)
        roster = services.reads.roster("c1", RosterQuery(limit=10))
        assert [item["percentage"] for item in roster["items"]] == [25.0, 25.0, 100.0, 0.0]
        assert roster["summary"]["average_percentage"] == 37.5
        ledger.create_course("c3", "Thirds", [Unit("u1"), Unit("u2"), Unit("u3")])
        for learner, count in (("a", 1), ("b", 1), ("c", 3), ("d", 0)):
            enrollment = ledger.enroll(learner, "c3").enrollment.id
            for unit in ("u1", "u2", "u3")[:count]:
                ledger.complete_unit(enrollment, unit)
        project(services)
        assert (
            services.reads.roster("c3", RosterQuery(limit=10))["summary"]["average_percentage"]
            == 41.67
        )
    finally:
        services.close()


def test_tables_made_before_the_exact_column_gain_it_at_start(settings: Settings) -> None:
    services = bootstrap(settings)
    tables = GenerationTables(services.db, services.generations.live().number)
    with services.db.transaction() as cursor:
        cursor.execute(f"DROP VIEW {services.db.table('course_progress')}")
        cursor.execute(f"ALTER TABLE {tables.course_progress} DROP COLUMN exact_percentage")
        point_views_at(cursor, services.db, tables)
    services.close()

    services = bootstrap(settings)
    try:
        ledger = services.ledger
        ledger.create_course("c1", "Course", [Unit("u1"), Unit("u2"), Unit("u3")])
        ledger.complete_unit(ledger.enroll("a", "c1").enrollment.id, "u1")
        project(services)
        assert (
            services.reads.roster("c1", RosterQuery(limit=10))["summary"]["average_percentage"]
            == 33.33
        )
    finally:
        services.close()


def test_no_enrollment_reads_as_the_live_position_alone(services: LedgerServices) -> None:
    services.ledger.create_course("c1", "Course", [Unit("u1")])
    services.ledger.enroll("ada", "c1")
    project(services)
    position = services.generations.live().position
    assert read_progress(services, "nobody", "c1") is None
    assert services.reads.learner_course("ada", "c2") is None
    assert services.reads.learner_courses("nobody") == {
        "learner_id": "nobody",
        "courses": [],
        "next": None,
        "projection_position": position,
    }
    assert services.reads.roster("c2", RosterQuery(limit=10)) == {
        "items": [],
        "next": None,
        "summary": {"enrolled": 0, "completed": 0, "average_percentage": 0.0},
        "projection_position": position,
    }
    first_page = services.reads.roster("c1", RosterQuery(limit=1))
    assert first_page["next"] is None
    assert first_page["summary"]["enrolled"] == 1
