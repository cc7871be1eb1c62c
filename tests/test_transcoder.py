"""The fast decoder reads exactly what the library's own transcoder reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from eventstore.transcoder import FastJSONTranscoder


def registered(transcoder: JSONTranscoder) -> JSONTranscoder:
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


@pytest.mark.parametrize(
    "state",
    [
        {"timestamp": datetime.now(UTC), "unit_id": "u1", "occurred_at": datetime.now(UTC)},
        {
            "units": [
                {"unit_id": "u1", "weight": 1.5, "modules": [{"module_id": "m1", "title": ""}]}
            ],
            "originator": uuid4(),
            "amount": Decimal("1.20"),
            "nested": {"deeper": [1, {"at": datetime(2024, 5, 1, tzinfo=UTC)}], "none": None},
            "_type_": "a key that only looks like a tag",
        },
        [datetime.now(UTC), "text", [uuid4()]],
    ],
)
def test_it_decodes_what_the_library_encoded(state: object) -> None:
    library = registered(JSONTranscoder())
    data = library.encode(state)
    assert registered(FastJSONTranscoder()).decode(data) == library.decode(data)


@pytest.mark.parametrize(
    "state",
    [
        {"timestamp": datetime.now(UTC), "unit_id": "u1", "occurred_at": datetime.now(UTC)},
        {"units": [{"unit_id": "u1", "weight": 0.1, "modules": []}], "title": "Ünïcode"},
        {"amount": Decimal("1.20"), "nested": [{"at": datetime(2024, 5, 1, tzinfo=UTC)}]},
        {"originator": uuid4(), "ids": [uuid4()]},
    ],
)
def test_what_it_encodes_the_library_reads_back_the_same(state: dict[str, object]) -> None:
    library = registered(JSONTranscoder())
    assert library.decode(registered(FastJSONTranscoder()).encode(state)) == state


def test_types_nobody_registered_are_refused_as_by_the_library() -> None:
    with pytest.raises(TranscodingNotRegisteredError):
        registered(FastJSONTranscoder()).encode({"tags": {"a", "b"}})


def test_an_unknown_tag_is_an_error_as_in_the_library() -> None:
    data = b'{"x": {"_type_": "martian", "_data_": 1}}'
    with pytest.raises(TranscodingNotRegisteredError):
        registered(FastJSONTranscoder()).decode(data)
