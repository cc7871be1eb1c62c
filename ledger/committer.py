"""The one committer: every command is decided here, in batches, and written in one insert.

A server thread per command that loads, checks and saves its aggregate pays for the
threadpool hop, two reads and a pool checkout each, and 64 such threads fight for the GIL.
Here callers only hand over their commands (a `Submission`: one HTTP command, or all the
items of a batch request or an import chunk); one thread takes every submission that
arrived meanwhile, brings the aggregates they name up to date with one read (its own
copies, cached, plus whatever other writers appended since), decides each command on its
own (a refused command changes nothing and hears its own error), and writes all the events,
and the submissions' Idempotency-Key rows, in one insert. While it writes, it already takes
the next batch, whose read the store makes in the same round trip, after the commit.

A submission is written whole or not at all. If the shared insert fails on a version
conflict (another process wrote one of the aggregates meanwhile) or on a taken key, every
submission runs again on its own from fresh state, so only the one at fault hears the
error. Any other failure (the database is away) reaches every submission of the insert.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.acting import SYSTEM, Acting, record_acting
from domain.commands import Command, Recorded
from domain.enrollment import Enrollment
from domain.errors import ConcurrencyError, LedgerError
from domain.identifiers import course_aggregate_id
from ledger.committer_store import CommandStore

log = logging.getLogger(__name__)

# What a command appended and the version it left its aggregate at, or why it was refused.
Decision = tuple[Sequence[Any], int] | Exception


def ignore(_: list[Submission]) -> None:
    pass


class CommitMetrics(Protocol):
    """Told what each turn of the committer decided; only counts, on its thread."""

    def decided(self, appended: int, unchanged: int, refused: int, events: int) -> None:
        """Commands that appended, that had nothing to append, that were refused; and the
        events written in the turn's insert (0: no insert)."""

    def failed(self, commands: int) -> None:
        """Commands whose insert failed through no fault of theirs (the database)."""


class NoMetrics:
    def decided(self, appended: int, unchanged: int, refused: int, events: int) -> None:
        pass

    def failed(self, commands: int) -> None:
        pass


