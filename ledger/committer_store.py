"""What the command committer (ledger/committer.py) needs of the event store.

`LibraryStore` works with any recorder through the library's own calls; PostgreSQL has a
faster one (eventstore/postgres_committer_store.py) that needs one round trip a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from eventsourcing.application import ProcessingEvent

if TYPE_CHECKING:
    from ledger.application import ProgressLedger


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

    def head_position(self) -> int: ...

    def idle(self) -> None:
        """No command is waiting: let go of what is held between batches."""


class LibraryStore:
    """Through the library's own calls: a query per aggregate, any recorder."""

    def __init__(self, ledger: ProgressLedger) -> None:
        self.ledger = ledger

    def fast_forward(self, known: Mapping[UUID, int]) -> dict[UUID, list[Any]]:
        events = self.ledger.events
        return {key: list(events.get(key, gt=version or None)) for key, version in known.items()}

    def write(
        self, events: list[Any], save_kwargs: dict[str, list[Any]], read_after: Mapping[UUID, int]
    ) -> tuple[list[int], dict[UUID, list[Any]]]:
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        processing_event.events.extend(events)
        processing_event.saved_kwargs.update(save_kwargs)
        positions = [r.notification.id for r in self.ledger.write_now(processing_event)]
        return positions, self.fast_forward(read_after) if read_after else {}

    def head_position(self) -> int:
        return self.ledger.head_position()

    def idle(self) -> None:
        pass
