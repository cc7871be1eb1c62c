"""Stored events read for many aggregates at once, turned back into each aggregate's own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from eventstore.personal_data import PersonalDataMapper


def events_by_aggregate(
    mapper: Mapper[UUID], stored_events: Iterable[StoredEvent]
) -> dict[UUID, list[Any]]:
    """The domain events of each aggregate, in the order read (ours are UUID-keyed)."""
    if isinstance(mapper, PersonalDataMapper):
        stored_events = list(stored_events)
        mapper.prefetch(stored.state for stored in stored_events)
    to_domain_event = mapper.to_domain_event
    events: dict[UUID, list[Any]] = {}
    for stored in stored_events:
        key = cast(UUID, stored.originator_id)
        events.setdefault(key, []).append(to_domain_event(stored))
    return events