@dataclass(eq=False)
class Submission:
    """Commands handed to the committer together, and, once settled, their outcomes.

    `settle` is called from the committer's thread with every settled submission that shares
    it, once per batch (so an event loop is woken once, not once per request); `waiter` is
    whatever the caller needs to find its own answer again. `save_kwargs` (the request's
    Idempotency-Key claim) are written with its events, if any of its commands is accepted.
    """

    commands: Sequence[Command]
    save_kwargs: dict[str, list[Any]] = field(default_factory=dict)
    settle: Callable[[list[Submission]], None] = ignore
    waiter: Any = None
    # Every aggregate its commands name, when the caller knows them already (a big batch
    # names each enrollment several times: hashing UUIDs costs more than deciding).
    aggregate_ids: set[UUID] | None = None
    # Who acted: recorded on every event its commands append (a command with an `acting`
    # of its own, an xAPI statement's effect, records that instead).
    acting: Acting = SYSTEM
    # All or nothing (a batch of xAPI statements): one refused command refuses them all.
    whole: bool = False
    # Once settled: an outcome per command (what it recorded, or why it was refused) and
    # the highest position of what it appended (0: nothing); or `error` when none of it
    # could be written.
    outcomes: list[Recorded | Exception] = field(default_factory=list)
    position: int = 0
    error: BaseException | None = None
    decisions: list[Decision] = field(default_factory=list)

    def named_ids(self) -> set[UUID]:
        if self.aggregate_ids is None:
            self.aggregate_ids = {key for command in self.commands for key in command.aggregate_ids}
        return self.aggregate_ids

    def checked(self) -> Submission:
        if self.error is not None:
            raise self.error
        return self

    def only(self) -> Recorded:
        """The outcome of a submission of one command: its record, or its refusal raised."""
        (outcome,) = self.checked().outcomes
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Committer:
    # Enough for every request a busy server has in flight; bounded, with the commands
    # a batch may hold, so one insert (and the time the table lock is held) stays short.
    max_batch = 256
    max_commands = 10_000
    cache_size = 20_000
    # Submissions of more commands than this are bulk: see _let_go_of_bulk.
    bulk_from = 256
    # Version conflicts met by a submission on its own before it gives up.
    max_attempts = 32

    def __init__(
        self,
        store: CommandStore,
        *,
        on_written: Callable[[int], None],
        apart_on: tuple[type[Exception], ...] = (),
        max_batch: int | None = None,
        metrics: CommitMetrics | None = None,
    ) -> None:
        """`on_written` hears the new head position after every insert; a shared insert
        that fails with IntegrityError or one of `apart_on` is retried submission by
        submission; `max_batch` 1 writes every submission in an insert of its own;
        `metrics` counts what was decided."""
        self.store = store
        self.on_written = on_written
        self.metrics: CommitMetrics = metrics or NoMetrics()
        self._apart_on: tuple[type[Exception], ...] = (IntegrityError, WholeRefused, *apart_on)
        if max_batch is not None:
            self.max_batch = max_batch
        # Inserts made, and submissions handed over but not settled yet.
        self.inserts = 0
        self.unsettled = 0
        # The committer's own copies, touched by its thread only: it changes them in place.
        self._cache: dict[UUID, Aggregate] = {}
        self._pending: list[Submission] = []
        # The next batch, taken while the current one was written, and its read, made in
        # the same round trip as that write (the versions asked for, and the answer).
        self._next: list[Submission] = []
        self._read_ahead: tuple[Mapping[UUID, int], Mapping[UUID, Sequence[Any]]] | None = None
        self._arrived = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        # Set when the batch being committed found the database away.
        self._away: BaseException | None = None

    def submit(self, submission: Submission) -> None:
        with self._arrived:
            if self._closed:
                raise RuntimeError("the ledger is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run_forever, name="committer", daemon=True
                )
                self._thread.start()
            self._pending.append(submission)
            self.unsettled += 1
            self._arrived.notify()

    def run(self, submission: Submission) -> Submission:
        """Submit and wait, for callers on a thread of their own."""
        submission.settle, submission.waiter = release, threading.Event()
        self.submit(submission)
        submission.waiter.wait()
        return submission

    def close(self) -> None:
        with self._arrived:
            self._closed = True
            self._arrived.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        self.store.idle()

    # The committer thread ----------------------------------------------------

    def _run_forever(self) -> None:
        while True:
            batch, self._next = self._next or self._wait_for_batch(), []
            if not batch:
                return
            self._away = None
            try:
                self._commit(batch)
            except Exception as error:  # never leave a caller waiting, nor stop committing
                log.exception("committing commands failed")
                self._cache.clear()
                self._read_ahead = None
                self._away = error
                for submission in batch:
                    if not submission.outcomes and submission.error is None:
                        submission.error = error
            with self._arrived:
                self.unsettled -= len(batch)
            settle(batch)
            if self._away is not None:
                self._turn_away(self._away)

    def _turn_away(self, error: BaseException) -> None:
        """The submissions that queued behind a batch which found the database away hear
        its error at once: otherwise each would wait out a connect timeout of its own after
        the one it queued behind, and a client's 503 would take twice the timeout."""
        with self._arrived:
            waiting, self._pending = self._next + self._pending, []
            self._next = []
            self.unsettled -= len(waiting)
        for submission in waiting:
            submission.error = error
        settle(waiting)

    def _wait_for_batch(self) -> list[Submission]:
        """The submissions that arrived; none once the ledger closed."""
        with self._arrived:
            idle = not self._pending
        if idle:
            self.store.idle()
        with self._arrived:
            self._arrived.wait_for(lambda: bool(self._pending) or self._closed)
            return self._take()

    def _take(self) -> list[Submission]:
        taken = commands = 0
        for submission in self._pending:
            if taken == self.max_batch or (taken and commands >= self.max_commands):
                break
            taken += 1
            commands += len(submission.commands)
        batch = self._pending[:taken]
        del self._pending[:taken]
        return batch

    def _commit(self, batch: list[Submission]) -> None:
        try:
            self._attempt(batch)
        except self._apart_on:
            # Refusals too may have rested on what was never written: decide all again.
            for submission in batch:
                self._alone(submission)
        self._let_go_of_bulk(batch)
        self._trim_cache()

    def _alone(self, submission: Submission) -> None:
        for _ in range(self.max_attempts):
            try:
                self._attempt([submission], read_ahead=False)
            except IntegrityError:
                continue
            except self._apart_on as error:
                submission.error = error
            return
        submission.error = ConcurrencyError(
            f"gave up after {self.max_attempts} attempts: other writers kept changing "
            "the same aggregates"
        )

    def _attempt(self, batch: list[Submission], *, read_ahead: bool = True) -> None:
        """Decide every command, then write what the accepted ones appended in one insert
        (and, with `read_ahead`, read for the submissions that arrived meanwhile).
        Raises what the insert raised when it is one of `_apart_on`, with nothing settled."""
        self._load(ids_of(batch))
        events: list[Any] = []
        save_kwargs: dict[str, list[Any]] = {}
        unwritten: list[Submission] = []
        try:
            accepted = [self._decide(submission, events) for submission in batch]
        except WholeRefused as refused:
            # The copies hold changes that will not be written: read them again.
            self._forget(batch)
            if len(batch) > 1:
                raise  # each submission alone, then
            refused.refuse_all()
            self._deliver(batch, [])
            return
        for submission, any_accepted in zip(batch, accepted, strict=True):
            if any_accepted:
                for name, values in submission.save_kwargs.items():
                    save_kwargs.setdefault(name, []).extend(values)
            elif submission.save_kwargs:
                unwritten.append(submission)
        positions: list[int] = []
        if events or save_kwargs:
            read_after = self._next_to_read() if read_ahead else {}
            try:
                positions, read = self.store.write(events, save_kwargs, read_after)
            except self._apart_on:
                self._forget(batch)
                raise
            except Exception as error:  # the database is away: every submission hears it
                self._forget(batch)
                self._away = error
                for submission in batch:
                    submission.error = error
                self.metrics.failed(sum(len(submission.commands) for submission in batch))
                return
            self.inserts += 1
            self._read_ahead = (read_after, read) if read_after else None
        self._deliver(batch, positions)
        for submission in unwritten:
            # A refusal may rest on what another request with the same Idempotency-Key
            # wrote (an identical request, in this very batch even): that one answers.
            try:
                self.store.check_unwritten(submission.save_kwargs)
            except Exception as error:
                submission.error = error

    def _decide(self, submission: Submission, events: list[Any]) -> bool:
        """Decides each command on the cached aggregates, which it changes in place, and
        adds what the accepted ones appended to `events`; True if any was accepted."""
        cache = self._cache
        decisions: list[Decision] = []
        accepted = False
        for command in submission.commands:
            try:
                aggregate = command.decide(cache)
            except LedgerError as refusal:  # refused before it changed anything
                decisions.append(refusal)
                continue
            except Exception as error:  # it may have changed its aggregate half way
                for key in command.aggregate_ids:
                    cache.pop(key, None)
                decisions.append(error)
                continue
            appended = aggregate.collect_events()
            acting = getattr(command, "acting", None) or submission.acting
            for event in appended:
                record_acting(event, acting)
            version = aggregate.version
            if version == len(appended):  # created by this command: now the cache holds it
                cache[aggregate.id] = aggregate
            decisions.append((appended, version))
            events.extend(appended)
            accepted = True
        submission.decisions = decisions
        if submission.whole and any(isinstance(d, Exception) for d in decisions):
            raise WholeRefused(submission)
        return accepted

    def _deliver(self, batch: list[Submission], positions: list[int]) -> None:
        """Positions come back in the order of the events (ascending: the table lock lets no
        other insert in between): each command takes its slice, and the position of its
        last event covers it. What appended nothing is covered by the head (asked for only
        when nothing was written)."""
        head = max(positions, default=0)
        end = unchanged = refused = decided = 0
        for submission in batch:
            outcomes: list[Recorded | Exception] = []
            append = outcomes.append
            first = end
            decided += len(submission.decisions)
            for decision in submission.decisions:
                if isinstance(decision, tuple):
                    appended, version = decision
                    if appended:
                        end += len(appended)
                        names = [type(event).__name__ for event in appended]
                        append(Recorded(names, positions[end - 1], version))
                    else:
                        unchanged += 1
                        head = head or self.store.head_position()
                        append(Recorded([], head, version))
                else:
                    refused += 1
                    append(decision)
            submission.outcomes = outcomes
            submission.position = positions[end - 1] if end > first else 0
        self.metrics.decided(decided - unchanged - refused, unchanged, refused, len(positions))
        if positions:
            self.on_written(head)

    # The committer's copies ----------------------------------------------------

    def _next_to_read(self) -> dict[UUID, int]:
        """Takes the next batch now, and the versions its read must start after (those the
        current batch leaves, should its write succeed)."""
        with self._arrived:
            self._next = self._take()
        ids = ids_of(self._next)
        ids.update(self._courses_of(ids))
        return self._known(ids)

    def _load(self, ids: set[UUID]) -> None:
        """Brings the aggregates and the courses of the enrollments among them up to date:
        usually from the read made with the last write; otherwise one call, and a second
        only for courses of enrollments that were not known yet."""
        ids.update(self._courses_of(ids))
        self._catch_up(ids)
        self._catch_up(self._courses_of(ids) - ids)

    def _known(self, ids: Iterable[UUID]) -> dict[UUID, int]:
        return {key: getattr(self._cache.get(key), "version", 0) for key in ids}

    def _courses_of(self, ids: set[UUID]) -> set[UUID]:
        return {
            course_aggregate_id(enrollment.course_id)
            for enrollment in (self._cache.get(key) for key in ids)
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

    def _apply(self, new_events: Mapping[UUID, Sequence[Any]]) -> None:
        for key, events in new_events.items():
            aggregate = project_aggregate(self._cache.get(key), events)
            if aggregate is not None:
                self._cache[key] = aggregate

    def _forget(self, batch: list[Submission]) -> None:
        """Copies changed by events that were never written are read again next time."""
        for key in ids_of(batch):
            self._cache.pop(key, None)

    def _let_go_of_bulk(self, batch: list[Submission]) -> None:
        """The enrollments of a bulk submission (an import) are not kept: the cache is for
        the commands that come one by one, and an import of many learners would push every
        enrollment they touch out of it."""
        for submission in batch:
            if len(submission.commands) > self.bulk_from:
                for key in submission.named_ids():
                    if isinstance(self._cache.get(key), Enrollment):
                        del self._cache[key]

    def _trim_cache(self) -> None:
        while len(self._cache) > self.cache_size:
            del self._cache[next(iter(self._cache))]


class WholeRefused(Exception):
    """A whole submission with a refused command: none of its commands is written."""

    def __init__(self, submission: Submission) -> None:
        super().__init__("a command of a whole submission was refused")
        self.submission = submission

    def refuse_all(self) -> None:
        """Every command hears the first refusal (what the caller reports)."""
        decisions = self.submission.decisions
        first = next(d for d in decisions if isinstance(d, Exception))
        self.submission.decisions = [first] * len(decisions)


def ids_of(batch: list[Submission]) -> set[UUID]:
    if len(batch) == 1:
        return set(batch[0].named_ids())
    return {key for submission in batch for key in submission.named_ids()}


def release(batch: list[Submission]) -> None:
    for submission in batch:
        submission.waiter.set()


def settle(batch: list[Submission]) -> None:
    by_settle: dict[Callable[[list[Submission]], None], list[Submission]] = defaultdict(list)
    for submission in batch:
        by_settle[submission.settle].append(submission)
    for settle_them, submissions in by_settle.items():
        try:
            settle_them(submissions)
        except Exception:  # a caller that went away (its event loop closed)
            log.exception("could not hand back the outcome of %d submissions", len(submissions))
