"""The projection's log reader gives the fold exactly what the library's mapper would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from bootstrap import LedgerServices
from domain.course import Module, Unit
from eventstore.log_reader import LogReader
from tests.factories import four_unit_course


class Badge(Aggregate):
    """Stored at version 1 as `{"name": ...}`; version 2 renamed the field to `title`."""

    class Awarded(Aggregate.Event):
        title: str
        at: datetime

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["title"] = state.pop("name")


def mapped(services: LedgerServices) -> list[tuple[Any, ...]]:
    """What the library's own path makes of the log, as records."""
    recorder, mapper = services.ledger.recorder, services.ledger.mapper
    records = []
    for notification in recorder.select_notifications(start=1, limit=1000):
        event = mapper.to_domain_event(notification)
        records.append((type(event), notification.id, str(event.originator_id), event.__dict__))
    return records


def fields_only(record: tuple[Any, ...]) -> tuple[Any, ...]:
    kind, position, originator_id, fields = record
    values = {k: v for k, v in fields.items() if k not in ("originator_id", "originator_version")}
    return kind, position, originator_id, values


def test_every_kind_of_event_reads_as_the_mapper_decodes_it(services: LedgerServices) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    ada = ledger.enroll("ada", "c1").enrollment.id
    ledger.complete_module(ada, "m1")
    ledger.complete_unit(ada, "u2")
    ledger.withdraw(ada)
    ledger.add_unit("c1", Unit("u5", modules=(Module("m9"),)))
    ledger.add_module("c1", "u5", Module("m10"))
    ledger.remove_module("c1", "u5", "m9")
    ledger.remove_unit("c1", "u5")

    records, last = LogReader(ledger.recorder, ledger.mapper).read(1, 1000)

    assert last == ledger.head_position()
    assert [fields_only(r) for r in records] == [fields_only(r) for r in mapped(services)]


def test_an_event_stored_at_an_older_class_version_is_upcast(services: LedgerServices) -> None:
    at = datetime(2024, 5, 1, tzinfo=UTC)
    transcoder = services.ledger.mapper.transcoder
    services.ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=Badge.create_id(),
                originator_version=2,
                topic=get_topic(Badge.Awarded),
                state=transcoder.encode({"timestamp": at, "name": "early bird", "at": at}),
            )
        ]
    )

    records, _ = LogReader(services.ledger.recorder, services.ledger.mapper).read(1, 10)

    kind, _, _, fields = records[0]
    assert kind is Badge.Awarded
    assert (fields["title"], fields["at"]) == ("early bird", at)
    assert "name" not in fields
