"""Replaying history in memory: an enrollment's timeline, progress as of an instant, and a
check of every stored snapshot against the facts.

Everything here reuses the projection's own pure Fold over in-memory states, so a replayed
number and a stored number can only differ when the stored row is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from domain.acting import ACTING_FIELDS, Acting
from domain.course import Course
from domain.enrollment import Enrollment
from domain.erasure import is_erased
from domain.errors import NotFoundError
from domain.identifiers import course_aggregate_id
from eventstore.database import Database
from projections.fold import CourseState, EnrollmentState, Fold, unit_numbers
from projections.generations import Generation, Generations
from projections.parking import ParkedEvent, ParkedEvents
from projections.progress_documents import ProgressAsOf, UnitProgress
from projections.progress_tables import GenerationTables
from projections.rules import Progress, rule_named

PAGE = 5000
# Fields every event carries; `data` shows only an event's own fields.
ENVELOPE = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "occurred_at",
        *ACTING_FIELDS,
    }
)


class EventLog:
    """The stored events with their log positions, read stream by stream or page by page."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any], db: Database) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.db = db
        self.events_table = db.table(recorder.events_table_name)  # type: ignore[attr-defined]

    def stream(self, aggregate_id: UUID) -> list[tuple[int, Any]]:
        """One aggregate's events, oldest first, each with its position in the log."""
        # The same ids the library writes: a uuid column on PostgreSQL, hex text in SQLite.
        position, key = (
            ("notification_id", aggregate_id)
            if self.db.is_postgres
            else ("rowid AS notification_id", aggregate_id.hex)
        )
        with self.db.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT {position}, originator_version, topic, state FROM {self.events_table} "
                "WHERE originator_id = %s ORDER BY originator_version",
                (key,),
            )
            rows = cursor.fetchall()
        return [
            (
                int(row["notification_id"]),
                self.mapper.to_domain_event(
                    Notification(
                        id=int(row["notification_id"]),
                        originator_id=aggregate_id,
                        originator_version=int(row["originator_version"]),
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                ),
            )
            for row in rows
        ]

    def pages(self, stop: int) -> Iterator[list[tuple[int, Any]]]:
        """Every event up to and including position `stop`, a page at a time."""
        start = 1
        while start <= stop:
            notifications = self.recorder.select_notifications(start=start, limit=PAGE, stop=stop)
            if not notifications:
                return
            yield [(n.id, self.mapper.to_domain_event(n)) for n in notifications]
            start = notifications[-1].id + 1


# Timelines ---------------------------------------------------------------------


@dataclass(frozen=True)
class Moment:
    """One event of an enrollment's timeline and the learner's progress right after it."""

    position: int
    version: int
    type: str
    course_event: bool
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any]
    progress: Progress
    completed_at: datetime | None
    # Who did it (domain/acting.py) and the attempt the numbers are of.
    acting: Acting
    attempt: int


@dataclass(frozen=True)
class Timeline:
    enrollment_id: str
    learner_id: str
    course_id: str
    rules: str
    moments: list[Moment]
    state: EnrollmentState
    course: CourseState
    # The last event replayed, course events included: the answer reflects the log up to here.
    position: int

    @property
    def progress(self) -> Progress:
        return rule_named(self.rules)(self.course.units, self.state.completed_units)

    def units(self) -> list[UnitProgress]:
        units: list[UnitProgress] = []
        for unit in self.course.units:
            completed, done, total, percentage, _ = unit_numbers(unit, self.state)
            units.append(
                {
                    "unit_id": unit.unit_id,
                    "required": unit.required,
                    "completed": completed,
                    "completed_modules": done,
                    "total_modules": total,
                    "percentage": percentage,
                }
            )
        return units


