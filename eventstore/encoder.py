"""Stored events built directly, in exactly the library mapper's shape.

The mapper is built for any event: it maps each through the generic transcoder (a Python
callback for every datetime). For ten thousand events that is about a fifth of a batch's
CPU. Events with flat fields are encoded here with orjson instead; anything this shortcut
does not know (compression, encryption, another transcoder, a value that is not plain
JSON, an older class version) goes through the mapper itself; personal fields are sealed
by the mapper's own `sealed_state` first (a sealed field is plain JSON).
`tests/test_ingest_recording.py` checks the two agree byte for byte.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from eventstore.personal_data import PersonalDataMapper, personal_fields
from eventstore.transcoder import FastJSONTranscoder, datetime_tag

PLAIN = frozenset({str, int, bool, float, type(None)})


class StoredEventEncoder:
    def __init__(self, mapper: Mapper[UUID]) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        self.direct = (
            mapper.compressor is None
            and mapper.cipher is None
            and isinstance(transcoder, FastJSONTranscoder)
            and isinstance(transcoder.types.get(datetime), DatetimeAsISO)
        )
        # Per event class: its topic, or None when its class_version needs the mapper; and its
        # personal fields (sealed by the mapper when they hold a value).
        self.topics: dict[type[Any], str | None] = {}
        self.personal: dict[type[Any], tuple[str, ...]] = {}

    def __call__(self, event: Any) -> StoredEvent:
        kind = type(event)
        try:
            topic = self.topics[kind]
        except KeyError:
            plain = getattr(kind, "class_version", 1) == 1
            topic = self.topics[kind] = get_topic(kind) if plain else None
            self.personal[kind] = personal_fields(kind)
        if topic is None or not self.direct:
            return self.mapper.to_stored_event(event)
        personal = self.personal[kind]
        sealed = None
        if personal and any(getattr(event, name, None) is not None for name in personal):
            if not isinstance(self.mapper, PersonalDataMapper):
                return self.mapper.to_stored_event(event)
            sealed = self.mapper.sealed_state(event)
        state = dict(vars(event)) if sealed is None else sealed
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        for name, value in state.items():
            value_type = type(value)
            if value_type is datetime:
                state[name] = datetime_tag(value)
            elif value_type not in PLAIN and not (sealed is not None and name in personal):
                return self.mapper.to_stored_event(event)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=orjson.dumps(state),
        )
