"""An event the projection cannot apply (stored before times were checked) is parked: it
holds only its own stream, every other learner goes on, and a retry after a fix applies it."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from eventsourcing.persistence import DataError, OperationalError, StoredEvent
from eventsourcing.utils import clear_topic_cache, get_topic, register_topic

from bootstrap import LedgerServices, Settings
from cli.operations import event_log, run
from domain.course import Course
from domain.enrollment import Enrollment
from domain.identifiers import course_aggregate_id
from eventstore.database import Database
from projections.audit import verify
from projections.batch_rows import BatchRows
from projections.batch_writes import BatchWrites
from projections.engine import ProjectionEngine
from projections.generations import Generation
from projections.rebuilds import Rebuilder
from tests.conftest import Server
from tests.deadlines import DEADLINE, wait_until
from tests.factories import four_unit_course, new_id
from tests.http_helpers import call, path, progress
from tests.progress_reading import progress_of
from tests.test_http_scenario import COURSE, complete, create_course, enroll
from tests.test_projection import project

LOAD_LEARNERS = 160


def store(services: LedgerServices, originator_id: UUID, cls: type[Any], state: Any) -> None:
    """An event written straight into the log, bypassing the aggregate."""
    ledger = services.ledger
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=originator_id,
                originator_version=len(ledger.recorder.select_events(originator_id)) + 1,
                topic=get_topic(cls),
                state=ledger.mapper.transcoder.encode({"timestamp": datetime.now(UTC), **state}),
            )
        ]
    )


def store_unappliable_completion(services: LedgerServices, enrollment_id: UUID) -> None:
    """A completion of u2 as data stored before times were checked would be: on PostgreSQL a
    time no timestamp holds once in UTC (year 1 with a positive offset), on SQLite a time
    that is not a time at all. Either way the fold cannot apply it."""
    occurred_at: Any
    if services.db.is_postgres:
        occurred_at = datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1)))
    else:
        occurred_at = "not a time"
    completion = {"unit_id": "u2", "occurred_at": occurred_at}
    store(services, enrollment_id, Enrollment.UnitCompleted, completion)


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

    # A rebuild uses the same engine: it parks the same events in its own generation.
    rebuilt = Rebuilder(services.engine).run(Rebuilder(services.engine).begin("units-v1"))
    assert rebuilt.status == "live" and rebuilt.number != live.number
    again = services.engine.parked.of_generation(rebuilt.number)
    assert [(p.position, p.stream) for p in again] == [(p.position, p.stream) for p in parked]
    assert progress_of(services, "bad", course)["held"] is True
    assert verify(event_log(services), services.generations).mismatches == []


def test_a_parked_event_stops_no_one_else_and_applies_after_a_fix(
    services: LedgerServices, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_course(client)
    bad = enroll(client, "bad")
    complete(client, bad["enrollment_id"], "units", "u1")
    store_unappliable_completion(services, UUID(bad["enrollment_id"]))

    # Every other learner's read-your-writes keeps working, under load from 16 clients at
    # once, while the held stream goes on being written (its events park behind the first).
    def learner_reads_its_writes(index: int) -> tuple[int, bool]:
        with httpx.Client(base_url=str(client.base_url), timeout=DEADLINE) as own:
            learner = f"learner-{index}"
            enrolled = enroll(own, learner)
            done = complete(own, enrolled["enrollment_id"], "units", "u2")
            read = progress(own, learner, COURSE, done["position"])
            return read["completed_units"], read["held"]

    with ThreadPoolExecutor(max_workers=16) as load:
        reads = list(load.map(learner_reads_its_writes, range(LOAD_LEARNERS)))
        later = complete(client, bad["enrollment_id"], "units", "u4")
    assert reads == [(1, False)] * LOAD_LEARNERS

    held = progress(client, "bad", COURSE, later["position"])
    assert (held["completed_units"], held["held"]) == (1, True)
    ready = call(client, "GET", "/readyz")
    assert (ready["status"], ready["projection"]["parked"]) == ("degraded", 2)
    listed = call(client, "GET", "/v1/projections/parked")["parked"]
    assert [p["stream"] for p in listed] == [bad["enrollment_id"]] * 2
    assert listed[1]["position"] == later["position"]

    # A retry before the fix changes nothing: both stay parked, in order.
    unfixed = call(client, "POST", "/v1/projections/parked:retry")
    assert (unfixed["applied"], len(unfixed["parked"])) == (0, 2)

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


def test_readiness_says_stalled_when_the_projection_is_behind_and_does_not_move(
    settings: Settings, services: LedgerServices, tmp_path: Path
) -> None:
    apart = settings.model_copy(update={"embedded_projection": False})
    stall = {"LEDGER_PROJECTION_STALL_SECONDS": "0.5"}
    with (
        Server(apart, tmp_path / "server.log", stall) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as client,
    ):
        assert call(client, "GET", "/readyz")["status"] == "ready"
        create_course(client)  # nobody projects it

        def stalled() -> bool:
            answer = call(client, "GET", "/readyz")
            return bool(answer["status"] == "stalled")

        wait_until(stalled, "/readyz to say stalled")
        project(services)  # a projector comes back
        ready = call(client, "GET", "/readyz")
        assert (ready["status"], ready["projection"]["lag"]) == ("ready", 0)


def test_a_parked_course_event_holds_the_course_and_its_enrollments(
    services: LedgerServices, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = services.ledger
    held, other = new_id("held"), new_id("other")
    for course in (held, other):
        ledger.create_course(course, "Course", four_unit_course())
    ada = ledger.enroll("ada", held).enrollment.id
    bob = ledger.enroll("bob", other).enrollment.id
    project(services)
    # Stored as data from before a fix would be: the write side cannot load the course
    # either, so the enrollment's later event is stored the same way.
    aggregate = course_aggregate_id(held)
    bad_structure = {
        "unit": {"unit_id": "u9", "title": "", "modules": [], "required": True, "weight": 1.0},
        "index": "not an index",
        "class_version": 2,
    }
    store(services, aggregate, Course.UnitAdded, bad_structure)
    now = datetime.now(UTC)
    store(services, ada, Enrollment.UnitCompleted, {"unit_id": "u1", "occurred_at": now})
    cy = services.keys.enroll([("cy", held)])["cy"].enrollment_id(held)
    enrolled = {"originator_topic": get_topic(Enrollment), "learner_id": "cy", "course_id": held}
    store(services, cy, Enrollment.Enrolled, enrolled)  # a new enrollment in it: held too
    ledger.complete_unit(bob, "u2")
    project(services)

    parked = services.engine.parked.of_generation(services.generations.live().number)
    assert [p.kind for p in parked] == ["course", "enrollment", "enrollment"]
    assert parked[2].stream == str(cy)
    assert parked[0].stream == str(aggregate) and parked[1].stream == str(ada)
    assert progress_of(services, "ada", held)["held"] is True
    assert progress_of(services, "bob", other)["completed_units"] == 1

    # `projections parked` lists them and exits 1 while any stays; a retry without a fix
    # keeps them all, in order, with the course first.
    assert run(services, argparse.Namespace(command="projections", action="parked")) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith(f"position={parked[0].position} course=")
    assert run(services, argparse.Namespace(command="projections", action="retry")) == 1
    assert "applied 0 parked events; 3 stay parked" in capsys.readouterr().err


def test_a_bad_event_among_many_parks_it_alone(services: LedgerServices) -> None:
    """The failed batch is retried in halves: every good event around it applies."""
    course = new_id("c")
    ledger = services.ledger
    ledger.create_course(course, "Parking", four_unit_course())
    learners = [ledger.enroll(f"l{n}", course).enrollment.id for n in range(12)]
    bad = ledger.enroll("bad", course).enrollment.id
    for index, enrollment in enumerate(learners):
        ledger.complete_unit(enrollment, "u1")
        if index == 6:
            store_unappliable_completion(services, bad)
    engine = ProjectionEngine(ledger.recorder, ledger.mapper, services.generations, batch_size=16)
    live = engine.catch_up(services.generations.live())
    assert live.position == ledger.head_position()
    assert [p.stream for p in engine.parked.of_generation(live.number)] == [str(bad)]
    for n in range(12):
        assert progress_of(services, f"l{n}", course)["completed_units"] == 1


RENAMED_TOPIC = f"{get_topic(Enrollment)}.UnitFinished"


def test_an_event_that_cannot_be_decoded_is_parked_and_applies_once_its_topic_resolves(
    services: LedgerServices,
) -> None:
    """An event whose class was renamed without its old topic being registered: the
    decoding itself fails, so the event is parked by what can be read of it undecoded."""
    course = new_id("c")
    ledger = services.ledger
    ledger.create_course(course, "Parking", four_unit_course())
    bad = ledger.enroll("bad", course).enrollment.id
    good = ledger.enroll("good", course).enrollment.id
    state = {"timestamp": datetime.now(UTC), "unit_id": "u2", "occurred_at": datetime.now(UTC)}
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=bad,
                originator_version=2,
                topic=RENAMED_TOPIC,
                state=ledger.mapper.transcoder.encode(state),
            )
        ]
    )
    ledger.complete_unit(good, "u1")
    project(services)

    live = services.generations.live()
    assert live.position == ledger.head_position()
    parked = services.engine.parked.of_generation(live.number)
    assert [(p.stream, p.kind) for p in parked] == [(str(bad), "enrollment")]
    assert progress_of(services, "good", course)["completed_units"] == 1
    assert progress_of(services, "bad", course)["held"] is True

    # The fix: the old topic is registered for the class it names now.
    register_topic(RENAMED_TOPIC, Enrollment.UnitCompleted)
    try:
        engine = ProjectionEngine(ledger.recorder, ledger.mapper, services.generations)
        assert engine.retry(live.number) == (1, 0)
    finally:
        clear_topic_cache()
    released = progress_of(services, "bad", course)
    assert (released["completed_units"], released["held"]) == (1, False)


class RefusingWrites(BatchWrites):
    """The database refuses one enrollment's rows: as a value out of range would be (the
    data's fault), or as a lost connection would be (the database's)."""

    def __init__(self, db: Database, enrollment_id: str, error: Exception) -> None:
        super().__init__(db)
        self.enrollment_id = enrollment_id
        self.error = error

    def write(
        self, generation: Generation, rows: BatchRows, position: int, connection: Any = None
    ) -> None:
        if any(row[0] == self.enrollment_id for row in (*rows.progress, *rows.new_progress)):
            raise self.error
        super().write(generation, rows, position, connection)


def test_a_write_the_database_refuses_is_parked_but_an_outage_is_not(
    services: LedgerServices,
) -> None:
    course = new_id("c")
    ledger = services.ledger
    ledger.create_course(course, "Parking", four_unit_course())
    good = ledger.enroll("good", course).enrollment.id
    bad = ledger.enroll("bad", course).enrollment.id
    project(services)
    ledger.complete_unit(bad, "u1")
    ledger.complete_unit(good, "u1")

    def engine(error: Exception) -> ProjectionEngine:
        writes = RefusingWrites(services.db, str(bad), error)
        return ProjectionEngine(ledger.recorder, ledger.mapper, services.generations, writes=writes)

    with pytest.raises(OperationalError):
        engine(OperationalError("connection lost")).catch_up(services.generations.live())
    live = services.generations.live()
    assert services.engine.parked.of_generation(live.number) == []  # retried, not parked

    live = engine(DataError("timestamp out of range")).catch_up(live)
    assert live.position == ledger.head_position()
    parked = services.engine.parked.of_generation(live.number)
    assert [(p.stream, "out of range" in p.error) for p in parked] == [(str(bad), True)]
    assert progress_of(services, "good", course)["completed_units"] == 1
