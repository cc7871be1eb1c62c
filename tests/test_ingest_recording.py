"""A batch writes the very rows `Application.save` would: same topics, same stored JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import httpx
from eventsourcing.persistence import Mapper, StoredEvent

from api.batch_items import CompletionItem
from bootstrap import LedgerServices
from domain.acting import SYSTEM
from domain.course import Module, Unit
from eventstore.encoder import StoredEventEncoder
from eventstore.personal_data import holds_personal_data
from ledger.importer import CompletionImporter
from tests.factories import enrollment_id_of, keyed_enrollment, new_id
from tests.http_helpers import course_body, head


def comparable(mapper: Mapper[UUID], stored: StoredEvent) -> object:
    """A stored event as compared here: its bytes; or, when it seals personal fields (each
    sealing draws a fresh nonce), its row with the state it opens to."""
    event = mapper.to_domain_event(stored)
    if holds_personal_data(event):
        return (stored.originator_id, stored.originator_version, stored.topic, vars(event))
    return stored


def test_stored_events_are_the_mappers_byte_for_byte(services: LedgerServices) -> None:
    ledger = services.ledger
    unit = Unit("u1", "Unit", modules=(Module("m1"), Module("m2")))
    enrollment = keyed_enrollment(ledger, new_id("l"), new_id("course"))
    enrollment.complete_module("m1", unit, datetime(2024, 5, 1, 10, tzinfo=UTC))
    enrollment.complete_module(
        "m2", unit, datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    )
    enrollment.withdraw(datetime.now(UTC))
    enrollment.reenroll(datetime.now(UTC))
    enrollment.complete_unit(Unit("u2"), datetime.now(UTC))
    encode = StoredEventEncoder(ledger.mapper)

    events = enrollment.collect_events()

    mapper = ledger.mapper
    assert [comparable(mapper, encode(event)) for event in events] == [
        comparable(mapper, mapper.to_stored_event(event)) for event in events
    ]


def test_a_batch_is_written_in_the_mappers_shape_in_one_insert(
    services: LedgerServices,
) -> None:
    """The committer writes with the fast encoder: what it stored decodes to the enrollment
    and is byte for byte what the library's mapper would have stored."""
    ledger = services.ledger
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit("u1"), Unit("u2", modules=(Module("m1"),))])
    learner = new_id("l")
    items = [
        CompletionItem(learner_id=learner, course_id=course_id, unit_id="u1"),
        CompletionItem(
            learner_id=learner,
            course_id=course_id,
            module_id="m1",
            occurred_at=datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
        ),
    ]
    head, inserts = ledger.head_position(), ledger.committer.inserts

    outcome = CompletionImporter(ledger, SYSTEM).run(items, enroll=True)

    assert outcome.position == head + 4 == ledger.head_position()
    assert ledger.committer.inserts == inserts + 1
    enrollment_id = enrollment_id_of(ledger, course_id, learner)
    stored = ledger.recorder.select_events(enrollment_id)
    mapper = ledger.mapper
    assert [
        comparable(mapper, mapper.to_stored_event(mapper.to_domain_event(s))) for s in stored
    ] == [comparable(mapper, s) for s in stored]
    again = ledger.get_enrollment(enrollment_id)
    assert (again.version, again.completed_units) == (4, {"u1", "u2"})
    # Nothing pending: nothing written, and the position is the head's.
    assert CompletionImporter(ledger, SYSTEM).run(items, enroll=True).position == outcome.position
    assert ledger.committer.inserts == inserts + 1


def test_a_repeated_batch_with_an_idempotency_key_appends_once(client: httpx.Client) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    items = [{"learner_id": new_id("l"), "course_id": course, "unit_id": "u2"} for _ in range(3)]
    headers = {"Idempotency-Key": new_id("batch")}

    first = client.post("/v1/completions:batch?enroll=true", json=items, headers=headers)
    start = head(client)
    again = client.post("/v1/completions:batch?enroll=true", json=items, headers=headers)

    assert first.status_code == again.status_code == 200
    assert first.json()["appended"] == 3
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert head(client) == start
