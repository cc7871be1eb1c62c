"""The items of a batch, parsed one by one so a bad item never spoils the good ones."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

import orjson
from pydantic import ValidationError, model_validator

from api.guards import NDJSON, media_type
from api.problems import field_name
from api.schemas import EventTime, Identifier, Strict
from ledger.importer import ItemError

MAX_ITEMS = 10_000


class CompletionItem(Strict):
    learner_id: Identifier
    course_id: Identifier
    unit_id: Identifier | None = None
    module_id: Identifier | None = None
    occurred_at: EventTime | None = None

    @model_validator(mode="after")
    def names_one_thing(self) -> Self:
        if (self.unit_id is None) == (self.module_id is None):
            raise ValueError("give exactly one of unit_id and module_id")
        return self


class BatchTooLarge(ValueError):
    pass


class NotABatch(ValueError):
    pass


def parse_item(raw: object) -> CompletionItem | ItemError:
    try:
        return CompletionItem.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        # An item that is not an object at all is at fault as a whole.
        field = field_name(first["loc"]) or "item"
        return ItemError(f"{field}: {first['msg']}", field)


def parse_line(line: bytes) -> CompletionItem | ItemError:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return ItemError(f"not JSON: {error}", "item")
    return parse_item(raw)


def parse_ndjson(lines: Iterable[bytes]) -> list[CompletionItem | ItemError]:
    return [parse_line(line) for line in lines if line.strip()]


def parse_body(body: bytes, content_type: str) -> list[CompletionItem | ItemError]:
    """A JSON array, or NDJSON (one item a line) when the content type says so."""
    if media_type(content_type) == NDJSON:
        lines = body.splitlines()
        if sum(1 for line in lines if line.strip()) > MAX_ITEMS:
            raise BatchTooLarge(f"a batch holds at most {MAX_ITEMS} items")
        return parse_ndjson(lines)
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise NotABatch(f"the body is not JSON: {error}") from None
    if not isinstance(raw, list):
        raise NotABatch("the body must be a JSON array of items (or NDJSON)")
    if len(raw) > MAX_ITEMS:
        raise BatchTooLarge(f"a batch holds at most {MAX_ITEMS} items")
    return [parse_item(item) for item in raw]