def timeline(
    log: EventLog, enrollment_id: UUID, rules: str, until: datetime | None = None
) -> Timeline:
    """Replays the enrollment's and its course's events (recorded up to `until`) in log order.

    Course events before the enrollment, and those that left the learner's numbers as they
    were, set the scene but are not part of the timeline.
    """
    own = log.stream(enrollment_id)
    if not own or not isinstance(own[0][1], Enrollment.Enrolled) or is_erased(own[0][1].learner_id):
        raise NotFoundError(f"enrollment {enrollment_id} does not exist", field="enrollment_id")
    course_id: str = own[0][1].course_id
    events = sorted([*own, *log.stream(course_aggregate_id(course_id))], key=lambda e: e[0])
    if until is not None:
        events = [(p, e) for p, e in events if e.timestamp <= until]
    fold = Fold(rule_named(rules), {}, {})
    key = str(enrollment_id)
    moments: list[Moment] = []
    for position, event in events:
        before = _numbers(fold, key)
        fold.apply_all([(position, event)])
        state = fold.enrollments.get(key)
        if state is None:
            continue
        course_event = isinstance(event, Course.Event)
        if course_event and _numbers(fold, key) == before:
            continue
        moments.append(
            Moment(
                position=position,
                version=event.originator_version,
                type=type(event).__name__,
                course_event=course_event,
                occurred_at=getattr(event, "occurred_at", event.timestamp),
                recorded_at=event.timestamp,
                data={k: v for k, v in vars(event).items() if k not in ENVELOPE},
                progress=fold.progress(state),
                completed_at=state.completed_at,
                acting=Acting(event.actor, event.reason, event.on_behalf_of),
                attempt=state.attempt,
            )
        )
    state = fold.enrollments.get(key)
    if state is None:
        raise NotFoundError(f"enrollment {enrollment_id} did not exist at {until}", field="as_of")
    return Timeline(
        enrollment_id=key,
        learner_id=state.learner_id,
        course_id=course_id,
        rules=rules,
        moments=moments,
        state=state,
        course=fold.courses[course_id],
        position=events[-1][0],
    )


def _numbers(fold: Fold, enrollment_id: str) -> tuple[Progress, datetime | None] | None:
    state = fold.enrollments.get(enrollment_id)
    return None if state is None else (fold.progress(state), state.completed_at)


def generation_at(generations: Generations, instant: datetime) -> Generation:
    """The generation that was live at `instant`: the last to switch live at or before it."""
    switched = [g for g in generations.all() if g.switched_at and g.switched_at <= instant]
    if not switched:
        return generations.live()
    return max(switched, key=lambda g: (g.switched_at, g.number))


def progress_as_of(
    log: EventLog,
    generations: Generations,
    learner_id: str,
    course_id: str,
    as_of: datetime,
    enrollment_id: UUID | None,
) -> ProgressAsOf:
    """The progress document as it stood at `as_of`: the enrollment (`enrollment_id`, the
    learner's in the course; None when they have no key) and its course replayed up to
    then, under the rules of the generation live then."""
    generation = generation_at(generations, as_of)
    try:
        if enrollment_id is None:
            raise NotFoundError("no enrollment", field="learner_id")
        replayed = timeline(log, enrollment_id, generation.rules, as_of)
    except NotFoundError:
        raise NotFoundError(
            f"learner {learner_id!r} was not enrolled in course {course_id!r} at {as_of}",
            field="learner_id",
        ) from None
    progress = replayed.progress
    return {
        "learner_id": learner_id,
        "course_id": course_id,
        "enrollment_id": replayed.enrollment_id,
        "completed_units": progress.completed_units,
        "total_units": progress.total_units,
        "percentage": progress.percentage,
        "completed_at": replayed.state.completed_at,
        "updated_at": replayed.state.updated_at,
        "position": replayed.position,
        "rules": generation.rules,
        "withdrawn": replayed.state.withdrawn,
        "units": replayed.units(),
        "projection_position": replayed.position,
        "held": False,
        "attempt": replayed.state.attempt,
        "as_of": as_of,
        "generation": generation.number,
    }


# Verify ------------------------------------------------------------------------

# course_progress: completed units, total units, percentage, completed_at, withdrawn, attempt
# unit_progress: completed, completed modules, total modules, percentage, completed_at
Numbers = tuple[Any, ...]
# (enrollment_id, unit_id): unit_id None is the enrollment's course_progress row
Key = tuple[str, str | None]
Snapshots = dict[Key, tuple[str, str, Numbers]]


