"""Rebuilds: fill a new generation beside the live one while commands keep flowing, catch up
to the head, then switch reads in one transaction.

A rebuild's only state is its generation row (rules, status, tracking position), so a rebuild
that dies is resumed by starting it again with the same rules; a cancelled one stops at its
next batch because its batch writes refuse to write to it.

A dry run that has reported leaves its generation `built` (not `building`), so it blocks
nothing: a rebuild under the same rules resumes it from its position, and a rebuild or dry
run under other rules drops it (its diff was reported; it is not worth keeping).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.errors import AlreadyExistsError, NotFoundError
from eventstore.database import Database, Row
from projections.engine import ProjectionEngine
from projections.generations import Generation, GenerationNotFound
from projections.progress_tables import GenerationTables

log = logging.getLogger(__name__)


# A dry run's generation once built: not live, not being built, blocking no other rebuild.
BUILT = "built"
# How long a switch waits for a live projector that the rebuild went past, and how often it
# looks: past this the live projector is taken to be stopped (no projector process runs).
LIVE_PROJECTOR_WAIT = 2.0
LIVE_PROJECTOR_POLL = 0.005


class RebuildConflict(AlreadyExistsError):
    """Another rebuild is under way, or the generation is not in a state that allows this."""


class RebuildStopped(Exception):
    """The process is shutting down; the generation keeps its position for a later resume."""


class Rebuilder:
    def __init__(
        self, engine: ProjectionEngine, on_switched: Callable[[], None] = lambda: None
    ) -> None:
        self.engine = engine
        self.generations = engine.generations
        self.on_switched = on_switched

    def begin(self, rules: str) -> Generation:
        """The generation a dead rebuild or a dry run under these rules left behind, or a new
        one. A dry run's result under other rules is dropped; a build under other rules that
        is not a finished dry run is a conflict."""
        generations = self.generations.all()
        building = [g for g in generations if g.status == "building"]
        for generation in building:
            if generation.rules == rules:
                return generation
        if building:
            other = building[0]
            raise RebuildConflict(
                f"generation {other.number} is being built under {other.rules!r}; "
                "cancel it before rebuilding under other rules",
                field="rules",
            )
        built = [g for g in generations if g.status == BUILT]
        for generation in built:
            if generation.rules == rules and self.generations.move(
                generation.number, BUILT, "building"
            ):
                return self.generations.get(generation.number)
        # Created before the drop, so that a dropped dry run's number is never reused.
        created = self.generations.create(rules)
        for generation in built:
            self.generations.drop(generation.number)
        return created

    def finish_dry_run(self, generation: Generation) -> Generation:
        """Marks a dry run's generation, built and reported, as blocking nothing."""
        self.generations.move(generation.number, "building", BUILT)
        return self.generations.get(generation.number)

    def run(
        self,
        generation: Generation,
        *,
        switch: bool = True,
        on_batch: Callable[[Generation], None] | None = None,
    ) -> Generation:
        """Catches up to the head; switches when asked to. Returns the generation as it ended:
        live, still building (no switch asked), or cancelled."""
        until: int | None = None
        overtaken_at: float | None = None  # when the rebuild was found past the live projector
        indexed = False
        while True:
            generation = self.engine.catch_up(generation, until=until, on_batch=on_batch)
            current = self.generations.get(generation.number)
            if current.status != "building" or not switch:
                return current
            if not indexed:  # outside the switch's locks: the live projector goes on
                self.generations.index_for_reads(current.number)
                indexed = True
                continue  # and catch up with what arrived meanwhile
            # The events between the live position and a rebuild that went past it would be
            # applied as live by neither generation, and no webhook would hear of them: the
            # switch waits for the live projector to come level, unless it stands still.
            stood_still = (
                overtaken_at is not None and time.monotonic() - overtaken_at > LIVE_PROJECTOR_WAIT
            )
            if self.generations.switch_when_caught_up(current.number, ahead=stood_still):
                if stood_still:
                    log.warning(
                        "switched to generation %d past the live projector, which did not move "
                        "for %.0f s: webhooks miss the events between",
                        current.number,
                        LIVE_PROJECTOR_WAIT,
                    )
                self.on_switched()
                return self.generations.get(current.number)
            live = self.generations.live().position
            if live < current.position:
                overtaken_at = overtaken_at or time.monotonic()
                time.sleep(LIVE_PROJECTOR_POLL)
                until = current.position
            else:  # catch up exactly to where the live projector is
                overtaken_at, until = None, live
            generation = current

    def cancel(self, number: int) -> Generation:
        self.generation(number)
        if not self.generations.cancel_building(number):
            status = self.generation(number).status
            raise RebuildConflict(
                f"generation {number} is {status}; only a building one can be cancelled",
                field="generation",
            )
        return self.generations.get(number)

    def drop(self, number: int) -> None:
        generation = self.generation(number)
        if generation.status in ("live", "building"):
            verb = "switch to another" if generation.status == "live" else "cancel it"
            raise RebuildConflict(
                f"generation {number} is {generation.status}; {verb} before dropping it",
                field="generation",
            )
        self.generations.drop(number)

    def generation(self, number: int) -> Generation:
        try:
            return self.generations.get(number)
        except GenerationNotFound as error:
            raise NotFoundError(str(error), field="generation") from None


