"""Group commit: concurrent commands share one insert, one table lock and one fsync.

Every insert into the event store takes the same table lock and waits for its own fsync,
so one command per transaction caps a server at a few hundred commands a second however
many threads it runs. Here each command still loads, checks and changes its aggregate in
its own thread; only the save is handed to a committer thread, which writes everything
that arrived meanwhile with one `events.put`. If that insert fails on a version conflict,
the commands are written one by one instead, so only the command that really conflicted
sees the IntegrityError (and `ProgressLedger` retries it as it always does).

Commands on enrollments (completions, withdrawals) go further: the whole command, not
only its save, is handed to a `CommandCommitter` (ledger/committer.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording

from domain.commands import Change, EnrollmentCommand
from ledger.application import ProgressLedger, Recorded
from ledger.committer import CommandCommitter
from ledger.committer_store import CommandStore

Recordings = list[Recording[UUID]]

log = logging.getLogger(__name__)


# Keyword arguments a save passes down to the recorder (such as rows to write in the same
# transaction), gathered in the caller's thread; lists, so a shared insert can join them.
SaveKwargs = dict[str, list[Any]]


@dataclass
class PendingSave:
    processing_event: ProcessingEvent[UUID]
    save_kwargs: SaveKwargs = field(default_factory=dict)
    outcome: Future[Recordings] = field(default_factory=Future)

    @property
    def originators(self) -> set[UUID]:
        return {event.originator_id for event in self.processing_event.events}


class GroupCommitLedger(ProgressLedger):
    """ProgressLedger whose saves from concurrent threads are committed together."""

    name = ProgressLedger.name  # the same event store, not one named after this class
    # Enough to cover every request a busy server has in flight; bounded so one insert
    # (and the time the table lock is held) stays short.
    max_batch = 256

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        caller_save_kwargs: Callable[[], SaveKwargs] = dict,
        apart_on: tuple[type[Exception], ...] = (),
    ) -> None:
        """`caller_save_kwargs` is asked, in each command's own thread, what its save must
        pass to the recorder; a shared insert that fails with IntegrityError or one of
        `apart_on` is retried command by command, so only the command at fault hears it."""
        super().__init__(env)
        self._caller_save_kwargs = caller_save_kwargs
        self._apart_on: tuple[type[Exception], ...] = (IntegrityError, *apart_on)
        self._pending: list[PendingSave] = []
        self._arrived = threading.Condition()
        self._closed = False
        self._committer = threading.Thread(
            target=self._commit_forever, name="group-commit", daemon=True
        )
        self._committer.start()
        # Commands on enrollments go further: the committer decides them too (one read).
        self.commands = CommandCommitter(self, apart_on=apart_on)

    def use_command_store(self, store: CommandStore) -> None:
        """A faster way for the command committer to read and write (PostgreSQL)."""
        self.commands.store = store

    def change_enrollment(self, enrollment_id: UUID, change: Change) -> Recorded:
        return self.commands.run(self.command(enrollment_id, change))

    def command(
        self,
        enrollment_id: UUID,
        change: Change,
        settle: Callable[[list[EnrollmentCommand]], None] = lambda _: None,
    ) -> EnrollmentCommand:
        """A command carrying what its save must pass to the recorder, asked now, in the
        caller's own context."""
        return EnrollmentCommand(enrollment_id, change, settle, self._caller_save_kwargs())

    def _record(self, processing_event: ProcessingEvent[UUID]) -> Recordings:
        alone = processing_event.tracking is not None or processing_event.saved_kwargs
        if alone or not processing_event.events:
            return super()._record(processing_event)
        pending = PendingSave(processing_event, self._caller_save_kwargs())
        with self._arrived:
            if self._closed:
                raise RuntimeError("the ledger is closed")
            self._pending.append(pending)
            self._arrived.notify()
        return pending.outcome.result()

    def close(self) -> None:
        self.commands.close()
        with self._arrived:
            self._closed = True
            self._arrived.notify()
        self._committer.join(timeout=10)
        super().close()

    # The committer thread ----------------------------------------------------

    def _commit_forever(self) -> None:
        while True:
            with self._arrived:
                self._arrived.wait_for(lambda: bool(self._pending) or self._closed)
                if not self._pending:
                    return
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            try:
                self._commit(batch)
            except Exception as error:  # never leave a caller waiting, nor stop committing
                log.exception("group commit failed")
                for pending in batch:
                    if not pending.outcome.done():
                        pending.outcome.set_exception(error)

    def _commit(self, batch: list[PendingSave]) -> None:
        together, apart = split_conflicting(batch)
        if len(together) == 1:
            apart.insert(0, together[0])
        elif together:
            try:
                recordings = self._record_one(merged(together))
            except self._apart_on:
                apart = together + apart
            except Exception as error:  # the database is away: every command hears it
                for pending in together:
                    pending.outcome.set_exception(error)
            else:
                deliver(together, recordings)
        for pending in apart:
            try:
                pending.processing_event.saved_kwargs.update(pending.save_kwargs)
                pending.outcome.set_result(self._record_one(pending.processing_event))
            except Exception as error:
                pending.outcome.set_exception(error)

    def _record_one(self, processing_event: ProcessingEvent[UUID]) -> Recordings:
        return ProgressLedger._record(self, processing_event)


def split_conflicting(batch: list[PendingSave]) -> tuple[list[PendingSave], list[PendingSave]]:
    """Two saves of one aggregate in one insert would fail it; the later ones go alone."""
    together: list[PendingSave] = []
    apart: list[PendingSave] = []
    seen: set[UUID] = set()
    for pending in batch:
        originators = pending.originators
        if originators & seen:
            apart.append(pending)
        else:
            seen |= originators
            together.append(pending)
    return together, apart


def merged(batch: list[PendingSave]) -> ProcessingEvent[UUID]:
    combined: ProcessingEvent[UUID] = ProcessingEvent()
    for pending in batch:
        combined.events.extend(pending.processing_event.events)
        combined.aggregates.update(pending.processing_event.aggregates)
        for name, values in pending.save_kwargs.items():
            combined.saved_kwargs.setdefault(name, []).extend(values)
    return combined


def deliver(batch: list[PendingSave], recordings: Recordings) -> None:
    """Recordings come back in the order of the events, so each save takes its own slice."""
    start = 0
    for pending in batch:
        end = start + len(pending.processing_event.events)
        pending.outcome.set_result(recordings[start:end])
        start = end
