"""The projection engine: pages through the log by position, folds a batch, writes it once.

Rows and the tracking position commit in one transaction per batch, so a crash mid-batch
leaves the previous batch's state and the next run redoes the batch: nothing is skipped
and nothing is counted twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, PersistenceError
from eventsourcing.utils import get_topic

from domain.enrollment import Enrollment
from eventstore.learner_keys import erased_among
from eventstore.log_reader import LogReader, Record
from eventstore.outages import is_systemic
from eventstore.wakers import Waker
from projections.batch_rows import BatchRows, batch_rows
from projections.batch_writes import BatchWrites, PositionConflict
from projections.collector import collector_paused
from projections.fold import (
    COURSE_STRUCTURE_EVENTS,
    ENROLLMENT_EVENTS,
    CourseState,
    EnrollmentState,
    Fold,
    course_key,
)
from projections.generations import Generation, Generations
from projections.outbox import Signal
from projections.parking import HELD_BEHIND, ParkedEvents
from projections.progress_tables import GenerationTables
from projections.rules import rule_named
from projections.state_loading import load_courses, load_enrollments

log = logging.getLogger(__name__)

# Every enrollment event's topic starts so, whether or not its class still resolves.
ENROLLMENT_TOPIC = get_topic(Enrollment)

DEFAULT_BATCH_SIZE = 20_000
# A batch this small is written before the next read: handing it to the writer thread costs
# more than the overlap saves (the live projector's batches are a few dozen events).
OVERLAP_EVENTS = 1_000
# Enrollment states the live projector keeps between batches (it is their only writer).
REMEMBERED_ENROLLMENTS = 100_000


class ProjectionEngine:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        generations: Generations,
        *,
        writes: BatchWrites | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """`writes`: how batches are written (BatchWrites on the generations' database)."""
        self.recorder = recorder
        self.mapper = mapper
        self.generations = generations
        self.db = generations.db
        self.writes = writes or BatchWrites(generations.db)
        self.reader = LogReader(recorder, mapper)
        self.batch_size = batch_size
        self._applied = threading.Condition()
        self.live_position = 0
        self.parked = ParkedEvents(generations.db)
        self._held: dict[int, set[str]] = {}

    def fold_batch(
        self, generation: Generation, carried: Carried, connection: Any = None, limit: int = 0
    ) -> FoldedBatch | None:
        """Folds the batch after the generation's position. `carried` holds the states that
        the previous batch changed and that may not be committed yet: they win over the
        rows read from the database. `connection`: see BatchWrites.connection."""
        with collector_paused():
            return self._fold_batch(generation, carried, connection, limit or self.batch_size)

    def _fold_batch(
        self, generation: Generation, carried: Carried, connection: Any, limit: int
    ) -> FoldedBatch | None:
        records, last_position = self.reader.read(generation.position + 1, limit, connection)
        if last_position is None:
            return None
        events = len(records)
        held = self.held_streams(generation.number, carried)
        if held:
            records = self._park_held(generation, records, held, lambda _: None)
        return self._fold_records(generation, records, carried, held, last_position, events)

    def _fold_records(
        self,
        generation: Generation,
        records: list[Record],
        carried: Carried,
        held: set[str],
        last_position: int,
        events: int,
    ) -> FoldedBatch:
        db, tables = self.db, GenerationTables(self.db, generation.number)
        restructured = {r[2] for r in records if r[0] in COURSE_STRUCTURE_EVENTS}
        enrollment_ids = {r[2] for r in records if r[0] in ENROLLMENT_EVENTS}
        created = [r for r in records if r[0] is Enrollment.Enrolled]
        structure_courses = carried.courses_over(
            load_courses(db, tables, (), restructured), set(), restructured
        )
        # An enrollment created in this batch has no row to load yet.
        # (Membership tests: `set - dict.keys()` walks the whole dict, the live one is large.)
        new = {r[2] for r in created}
        known = carried.enrollments
        unknown = {e for e in enrollment_ids if e not in known and e not in new}
        enrollments = carried.enrollments_over(
            load_enrollments(db, tables, unknown, structure_courses),
            enrollment_ids,
            set(structure_courses),
        )
        # A stream with no rows that was not created here: an erased learner's, or a fault.
        missing = {e for e in unknown if e not in enrollments and e not in carried.erased}
        erased = carried.erased | erased_among(db, missing) if missing else carried.erased
        new_enrollment_courses = {r[3]["course_id"] for r in created}
        needed = {e.course_id for e in enrollments.values()} | new_enrollment_courses
        courses = carried.courses_over(
            load_courses(db, tables, {c for c in needed if c not in carried.courses}, restructured),
            needed,
            restructured,
        )
        if held:
            # An enrollment in a held course is held too.
            def course_of(record: Record) -> str | None:
                if record[0] is Enrollment.Enrolled:
                    return course_key(record[3]["course_id"])
                enrollment = enrollments.get(record[2])
                return None if enrollment is None else course_key(enrollment.course_id)

            records = self._park_held(generation, records, held, course_of)
        # Only the live generation feeds the webhook outbox: a rebuild or replay sends nothing.
        signals: list[Signal] | None = [] if generation.status == "live" else None
        fold = Fold(rule_named(generation.rules), courses, enrollments, erased, signals)
        fold.apply_records(records)
        return FoldedBatch(
            rows=batch_rows(fold, generation.rules, db),
            position=last_position,
            events=events,
            changed=Carried(
                courses={c: fold.courses[c] for c in fold.changes.courses},
                enrollments={e: fold.enrollments[e] for e in fold.changes.enrollments},
                erased=fold.erased,
            ),
        )

    # Parking ------------------------------------------------------------------

    def held_streams(self, generation: int, carried: Carried | None = None) -> set[str]:
        """The generation's held streams. None held is trusted until `forget_held` (only
        this engine parks in a generation it projects: the projector lock); while some are,
        they are read again for each batch, so a retry elsewhere releases them at once, and
        the states of released streams are dropped from `carried` (the retry wrote newer
        ones)."""
        cached = self._held.get(generation)
        if cached is not None and not cached:
            return cached
        held = self.parked.held(generation)
        if cached is not None and carried is not None:
            released = cached - held
            if released:
                carried.forget(released)
        self._held[generation] = held
        return held

    def forget_held(self) -> None:
        """Reads the held streams again at the next batch (another process may have parked
        since: a projector lock changed hands)."""
        self._held.clear()

    def _park_held(
        self,
        generation: Generation,
        records: list[Record],
        held: set[str],
        course_of: Callable[[Record], str | None],
    ) -> list[Record]:
        """Parks the records of held streams (an enrollment in a held course is held with
        it); returns the others."""
        kept: list[Record] = []
        parked: list[tuple[int, str, str, str]] = []
        for record in records:
            kind, position, stream, _ = record
            is_enrollment = kind in ENROLLMENT_EVENTS
            course = course_of(record) if is_enrollment else None
            if stream in held or (course is not None and course in held):
                held.add(stream)
                parked.append(
                    (
                        position,
                        stream,
                        "enrollment" if is_enrollment else "course",
                        HELD_BEHIND.format(position=position),
                    )
                )
            else:
                kept.append(record)
        self.parked.park(generation.number, parked)
        return kept

    def _isolate(self, generation: Generation, until: int | None) -> Generation:
        """After a batch failed through no fault of the database: applies the events of the
        failed batch's range in halves, then quarters, ... down to one event, parking (and
        holding the stream of) each single event that fails; after a success the size grows
        back, so one bad event among many costs a few batches, not one per event."""
        end = generation.position + self.batch_size
        if until is not None:
            end = min(end, until)
        size = self.batch_size // 2 or 1
        while generation.position < end:
            try:
                batch = self.fold_batch(generation, Carried(), limit=size)
                if batch is None:
                    return generation
                self.writes.write(generation, batch.rows, batch.position)
            except PositionConflict:
                return self.generations.get(generation.number)
            except Exception as error:
                if is_systemic(error):
                    raise
                if size > 1:
                    size //= 2
                    continue
                generation = self._park_failed(generation, error)
                continue
            generation = replace(generation, position=batch.position)
            if generation.status == "live":
                self._announce(generation.position)
            size = min(size * 2, self.batch_size)
        return generation

    def _park_failed(self, generation: Generation, failure: Exception) -> Generation:
        """Parks the event after the generation's position, which failed on its own, holds
        its stream, and moves the position past it."""
        # Undecoded: the event may fail in the decoding itself.
        found = self.reader.stream_at(generation.position + 1)
        if found is None:
            return generation
        position, stream, topic = found
        is_enrollment = topic.startswith(ENROLLMENT_TOPIC)
        log.error("projection parked the event at %d (%s): %r", position, stream, failure)
        self.parked.park(
            generation.number,
            [(position, stream, "enrollment" if is_enrollment else "course", repr(failure))],
        )
        self._held.pop(generation.number, None)
        empty = BatchRows(removed_units=[], courses=[], progress=[], units=[])
        try:
            self.writes.write(generation, empty, position)
        except PositionConflict:
            return self.generations.get(generation.number)
        moved = replace(generation, position=position)
        if moved.status == "live":
            self._announce(position)
        return moved

    def retry(self, generation_number: int) -> tuple[int, int]:
        """Re-applies a generation's parked events in position order, each against its
        stream's current state; an event that fails again stays parked and keeps its stream's
        later events parked behind it. Returns (applied, still parked)."""
        generation = self.generations.get(generation_number)
        failed: set[str] = set()
        applied = 0
        for parked in self.parked.of_generation(generation_number):
            if parked.stream in failed:
                continue
            try:
                records, last_position = self.reader.read(parked.position, 1)
                if last_position != parked.position:
                    continue
                record = records[0]
                if self._course_failed(record, failed, generation):
                    failed.add(parked.stream)
                    continue
                with collector_paused():
                    batch = self._fold_records(
                        generation, [record], Carried(), set(), parked.position, 1
                    )
                self.writes.write_rows(generation, batch.rows)
            except Exception as error:
                if is_systemic(error):
                    raise
                failed.add(parked.stream)
                self.parked.park_again(generation_number, parked.position, repr(error))
                continue
            self.parked.release(generation_number, [parked.position])
            applied += 1
        self._held.pop(generation_number, None)
        return applied, self.parked.count(generation_number)

    def _course_failed(self, record: Record, failed: set[str], generation: Generation) -> bool:
        if not failed or record[0] not in ENROLLMENT_EVENTS:
            return False
        if record[0] is Enrollment.Enrolled:
            return course_key(record[3]["course_id"]) in failed
        tables = GenerationTables(self.db, generation.number)
        loaded = load_enrollments(self.db, tables, {record[2]}, {})
        enrollment = loaded.get(record[2])
        return enrollment is not None and course_key(enrollment.course_id) in failed

    def catch_up(
        self,
        generation: Generation,
        *,
        until: int | None = None,
        on_batch: Callable[[Generation], None] | None = None,
        remembered: Carried | None = None,
    ) -> Generation:
        """Projects batch after batch until the log (or `until`) is reached. A batch that
        fails through no fault of the database is isolated: its events are applied one at a
        time and those that fail are parked (projections/parking.py).
        """
        while True:
            try:
                return self._catch_up_batches(generation, until, on_batch, remembered)
            except Exception as error:
                if is_systemic(error):
                    raise
                log.warning("projection batch failed (%r); isolating the event at fault", error)
                generation = self._isolate(self.generations.get(generation.number), until)
                if generation.status in ("retired", "cancelled"):
                    return generation
                if on_batch is not None:
                    on_batch(generation)

    def _catch_up_batches(
        self,
        generation: Generation,
        until: int | None,
        on_batch: Callable[[Generation], None] | None,
        remembered: Carried | None,
    ) -> Generation:
        """Projects batch after batch until the log (or `until`) is reached.

        On PostgreSQL a large batch is written while the next one is read and folded, so the
        database's time and Python's time overlap instead of adding up.

        `remembered` (the live projector's) holds the states this process wrote to this
        generation; they stand in for the database's rows in later calls. It is emptied
        whenever a write is refused or anything fails, since then they may be wrong.
        """
        if remembered is None:
            self.forget_held()
            return self._catch_up(generation, until, on_batch, None, None)
        # Live batches are small: one pooled connection for the reads and the writes of
        # this call saves the pool's check of a second one.
        with self.writes.connection() as connection:
            return self._catch_up(generation, until, on_batch, remembered, connection)

    def _catch_up(
        self,
        generation: Generation,
        until: int | None,
        on_batch: Callable[[Generation], None] | None,
        remembered: Carried | None,
        connection: Any,
    ) -> Generation:
        writes = WriteInFlight(self.writes, connection, overlap=self.db.is_postgres)
        carried = remembered if remembered is not None else Carried()
        try:
            while until is None or generation.position < until:
                batch = self.fold_batch(generation, carried, connection)
                try:
                    written = writes.finish()
                except PositionConflict:
                    writes.cancel()
                    carried.clear()
                    generation = self.generations.get(generation.number)
                    if generation.status in ("retired", "cancelled"):
                        return generation
                    continue
                if written is not None:
                    self._written(written, on_batch)
                if batch is None:
                    return written or generation
                writes.start(generation, batch)
                generation = replace(generation, position=batch.position)
                if remembered is None:
                    carried = batch.changed
                else:
                    carried.remember(batch.changed, REMEMBERED_ENROLLMENTS)
                if batch.events < self.batch_size:
                    break  # the log's end when it was read: a later commit NOTIFYs again
            try:
                written = writes.finish()
            except PositionConflict:
                carried.clear()
                return self.generations.get(generation.number)
            if written is not None:
                self._written(written, on_batch)
            return written or generation
        except BaseException:
            carried.clear()
            raise
        finally:
            writes.close()

    def _written(
        self, generation: Generation, on_batch: Callable[[Generation], None] | None
    ) -> None:
        if generation.status == "live":
            self._announce(generation.position)
        if on_batch is not None:
            on_batch(generation)

    def follow_live(
        self,
        stop: threading.Event,
        waker: Waker,
        *,
        idle_wait: float = 1.0,
        may_project: Callable[[], bool] = lambda: True,
    ) -> None:
        """Keeps the live generation current until stopped; survives database outages.

        While `may_project` says no (another process holds the projector lock) it only
        follows the live position, so reads here still see their writes. While it projects,
        the generation and the states it wrote stay in memory between wake-ups: a write
        refused (another writer, or a rebuild retired the generation) drops them."""
        backoff = 0.1
        generation: Generation | None = None
        remembered = Carried()
        while not stop.is_set():
            try:
                if not may_project():
                    generation = None
                    remembered.clear()
                    self._announce(self.generations.live().position)
                else:
                    if generation is None:
                        self.forget_held()
                        generation = self.generations.live()
                        self._announce(generation.position)
                    generation = self.catch_up(generation, remembered=remembered)
                    if generation.status != "live":
                        generation = None
                        remembered.clear()
                        continue  # a rebuild switched generations: follow the new one now
                backoff = 0.1
            except PersistenceError as error:
                generation = None
                remembered.clear()
                log.warning("projection paused: %s; retrying in %.1fs", error, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            waker.wait(idle_wait)

    def _announce(self, position: int) -> None:
        with self._applied:
            if position > self.live_position:
                self.live_position = position
                self._applied.notify_all()

    def wait_for(self, position: int, timeout: float) -> bool:
        """Blocks until the live generation has applied `position` (in this process)."""
        with self._applied:
            return self._applied.wait_for(lambda: self.live_position >= position, timeout)


@dataclass
class Carried:
    """States changed by a batch whose write may still be in flight."""

    courses: dict[str, CourseState] = field(default_factory=dict)
    enrollments: dict[str, EnrollmentState] = field(default_factory=dict)
    # Enrollments of erased learners met so far (their states are gone for good).
    erased: set[str] = field(default_factory=set)

    def courses_over(
        self, loaded: dict[str, CourseState], course_ids: set[str], aggregate_ids: set[str]
    ) -> dict[str, CourseState]:
        # Looked up by key: the live projector's carried states outnumber a batch's by far.
        for course_id in course_ids:
            course = self.courses.get(course_id)
            if course is not None:
                loaded[course_id] = course
        if aggregate_ids:
            for course_id, course in self.courses.items():
                if course_key(course_id) in aggregate_ids:
                    loaded[course_id] = course
        return loaded

    def enrollments_over(
        self, loaded: dict[str, EnrollmentState], enrollment_ids: set[str], course_ids: set[str]
    ) -> dict[str, EnrollmentState]:
        for enrollment_id in enrollment_ids:
            enrollment = self.enrollments.get(enrollment_id)
            if enrollment is not None:
                loaded[enrollment_id] = enrollment
        if course_ids:
            for enrollment_id, enrollment in self.enrollments.items():
                if enrollment.course_id in course_ids:
                    loaded[enrollment_id] = enrollment
        return loaded

    def remember(self, changed: Carried, limit: int) -> None:
        """Adds a batch's changed states; past `limit` enrollments keeps only that batch's
        (whose write may be in flight, so they must stay)."""
        if len(self.enrollments) + len(changed.enrollments) > limit:
            self.clear()
        self.courses.update(changed.courses)
        self.enrollments.update(changed.enrollments)
        for enrollment_id in changed.erased:
            self.enrollments.pop(enrollment_id, None)
        self.erased |= changed.erased

    def clear(self) -> None:
        self.courses.clear()
        self.enrollments.clear()
        self.erased.clear()

    def forget(self, streams: set[str]) -> None:
        """Drops the states of these enrollments and course aggregates, and of the
        enrollments in those courses."""
        for course_id in [c for c in self.courses if course_key(c) in streams]:
            del self.courses[course_id]
        for enrollment_id in [
            e
            for e, state in self.enrollments.items()
            if e in streams or course_key(state.course_id) in streams
        ]:
            del self.enrollments[enrollment_id]


@dataclass(frozen=True)
class FoldedBatch:
    rows: BatchRows
    position: int
    changed: Carried
    events: int


class WriteInFlight:
    """At most one batch write in flight: a large batch on the writer thread (PostgreSQL),
    any other inline."""

    def __init__(self, writes: BatchWrites, connection: Any, *, overlap: bool) -> None:
        self.writes = writes
        self.connection = connection
        self.overlap = overlap
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: Future[Generation] | None = None

    def start(self, generation: Generation, batch: FoldedBatch) -> None:
        if self.overlap and batch.events >= OVERLAP_EVENTS:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="projection-writer"
                )
            self._in_flight = self._pool.submit(self._write, generation, batch, None)
        else:
            done: Future[Generation] = Future()
            try:
                done.set_result(self._write(generation, batch, self.connection))
            except Exception as error:
                done.set_exception(error)
            self._in_flight = done

    def finish(self) -> Generation | None:
        """Waits for the write in flight; its PositionConflict (or any error) is raised here."""
        in_flight, self._in_flight = self._in_flight, None
        return None if in_flight is None else in_flight.result()

    def cancel(self) -> None:
        self._in_flight = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _write(self, generation: Generation, batch: FoldedBatch, connection: Any) -> Generation:
        self.writes.write(generation, batch.rows, batch.position, connection)
        return replace(generation, position=batch.position)