# Diff ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotChange:
    learner_id: str
    course_id: str
    old_percentage: float | None
    new_percentage: float | None
    old_completed: bool | None
    new_completed: bool | None


@dataclass(frozen=True)
class GenerationDiff:
    changed: int
    learners: list[SnapshotChange]


def diff_generations(db: Database, old: int, new: int) -> GenerationDiff:
    """Snapshots whose numbers differ between two generations; the learners whose percentage
    or completion changes, ordered by learner and course."""
    rows: dict[int, dict[str, Row]] = {}
    for number in (old, new):
        table = GenerationTables(db, number).course_progress
        with db.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT enrollment_id, learner_id, course_id, completed_units, total_units, "
                f"percentage, completed_at FROM {table}"
            )
            rows[number] = {row["enrollment_id"]: row for row in cursor.fetchall()}
    changed = 0
    learners = []
    for enrollment_id in rows[old].keys() | rows[new].keys():
        before, after = rows[old].get(enrollment_id), rows[new].get(enrollment_id)
        if _numbers(db, before) == _numbers(db, after):
            continue
        changed += 1
        old_pct, new_pct = _percentage(before), _percentage(after)
        old_done, new_done = _completed(before), _completed(after)
        if old_pct != new_pct or old_done != new_done:
            either = after or before
            assert either is not None
            learners.append(
                SnapshotChange(
                    either["learner_id"], either["course_id"], old_pct, new_pct, old_done, new_done
                )
            )
    learners.sort(key=lambda c: (c.learner_id, c.course_id))
    return GenerationDiff(changed, learners)


def _numbers(db: Database, row: Row | None) -> tuple[object, ...] | None:
    if row is None:
        return None
    return (
        int(row["completed_units"]),
        int(row["total_units"]),
        float(row["percentage"]),
        db.read_timestamp(row["completed_at"]),
    )


def _percentage(row: Row | None) -> float | None:
    return None if row is None else float(row["percentage"])


def _completed(row: Row | None) -> bool | None:
    return None if row is None else row["completed_at"] is not None


# Rebuilds running in this process --------------------------------------------------


@dataclass
class RebuildJob:
    """A rebuild on a background thread, and how fast it is going."""

    generation: int
    started_position: int
    position: int
    switch: bool
    started: float = field(default_factory=time.monotonic)
    done: bool = False
    error: str | None = None

    @property
    def events_per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return (self.position - self.started_position) / elapsed if elapsed > 0 else 0.0


class RebuildJobs:
    """Rebuilds started through the API. One thread per generation: starting the same rebuild
    again joins the one under way (and asks it to switch if this start does). The live
    projector only ever writes the live generation and a rebuild only a building one; the
    switch hands the new generation over, and the writes' position check refuses any write
    that was not next in line."""

    def __init__(self, rebuilder: Rebuilder) -> None:
        self.rebuilder = rebuilder
        self._jobs: dict[int, RebuildJob] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self, rules: str, *, switch: bool = True) -> Generation:
        with self._lock:
            generation = self.rebuilder.begin(rules)
            job = self._jobs.get(generation.number)
            if job is not None and not job.done:
                job.switch = job.switch or switch
                return generation
            job = RebuildJob(generation.number, generation.position, generation.position, switch)
            self._jobs[generation.number] = job
            thread = threading.Thread(
                target=self._run,
                args=(job, generation),
                name=f"rebuild-g{generation.number}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()
            return generation

    def events_per_second(self, number: int) -> float | None:
        job = self._jobs.get(number)
        return job.events_per_second if job is not None and not job.done else None

    def error(self, number: int) -> str | None:
        job = self._jobs.get(number)
        return job.error if job is not None else None

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self, job: RebuildJob, generation: Generation) -> None:
        def track(moved: Generation) -> None:
            job.position = moved.position
            if self._stop.is_set():
                raise RebuildStopped

        try:
            while True:
                generation = self.rebuilder.run(generation, switch=job.switch, on_batch=track)
                with self._lock:
                    if generation.status == "building" and not job.switch:
                        generation = self.rebuilder.finish_dry_run(generation)
                    if generation.status != "building" or not job.switch:
                        job.done = True
                        break
            log.info("rebuild of generation %s ended %s", generation.number, generation.status)
        except RebuildStopped:
            log.info("rebuild of generation %s paused at shutdown", generation.number)
        except Exception as error:
            job.error = str(error)
            log.exception("rebuild of generation %s failed", generation.number)
        finally:
            job.done = True
