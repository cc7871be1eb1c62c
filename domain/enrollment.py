"""The Enrollment aggregate: one learner in one course, and every completion they made."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.acting import ActedFields, upcast_acting
from domain.course import Unit
from domain.errors import EnrollmentWithdrawnError, NotFoundError


class Enrollment(Aggregate):
    """Completions are facts: completing something twice appends nothing the second time.
    A revocation takes a completion back, and a reset begins a new attempt; history keeps
    every one of them."""

    # Version 2 events carry who acted (domain/acting.py); version 1 events, stored before,
    # are upcast with an unknown actor.
    class Enrolled(ActedFields, Aggregate.Created):
        learner_id: str
        course_id: str

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

    # Events after the first apply themselves (no `@event` methods): the library's
    # decorated methods re-derive each call's keyword arguments from the signature,
    # which cost more than everything else a completion does.
    class ModuleCompleted(ActedFields, Aggregate.Event):
        module_id: str
        unit_id: str
        occurred_at: datetime

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.completed_modules.add(self.module_id)

    class UnitCompleted(ActedFields, Aggregate.Event):
        unit_id: str
        occurred_at: datetime

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.completed_units.add(self.unit_id)

    class ModuleCompletionRevoked(ActedFields, Aggregate.Event):
        module_id: str
        unit_id: str
        occurred_at: datetime

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.completed_modules.discard(self.module_id)

    class UnitCompletionRevoked(ActedFields, Aggregate.Event):
        unit_id: str
        occurred_at: datetime

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.completed_units.discard(self.unit_id)

    class Reset(ActedFields, Aggregate.Event):
        """A new attempt: every completion of the last one stays in history, not in the numbers."""

        attempt: int
        occurred_at: datetime

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.attempt = self.attempt
            aggregate.completed_modules = set()
            aggregate.completed_units = set()

    class Withdrawn(ActedFields, Aggregate.Event):
        occurred_at: datetime

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.withdrawn = True

    class Reenrolled(ActedFields, Aggregate.Event):
        occurred_at: datetime

        class_version = 2
        upcast_v1_v2 = staticmethod(upcast_acting)

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.withdrawn = False

    class Erased(ActedFields, Aggregate.Event):
        """The learner was erased: their key is destroyed, so the personal fields of this
        stream read as `domain.erasure.ERASED` from now on. It holds no personal data (its
        actor is the erasing key's name)."""

        occurred_at: datetime

        def apply(self, aggregate: Enrollment) -> None:
            aggregate.erased = True

    @event(Enrolled)
    def __init__(self, id: UUID, learner_id: str, course_id: str) -> None:
        """Created with the `id` the caller derived under the learner's key (see
        eventstore/learner_keys.py): the domain never derives it from the learner id."""
        self.learner_id = learner_id
        self.course_id = course_id
        self.completed_modules: set[str] = set()
        self.completed_units: set[str] = set()
        self.withdrawn = False
        self.attempt = 1
        self.erased = False

    def __deepcopy__(self, memo: dict[int, Any]) -> Enrollment:
        """The copy every command takes from the aggregate cache, without `copy.deepcopy`'s
        walk: every attribute is immutable except the two sets and the pending events."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.completed_modules = set(self.completed_modules)
        twin.completed_units = set(self.completed_units)
        twin.__dict__["_pending_events"] = list(self.__dict__["_pending_events"])
        return twin

    def complete_module(self, module_id: str, unit: Unit, occurred_at: datetime) -> None:
        """Completing the last open module of a unit completes the unit in the same save."""
        self._check_active()
        if module_id not in self.completed_modules:
            self._append(
                Enrollment.ModuleCompleted,
                module_id=module_id,
                unit_id=unit.unit_id,
                occurred_at=occurred_at,
            )
        all_modules_done = all(m in self.completed_modules for m in unit.module_ids)
        if all_modules_done and unit.unit_id not in self.completed_units:
            self._append(Enrollment.UnitCompleted, unit_id=unit.unit_id, occurred_at=occurred_at)

    def complete_unit(self, unit: Unit, occurred_at: datetime) -> None:
        self._check_active()
        if unit.unit_id not in self.completed_units:
            self._append(Enrollment.UnitCompleted, unit_id=unit.unit_id, occurred_at=occurred_at)

    def revoke_module(self, module_id: str, unit: Unit, occurred_at: datetime) -> None:
        """Takes a module's completion back, and with it its unit's: the unit is no longer
        complete. Revoking what is not complete appends nothing."""
        self._check_active()
        if module_id in self.completed_modules:
            self._append(
                Enrollment.ModuleCompletionRevoked,
                module_id=module_id,
                unit_id=unit.unit_id,
                occurred_at=occurred_at,
            )
            self.revoke_unit(unit, occurred_at)

    def revoke_unit(self, unit: Unit, occurred_at: datetime) -> None:
        self._check_active()
        if unit.unit_id in self.completed_units:
            self._append(
                Enrollment.UnitCompletionRevoked, unit_id=unit.unit_id, occurred_at=occurred_at
            )

    def reset(self, occurred_at: datetime) -> None:
        """Begins the next attempt, from nothing completed."""
        self._check_active()
        self._append(Enrollment.Reset, attempt=self.attempt + 1, occurred_at=occurred_at)

    def withdraw(self, occurred_at: datetime) -> None:
        self._check_not_erased()
        if not self.withdrawn:
            self._append(Enrollment.Withdrawn, occurred_at=occurred_at)

    def reenroll(self, occurred_at: datetime) -> None:
        self._check_not_erased()
        if self.withdrawn:
            self._append(Enrollment.Reenrolled, occurred_at=occurred_at)

    def erase(self, occurred_at: datetime) -> None:
        """Erasing twice appends nothing the second time."""
        if not self.erased:
            self._append(Enrollment.Erased, occurred_at=occurred_at)

    def _append(self, event_class: type[Aggregate.Event], **fields: Any) -> None:
        """`trigger_event` without its generic work (a check for explicit topics, two copies
        of the arguments), which cost a third of a completion."""
        new_event = event_class(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=event_class.create_timestamp(),
            **fields,
        )
        new_event.mutate(self)
        self.pending_events.append(new_event)

    def _check_not_erased(self) -> None:
        if self.erased:
            raise NotFoundError(f"enrollment {self.id} does not exist", field="enrollment_id")

    def _check_active(self) -> None:
        self._check_not_erased()
        if self.withdrawn:
            raise EnrollmentWithdrawnError(
                f"enrollment {self.id} was withdrawn; enroll again to record progress",
                field="enrollment_id",
            )
