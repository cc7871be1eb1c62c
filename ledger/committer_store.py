"""What the committer (ledger/committer.py) needs of the event store.

`RecorderStore` works with any recorder through its public calls (SQLite, and the library's
in-memory one); PostgreSQL has a faster one (eventstore/postgres_committer_store.py) that
needs one round trip a batch. Both write with the fast encoder (eventstore/encoder.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, StoredEvent

from eventstore.encoder import StoredEventEncoder
from eventstore.idempotency_keys import pending_claims, raise_if_taken
from eventstore.streams import events_by_aggregate


class CommandStore(Protocol):
    """What the committer needs of the event store; called from its thread only."""

    def fast_forward(self, known: Mapping[UUID, int]) -> Mapping[UUID, Sequence[Any]]:
        """Given the version already known of each aggregate (0: none), the events after
        it, in order."""

    def write(
        self, events: list[Any], save_kwargs: dict[str, list[Any]], read_after: Mapping[UUID, int]
    ) -> tuple[list[int], Mapping[UUID, Sequence[Any]]]:
        """One insert of the events (and whatever `save_kwargs` asks the recorder to
        write in the same transaction): the events' log positions, in order. Then, once
        committed, what `fast_forward(read_after)` answers (the next batch's read)."""

    def check_unwritten(self, save_kwargs: dict[str, list[Any]]) -> None:
        """Raises what writing `save_kwargs` would have raised (a taken Idempotency-Key),
        for a submission whose every command was refused, so nothing of it was written."""

    def head_position(self) -> int: ...

    def idle(self) -> None:
        """No command is waiting: let go of what is held between batches."""


@runtime_checkable
class ReadsEventsAfter(Protocol):
    """A recorder that reads the events of many aggregates in one go (ours, on SQLite)."""

    def select_events_after(self, known: Mapping[UUID, int]) -> list[StoredEvent]: ...


@runtime_checkable
class KeepsIdempotencyKeys(Protocol):
    """A recorder that writes Idempotency-Key rows with events (ours)."""

    def taken_keys(self, keys: list[str]) -> set[str]: ...


class RecorderStore:
    def __init__(self, mapper: Mapper[UUID], recorder: ApplicationRecorder) -> None:
        self.mapper = mapper
        self.recorder = recorder
        self.encode = StoredEventEncoder(mapper)

    def fast_forward(self, known: Mapping[UUID, int]) -> dict[UUID, list[Any]]:
        if isinstance(self.recorder, ReadsEventsAfter):
            stored = self.recorder.select_events_after(known)
        else:
            stored = [
                event
                for key, version in known.items()
                for event in self.recorder.select_events(key, gt=version or None)
            ]
        return events_by_aggregate(self.mapper, stored)

    def write(
        self, events: list[Any], save_kwargs: dict[str, list[Any]], read_after: Mapping[UUID, int]
    ) -> tuple[list[int], dict[UUID, list[Any]]]:
        encode = self.encode
        ids = self.recorder.insert_events([encode(event) for event in events], **save_kwargs)
        return list(ids or ()), self.fast_forward(read_after) if read_after else {}

    def check_unwritten(self, save_kwargs: dict[str, list[Any]]) -> None:
        claims = pending_claims(save_kwargs)
        if claims and isinstance(self.recorder, KeepsIdempotencyKeys):
            raise_if_taken(claims, self.recorder.taken_keys([claim.key for claim in claims]))

    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def idle(self) -> None:
        pass
