"""The progress documents on both databases. Each is built by one function from the rows of
one statement, so an enrollment reads the same in every document; on PostgreSQL the read on
the event loop (the route's) and the read on the database's pool agree to the byte."""

from __future__ import annotations

from typing import Any

import orjson

from bootstrap import LedgerServices
from domain.course import Unit
from domain.identifiers import enrollment_aggregate_id
from projections.progress_documents import CourseProgress
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
    ledger.withdraw(enrollment_aggregate_id("c1", "learner-0"))
    for unit in ("u3", "u4", "extra-5"):  # learner-1 completed u1 by its modules
        ledger.complete_unit(enrollment_aggregate_id("c1", "learner-1"), unit)
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
        page = reads.roster("c1", 5, after)
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
    percentages = [single[learner]["percentage"] for learner in LEARNERS[1:]]
    assert page["summary"] == {
        "enrolled": len(percentages),
        "completed": sum(p >= 100 for p in percentages),
        "average_percentage": round(sum(percentages) / len(percentages), 2),
    }


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
        "projection_position": position,
    }
    assert services.reads.roster("c2", 10, None) == {
        "items": [],
        "next": None,
        "summary": {"enrolled": 0, "completed": 0, "average_percentage": 0.0},
        "projection_position": position,
    }
    last_page = services.reads.roster("c1", 1, "ada")
    assert (last_page["items"], last_page["next"]) == ([], None)
    assert last_page["summary"]["enrolled"] == 1