@dataclass(frozen=True)
class Mismatch:
    learner_id: str
    course_id: str
    unit_id: str | None
    stored: Numbers | None
    replayed: Numbers | None


@dataclass(frozen=True)
class Verification:
    generation: Generation
    checked: int
    mismatches: list[Mismatch]
    # Events the generation parked: the replay leaves them out as the projection did, so
    # the held streams' rows are checked at their last good numbers.
    parked: list[ParkedEvent] = field(default_factory=list)


def verify(
    log: EventLog,
    generations: Generations,
    course_id: str | None = None,
    on_replayed: Callable[[int, int], None] | None = None,
) -> Verification:
    """Compares every stored course_progress and unit_progress row of the live generation with
    a replay of the log up to the position those rows reflect; `on_replayed` hears the
    position replayed so far and that end position after every page."""
    generation, stored = _stored_snapshots(generations, course_id)
    parked = ParkedEvents(generations.db).of_generation(generation.number)
    parked_positions = {p.position for p in parked if p.position <= generation.position}
    fold = Fold(rule_named(generation.rules), {}, {})
    for page in log.pages(generation.position):
        if on_replayed is not None and page:
            on_replayed(page[-1][0], generation.position)
        if parked_positions:
            page = [
                (position, event) for position, event in page if position not in parked_positions
            ]
        fold.apply_all(page)
    replayed: Snapshots = {}
    for e in fold.enrollments.values():
        if course_id is not None and e.course_id != course_id:
            continue
        p = fold.progress(e)
        replayed[(e.enrollment_id, None)] = (
            e.learner_id,
            e.course_id,
            (
                p.completed_units,
                p.total_units,
                p.percentage,
                e.completed_at,
                e.withdrawn,
                e.attempt,
            ),
        )
        for unit in fold.courses[e.course_id].units:
            replayed[(e.enrollment_id, unit.unit_id)] = (
                e.learner_id,
                e.course_id,
                unit_numbers(unit, e),
            )
    mismatches = []
    for key in sorted(stored.keys() | replayed.keys(), key=lambda k: (k[0], k[1] or "")):
        found, expected = stored.get(key), replayed.get(key)
        if found is None or expected is None or found[2] != expected[2]:
            learner_id, course = (found or expected or ("", "", ()))[:2]
            mismatches.append(
                Mismatch(
                    str(learner_id),
                    str(course),
                    key[1],
                    found[2] if found else None,
                    expected[2] if expected else None,
                )
            )
    checked = sum(1 for _, unit_id in stored if unit_id is None)
    return Verification(generation, checked, mismatches, parked)


def _stored_snapshots(
    generations: Generations, course_id: str | None
) -> tuple[Generation, Snapshots]:
    """The live generation's rows and position, read in one snapshot of the database."""
    db = generations.db
    where, params = ("WHERE course_id = %s", (course_id,)) if course_id else ("", ())
    with db.transaction(commit=False) as cursor:
        if db.is_postgres:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute(f"SELECT * FROM {generations.table} WHERE status = 'live'")
        row = cursor.fetchone()
        if row is None:
            raise NotFoundError("no live projection generation", field="generation")
        generation = generations.of_row(row)
        tables = GenerationTables(db, generation.number)
        cursor.execute(f"SELECT * FROM {tables.course_progress} {where}", params)
        courses = cursor.fetchall()
        cursor.execute(f"SELECT * FROM {tables.unit_progress} {where}", params)
        units = cursor.fetchall()
    snapshots: Snapshots = {}
    for row in courses:
        snapshots[(row["enrollment_id"], None)] = (
            row["learner_id"],
            row["course_id"],
            (
                int(row["completed_units"]),
                int(row["total_units"]),
                float(row["percentage"]),
                db.read_timestamp(row["completed_at"]),
                bool(row["withdrawn"]),
                int(row["attempt"] or 1),
            ),
        )
    for row in units:
        snapshots[(row["enrollment_id"], row["unit_id"])] = (
            row["learner_id"],
            row["course_id"],
            (
                bool(row["completed"]),
                int(row["completed_modules"]),
                int(row["total_modules"]),
                float(row["percentage"]),
                db.read_timestamp(row["completed_at"]),
            ),
        )
    return generation, snapshots
