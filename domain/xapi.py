"""xAPI on the write side: a statement as received (its own stream, so its id is looked up,
compared and voided like any aggregate), and an activity IRI linked to what it completes.

A statement's JSON names a person (its actor, maybe instructors and team members): it is a
personal field, sealed under the key of the learner its actor names
(eventstore/personal_data.py). Its activity IRI and whether a course knew it are not
personal, and stay in clear for the operator's count of unmatched activities.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import get_topic

from domain.acting import ActedFields
from domain.identifiers import activity_aggregate_id, statement_aggregate_id


class Statement(Aggregate):
    class Received(ActedFields, Aggregate.Created):
        statement_id: str
        # The statement as stored (canonical JSON, with id, stored, authority, version).
        statement: str
        # The object's activity IRI when the object is an activity; whether it was linked.
        activity_id: str | None
        matched: bool

        def mutate(self, aggregate: Any) -> Any:
            """The library's generic construction without its per-call signature walks
            (a batch makes a thousand): the same state, set directly."""
            received = object.__new__(Statement)
            received.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            received.statement_id = self.statement_id
            received.statement = self.statement
            received.activity_id = self.activity_id
            received.matched = self.matched
            received.voided_by = None
            return received

    class Voided(ActedFields, Aggregate.Event):
        voided_by: str

        def apply(self, aggregate: Statement) -> None:
            aggregate.voided_by = self.voided_by

    @staticmethod
    def create_id(statement_id: str, **_: Any) -> UUID:
        return statement_aggregate_id(statement_id)

    @event(Received)
    def __init__(
        self, statement_id: str, statement: str, activity_id: str | None, matched: bool
    ) -> None:
        self.statement_id = statement_id
        self.statement = statement
        self.activity_id = activity_id
        self.matched = matched
        self.voided_by: str | None = None

    @classmethod
    def receive(
        cls,
        statement_id: str,
        statement: str,
        activity_id: str | None,
        matched: bool,
        stream_id: UUID | None = None,
    ) -> Statement:
        """A statement kept now: what `Statement(...)` does, without the library's generic
        argument handling. `stream_id`: its `statement_aggregate_id`, when known already."""
        kind: Any = cls.Received  # (its fields are the library's dataclass, unseen by mypy)
        received = kind(
            originator_id=stream_id or statement_aggregate_id(statement_id),
            originator_version=1,
            timestamp=cls.Received.create_timestamp(),
            originator_topic=STATEMENT_TOPIC,
            statement_id=statement_id,
            statement=statement,
            activity_id=activity_id,
            matched=matched,
        )
        kept: Statement = received.mutate(None)
        kept.pending_events.append(received)
        return kept

    def void(self, voided_by: str) -> None:
        """Voiding twice appends nothing the second time."""
        if self.voided_by is None:
            self.trigger_event(Statement.Voided, voided_by=voided_by)


STATEMENT_TOPIC = get_topic(Statement)


class Activity(Aggregate):
    """Which course, unit (unit_id) or module (unit_id and module_id) an activity IRI
    completes. Linking it elsewhere moves it: one IRI names one thing."""

    class Linked(ActedFields, Aggregate.Created):
        activity_id: str
        course_id: str
        unit_id: str | None
        module_id: str | None

    class Moved(ActedFields, Aggregate.Event):
        course_id: str
        unit_id: str | None
        module_id: str | None

        def apply(self, aggregate: Activity) -> None:
            aggregate.course_id = self.course_id
            aggregate.unit_id = self.unit_id
            aggregate.module_id = self.module_id

    @staticmethod
    def create_id(activity_id: str, **_: Any) -> UUID:
        return activity_aggregate_id(activity_id)

    @event(Linked)
    def __init__(
        self, activity_id: str, course_id: str, unit_id: str | None, module_id: str | None
    ) -> None:
        self.activity_id = activity_id
        self.course_id = course_id
        self.unit_id = unit_id
        self.module_id = module_id

    @property
    def target(self) -> tuple[str, str | None, str | None]:
        return self.course_id, self.unit_id, self.module_id

    def move(self, course_id: str, unit_id: str | None, module_id: str | None) -> None:
        if (course_id, unit_id, module_id) != self.target:
            self.trigger_event(
                Activity.Moved, course_id=course_id, unit_id=unit_id, module_id=module_id
            )
