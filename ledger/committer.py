"""Commands decided in batches: one read, one insert and one fsync for all that arrived.

A server thread per command that loads, checks and saves its enrollment pays for the
threadpool hop, two reads and a pool checkout each, and 64 such threads fight for the GIL.
Here callers only hand over the command; one committer thread takes every command that
arrived meanwhile, brings the enrollments and courses they touch up to date with one read
(its own copies, cached, plus whatever other writers appended since), applies each command
on its own (a refused command changes nothing and hears its own error), and writes all the
events, and the commands' Idempotency-Key rows, in one insert. While it writes, it already
takes the next batch, whose read the store makes in the same round trip, after the commit.

If that insert fails on a version conflict (another process wrote one of the enrollments
meanwhile) or on a taken key, the accepted commands run again one by one from fresh state,
so only the command at fault hears the error. Any other failure (the database is away)
reaches every command of the insert.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import IntegrityError

from domain.commands import EnrollmentCommand, Recorded
from domain.course import Course
from domain.enrollment import Enrollment
from domain.errors import ConcurrencyError, LedgerError, NotFoundError
from domain.identifiers import course_aggregate_id
from ledger.committer_store import CommandStore, LibraryStore

if TYPE_CHECKING:
    from ledger.application import ProgressLedger

log = logging.getLogger(__name__)


class CommandCommitter:
    # Enough for every request a busy server has in flight; bounded so one insert (and the
    # time the table lock is held) stays short.
    max_batch = 256
    cache_size = 20_000

    def __init__(
        self, ledger: ProgressLedger, *, apart_on: tuple[type[Exception], ...] = ()
    ) -> None:
        self.ledger = ledger
        self.store: CommandStore = LibraryStore(ledger)
        self._apart_on: tuple[type[Exception], ...] = (IntegrityError, *apart_on)
        # The committer's own copies, touched by its thread only: it changes them in place.
        self._cache: dict[UUID, Any] = {}
        self._pending: list[EnrollmentCommand] = []
        # The next batch, taken while the current one was written, and its read, made in
        # the same round trip as that write (the versions asked for, and the answer).
        self._next: list[EnrollmentCommand] = []
        self._read_ahead: tuple[Mapping[UUID, int], Mapping[UUID, Sequence[Any]]] | None = None
        self._arrived = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run_forever, name="commands", daemon=True)
        self._thread.start()

    def submit(self, command: EnrollmentCommand) -> None:
        with self._arrived:
            if self._closed:
                raise RuntimeError("the ledger is closed")
            self._pending.append(command)
            self._arrived.notify()

    def run(self, command: EnrollmentCommand) -> Recorded:
        """Submit and wait, for callers on a thread of their own."""
        done = threading.Event()
        command.settle = lambda _: done.set()
        self.submit(command)
        done.wait()
        return command.outcome()

    def close(self) -> None:
        with self._arrived:
            self._closed = True
            self._arrived.notify()
        self._thread.join(timeout=10)

    # The committer thread ----------------------------------------------------

    def _run_forever(self) -> None:
        while True:
            batch, self._next = self._next or self._wait_for_batch(), []
            if not batch:
                return
            try:
                self._commit(batch)
            except Exception as error:  # never leave a caller waiting, nor stop committing
                log.exception("committing commands failed")
                self._cache.clear()
                self._read_ahead = None
                for command in batch:
                    if command.recorded is None and command.error is None:
                        command.error = error
            settle(batch)

    def _wait_for_batch(self) -> list[EnrollmentCommand]:
        """The commands that arrived; none once the ledger closed."""
        with self._arrived:
            idle = not self._pending
        if idle:
            self.store.idle()
        with self._arrived:
            self._arrived.wait_for(lambda: bool(self._pending) or self._closed)
            return self._take()

    def _take(self) -> list[EnrollmentCommand]:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        return batch

    def _commit(self, batch: list[EnrollmentCommand]) -> None:
        try:
            self._attempt(batch)
        except self._apart_on:
            for command in batch:
                if command.error is None:
                    self._alone(command)

    def _alone(self, command: EnrollmentCommand) -> None:
        for _ in range(self.ledger.max_attempts):
            try:
                self._attempt([command], read_ahead=False)
            except IntegrityError:
                continue
            except self._apart_on as error:
                command.error = error
            return
        command.error = ConcurrencyError(
            f"gave up after {self.ledger.max_attempts} attempts: the aggregate kept changing",
            field="enrollment_id",
        )

    def _attempt(self, commands: list[EnrollmentCommand], *, read_ahead: bool = True) -> None:
        """Decide every command, then write what the accepted ones appended in one insert
        (and, with `read_ahead`, read for the commands that arrived meanwhile).
        Raises what the insert raised when it is one of `_apart_on`, with nothing settled."""
        self._load({command.enrollment_id for command in commands})
        accepted = [command for command in commands if self._decide(command)]
        if not accepted:
            return
        events = [event for command in accepted for event in command.events]
        save_kwargs: dict[str, list[Any]] = {}
        for command in accepted:
            for name, values in command.save_kwargs.items():
                save_kwargs.setdefault(name, []).extend(values)
        positions: list[int] = []
        try:
            if events or save_kwargs:
                read_after = self._next_to_read() if read_ahead else {}
                positions, read = self.store.write(events, save_kwargs, read_after)
                self._read_ahead = (read_after, read) if read_after else None
        except self._apart_on:
            self._forget(accepted)
            raise
        except Exception as error:  # the database is away: every accepted command hears it
            self._forget(accepted)
            for command in accepted:
                command.error = error
            return
        self._deliver(accepted, positions)

    def _decide(self, command: EnrollmentCommand) -> bool:
        command.events, command.recorded = [], None
        enrollment = self._cache.get(command.enrollment_id)
        if not isinstance(enrollment, Enrollment):
            command.error = NotFoundError(
                f"enrollment {command.enrollment_id} does not exist", field="enrollment_id"
            )
            return False
        try:
            command.change(enrollment, self._course)
        except LedgerError as refusal:  # refused before it changed anything
            command.error = refusal
            return False
        except Exception as error:
            self._forget([command])
            command.error = error
            return False
        command.events = list(enrollment.collect_events())
        command.version = enrollment.version
        return True

    def _course(self, course_id: str) -> Course:
        course = self._cache.get(course_aggregate_id(course_id))
        if not isinstance(course, Course):
            raise NotFoundError(f"course {course_id!r} does not exist", field="course_id")
        return course

    def _deliver(self, accepted: list[EnrollmentCommand], positions: list[int]) -> None:
        """Positions come back in the order of the events: each command takes its slice."""
        head = max(positions, default=0) or self.store.head_position()
        start = 0
        for command in accepted:
            mine = positions[start : start + len(command.events)]
            start += len(command.events)
            command.recorded = Recorded(
                appended=[type(event).__name__ for event in command.events],
                position=max(mine, default=head),
                version=command.version,
            )
        if positions:
            self.ledger.announce(head)

    # The committer's copies ----------------------------------------------------

    def _next_to_read(self) -> dict[UUID, int]:
        """Takes the next batch now, and the versions its read must start after (those the
        current batch leaves, should its write succeed)."""
        with self._arrived:
            self._next = self._take()
        ids = {command.enrollment_id for command in self._next}
        ids.update(self._courses_of(ids))
        return self._known(ids)

    def _load(self, enrollment_ids: set[UUID]) -> None:
        """Brings the enrollments and their courses up to date: usually from the read made
        with the last write; otherwise one call, and a second only for courses of
        enrollments that were not known yet."""
        ids = set(enrollment_ids)
        ids.update(self._courses_of(enrollment_ids))
        self._catch_up(ids)
        self._catch_up(self._courses_of(enrollment_ids) - ids)

    def _known(self, ids: Iterable[UUID]) -> dict[UUID, int]:
        return {key: getattr(self._cache.get(key), "version", 0) for key in ids}

    def _courses_of(self, enrollment_ids: set[UUID]) -> set[UUID]:
        return {
            course_aggregate_id(enrollment.course_id)
            for enrollment in (self._cache.get(key) for key in enrollment_ids)
            if isinstance(enrollment, Enrollment)
        }

    def _catch_up(self, ids: set[UUID]) -> None:
        known = self._known(ids)
        if not known:
            return
        read_ahead, self._read_ahead = self._read_ahead, None
        if read_ahead is not None:
            asked, answer = read_ahead
            # What was read after the last write holds for every version asked for then.
            current = {key for key, version in known.items() if asked.get(key) == version}
            self._apply({key: answer[key] for key in current if key in answer})
            known = {key: version for key, version in known.items() if key not in current}
        if known:
            self._apply(self.store.fast_forward(known))
        for key in ids:  # most recently used last, so the oldest go first
            aggregate = self._cache.pop(key, None)
            if aggregate is not None:
                self._cache[key] = aggregate
        while len(self._cache) > self.cache_size:
            del self._cache[next(iter(self._cache))]

    def _apply(self, new_events: Mapping[UUID, Sequence[Any]]) -> None:
        for key, events in new_events.items():
            if events:
                self._cache[key] = project_aggregate(self._cache.get(key), events)

    def _forget(self, commands: list[EnrollmentCommand]) -> None:
        """Copies changed by events that were never written are read again next time."""
        for command in commands:
            self._cache.pop(command.enrollment_id, None)


def settle(batch: list[EnrollmentCommand]) -> None:
    by_settle: dict[Callable[[list[EnrollmentCommand]], None], list[EnrollmentCommand]]
    by_settle = defaultdict(list)
    for command in batch:
        by_settle[command.settle].append(command)
    for settle_them, commands in by_settle.items():
        try:
            settle_them(commands)
        except Exception:  # a caller that went away (its event loop closed)
            log.exception("could not hand back the outcome of %d commands", len(commands))
