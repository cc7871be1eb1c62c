"""The projection engine: pages through the log by position, folds a batch, writes it once.

Rows and the tracking position commit in one transaction per batch, so a crash mid-batch
leaves the previous batch's state and the next run redoes the batch: nothing is skipped
and nothing is counted twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper, PersistenceError

from domain.course import Course
from domain.enrollment import Enrollment
from projections.fold import COURSE_STRUCTURE_EVENTS, Fold
from projections.rules import rule_named
from projections.store import Generation, GenerationTables, PositionConflict, ProgressStore
from projections.waker import Waker

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 5000


class ProjectionEngine:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        store: ProgressStore,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.store = store
        self.batch_size = batch_size
        self._applied = threading.Condition()
        self.live_position = 0

    def project_batch(self, generation: Generation) -> Generation:
        """Applies the next batch after the generation's position; returns it moved on."""
        notifications = self.recorder.select_notifications(
            start=generation.position + 1, limit=self.batch_size
        )
        if not notifications:
            return generation
        events = [(n.id, self.mapper.to_domain_event(n)) for n in notifications]
        tables = GenerationTables(self.store.db, generation.number)
        restructured = {
            e.originator_id for _, e in events if isinstance(e, COURSE_STRUCTURE_EVENTS)
        }
        enrollment_ids = {
            str(e.originator_id) for _, e in events if isinstance(e, Enrollment.Event)
        }
        structure_courses = self.store.load_courses(tables, (), restructured)
        enrollments = self.store.load_enrollments(tables, enrollment_ids, structure_courses)
        new_enrollment_courses = {
            e.course_id for _, e in events if isinstance(e, Enrollment.Enrolled)
        }
        courses = self.store.load_courses(
            tables,
            {e.course_id for e in enrollments.values()} | new_enrollment_courses,
            restructured,
        )
        fold = Fold(rule_named(generation.rules), courses, enrollments)
        fold.apply_all(event for event in events if _is_progress_event(event[1]))
        position = notifications[-1].id
        self.store.write(generation, fold, position)
        return replace(generation, position=position)

    def catch_up(
        self,
        generation: Generation,
        *,
        until: int | None = None,
        on_batch: Callable[[Generation], None] | None = None,
    ) -> Generation:
        """Projects batch after batch until the log (or `until`) is reached."""
        while until is None or generation.position < until:
            try:
                moved = self.project_batch(generation)
            except PositionConflict:
                moved = self.store.generation(generation.number)
                if moved.status in ("retired", "cancelled"):
                    return moved
                generation = moved  # carry on from where the other projector got to
                continue
            if moved.position == generation.position:
                return moved
            generation = moved
            if generation.status == "live":
                self._announce(generation.position)
            if on_batch is not None:
                on_batch(generation)
        return generation

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
        follows the live position, so reads here still see their writes."""
        backoff = 0.1
        while not stop.is_set():
            try:
                generation = self.store.live_generation()
                self._announce(generation.position)
                if may_project():
                    self.catch_up(generation)
                backoff = 0.1
            except PersistenceError as error:
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


def _is_progress_event(domain_event: Any) -> bool:
    return isinstance(domain_event, Course.Event | Enrollment.Event)
