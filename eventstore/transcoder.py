"""A faster transcoder for the event store's JSON, in exactly the library's shape.

The library's JSONTranscoder decodes with `json` and an object hook called for every
object. orjson parses the same bytes several times faster; tagged values
(`{"_type_": "datetime_iso", "_data_": ...}`) are revived afterwards by a walk that only
descends into containers, with the common datetime case inlined.

Encoding uses orjson too, with datetimes (and anything else orjson does not know) handed
to the library's own tagging. orjson writes UUIDs as plain strings, which would change the
shape, so a state holding a UUID is encoded by the library instead. Either way the stored
JSON is what the library itself would read, and data written before still reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, TranscodingNotRegisteredError

DATETIME = DatetimeAsISO.name


def datetime_tag(value: datetime) -> dict[str, str]:
    """A datetime as the library's JSON holds it."""
    return {"_type_": DATETIME, "_data_": value.isoformat()}


def tagged_datetime(item: dict[str, Any]) -> datetime | None:
    """The datetime a JSON object holds in the library's tag; None for any other object."""
    if len(item) == 2 and item.get("_type_") == DATETIME and "_data_" in item:
        return datetime.fromisoformat(item["_data_"])
    return None


ENCODE_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class FastJSONTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        if holds_uuid(obj):
            return super().encode(obj)
        try:
            return orjson.dumps(obj, default=self._encode_obj, option=ENCODE_OPTIONS)
        except orjson.JSONEncodeError as error:
            if isinstance(error.__cause__, TranscodingNotRegisteredError):
                raise error.__cause__ from None
            raise

    def decode(self, data: bytes) -> Any:
        decoded = orjson.loads(data)
        if type(decoded) is dict:
            self._revive_items(decoded)
            return decoded
        return self._revive(decoded)

    def _revive_items(self, mapping: dict[str, Any]) -> None:
        for key, item in mapping.items():
            kind = type(item)
            if kind is dict:
                revived = tagged_datetime(item)
                mapping[key] = self._revive(item) if revived is None else revived
            elif kind is list:
                mapping[key] = self._revive(item)

    def _revive(self, value: Any) -> Any:
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                try:
                    transcoding = self.names[value["_type_"]]
                except KeyError:
                    raise TranscodingNotRegisteredError(
                        f"no transcoding registered for {value['_type_']!r}"
                    ) from None
                return transcoding.decode(self._revive(value["_data_"]))
            self._revive_items(value)
            return value
        if type(value) is list:
            return [self._revive(item) for item in value]
        return value


def holds_uuid(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return any(holds_uuid(item) for item in value.values())
    if kind is list or kind is tuple:
        return any(holds_uuid(item) for item in value)
    return isinstance(value, UUID)
