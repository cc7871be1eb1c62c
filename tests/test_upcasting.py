"""Schema evolution: events stored in an older shape load through their class's upcaster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from bootstrap import LedgerServices
from domain.acting import Acting
from domain.course import Course, Unit
from domain.identifiers import course_aggregate_id
from projections.audit import EventLog
from tests.test_projection import numbers, project


def store_v1(services: LedgerServices, cls: type[Any], version: int, state: dict[str, Any]) -> None:
    """Writes an event the way version 1 of its class was stored: no `class_version` key and
    unit specs without `required` or `weight`."""
    mapper = services.ledger.mapper
    services.ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=course_aggregate_id("old"),
                originator_version=version,
                topic=get_topic(cls),
                state=mapper.transcoder.encode({"timestamp": datetime.now(UTC), **state}),
            )
        ]
    )


def test_events_stored_in_an_older_shape_are_upcast_on_load(services: LedgerServices) -> None:
    store_v1(
        services,
        Course.Created,
        1,
        {
            "originator_topic": get_topic(Course),
            "course_id": "old",
            "title": "Stored before units had weights",
            "units": [{"unit_id": "a", "title": "", "modules": []}],
        },
    )
    store_v1(
        services,
        Course.UnitAdded,
        2,
        {"unit": {"unit_id": "b", "title": "", "modules": []}, "index": 1},
    )

    course = services.ledger.get_course("old")
    assert [(u.unit_id, u.required, u.weight) for u in course.units] == [
        ("a", True, 1.0),
        ("b", True, 1.0),
    ]
    assert course.completion_threshold == 100.0
    # New events of the same classes are stored at version 3 and load unchanged.
    services.ledger.add_unit(
        "old", Unit("c", weight=2.0, required=False), acting=Acting("an-admin-key")
    )
    newest = services.ledger.recorder.select_events(course_aggregate_id("old"), desc=True, limit=1)
    assert b'"class_version":3' in newest[0].state
    # Events stored before actors were recorded load with an unknown actor; none is rewritten.
    log = EventLog(services.ledger.recorder, services.ledger.mapper, services.db)
    loaded = [event for _, event in log.stream(course_aggregate_id("old"))]
    assert [e.actor for e in loaded] == ["unknown", "unknown", "an-admin-key"]
    stored = services.ledger.recorder.select_events(course_aggregate_id("old"))
    assert [b'"actor"' in e.state for e in stored] == [False, False, True]

    enrollment = services.ledger.enroll("ada", "old").enrollment.id
    services.ledger.complete_unit(enrollment, "b")
    project(services)  # the projection decodes through the same mapper
    assert numbers(services, "ada", "old") == (1, 3, 33.33)
