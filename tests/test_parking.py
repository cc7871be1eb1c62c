"""An event the projection cannot apply (stored before times were checked) is parked: it
holds only its own stream, every other learner goes on, and a retry after a fix applies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import httpx
import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from bootstrap import LedgerServices
from cli.operations import event_log
from domain.enrollment import Enrollment
from projections.audit import verify
from projections.engine import ProjectionEngine
from tests.factories import four_unit_course, new_id
from tests.http_helpers import call, path, progress
from tests.progress_reading import progress_of
from tests.test_http_scenario import COURSE, complete, create_course, enroll
from tests.test_projection import project


def store_unappliable_completion(services: LedgerServices, enrollment_id: UUID) -> None:
    """A completion of u2 as data stored before times were checked would be: on PostgreSQL a
    time no timestamp holds once in UTC (year 1 with a positive offset), on SQLite a time
    that is not a time at all. Either way the fold cannot apply it."""
    occurred_at: Any
    if services.db.is_postgres:
        occurred_at = datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1)))
    else:
        occurred_at = "not a time"
    ledger = services.ledger
    version = len(ledger.recorder.select_events(enrollment_id)) + 1
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=enrollment_id,
                originator_version=version,
                topic=get_topic(Enrollment.UnitCompleted),
                state=ledger.mapper.transcoder.encode(
                    {"timestamp": datetime.now(UTC), "unit_id": "u2", "occurred_at": occurred_at}
                ),
            )
        ]
    )


def upcast_v1_v2(state: dict[str, Any]) -> None:
    """The fix: a completion time that is not a usable time becomes the recorded time."""
    occurred_at = state["occurred_at"]
    if not isinstance(occurred_at, datetime) or occurred_at.year in (1, 9999):
        state["occurred_at"] = state["timestamp"]


def register_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Enrollment.UnitCompleted, "class_version", 2, raising=False)
    monkeypatch.setattr(
        Enrollment.UnitCompleted, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False
    )


def test_the_engine_parks_the_event_and_holds_its_stream(services: LedgerServices) -> None:
    course = new_id("c")
    services.ledger.create_course(course, "Parking", four_unit_course())
    bad = services.ledger.enroll("bad", course).enrollment.id
    good = services.ledger.enroll("good", course).enrollment.id
    services.ledger.complete_unit(bad, "u1")
    project(services)
    store_unappliable_completion(services, bad)
    services.ledger.complete_unit(bad, "u4")  # held behind the parked event
    services.ledger.complete_unit(good, "u2")
    project(services)

    live = services.generations.live()
    assert live.position == services.ledger.head_position()
    parked = services.engine.parked.of_generation(live.number)
    assert [(p.stream, p.kind) for p in parked] == [(str(bad), "enrollment")] * 2
    assert "held behind" in parked[1].error and "held behind" not in parked[0].error
    assert progress_of(services, "good", course)["completed_units"] == 1
    held = progress_of(services, "bad", course)
    assert (held["completed_units"], held["held"]) == (1, True)  # its last good numbers
    assert progress_of(services, "good", course)["held"] is False
    verification = verify(event_log(services), services.generations)
    assert verification.mismatches == [] and len(verification.parked) == 2


def test_a_parked_event_stops_no_one_else_and_applies_after_a_fix(
    services: LedgerServices, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_course(client)
    bad = enroll(client, "bad")
    complete(client, bad["enrollment_id"], "units", "u1")
    store_unappliable_completion(services, UUID(bad["enrollment_id"]))
    later = complete(client, bad["enrollment_id"], "units", "u4")

    # Every other learner's read-your-writes keeps working.
    for index in range(10):
        learner = f"learner-{index}"
        enrolled = enroll(client, learner)
        done = complete(client, enrolled["enrollment_id"], "units", "u2")
        read = progress(client, learner, COURSE, done["position"])
        assert (read["completed_units"], read["held"]) == (1, False)

    held = progress(client, "bad", COURSE, later["position"])
    assert (held["completed_units"], held["held"]) == (1, True)
    ready = call(client, "GET", "/readyz")
    assert (ready["status"], ready["projection"]["parked"]) == ("degraded", 2)
    listed = call(client, "GET", "/v1/projections/parked")["parked"]
    assert [p["stream"] for p in listed] == [bad["enrollment_id"]] * 2
    assert listed[1]["position"] == later["position"]

    # The fix is deployed (an upcaster); a retry, as `projections retry` runs it, applies
    # the parked events in order and releases the stream.
    register_the_fix(monkeypatch)
    fixed = ProjectionEngine(services.ledger.recorder, services.ledger.mapper, services.generations)
    live = services.generations.live()
    assert fixed.retry(live.number) == (2, 0)
    assert call(client, "GET", "/readyz")["status"] == "ready"
    after = complete(client, bad["enrollment_id"], "units", "u3")
    read = progress(client, "bad", COURSE, after["position"])
    assert (read["completed_units"], read["held"]) == (4, False)
    verification = verify(event_log(services), services.generations)
    assert verification.mismatches == [] and verification.parked == []
    assert call(client, "GET", path("v1", "projections", "parked"))["parked"] == []
