"""Every operation of the served OpenAPI document shows an example of its request body (when
it takes one) and of its success answer, and every example validates against the schema it
is shown with: an integrator can copy one into Swagger UI and it is a request the schema
takes, or an answer the schema promises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import orjson

Document = dict[str, Any]
REF = "#/components/schemas/"


def operations(document: Document) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, by_method in document["paths"].items():
        for method, operation in by_method.items():
            yield f"{method.upper()} {path}", operation


def resolved(schema: dict[str, Any], document: Document) -> dict[str, Any]:
    if "$ref" in schema:
        found: dict[str, Any] = document["components"]["schemas"][schema["$ref"][len(REF) :]]
        return found
    return schema


def examples_of(media: dict[str, Any], document: Document) -> list[Any]:
    """The examples shown with a media type: its own, else its schema's (each branch's, when
    the schema is one of several; an optional body's `null` needs none)."""
    if "example" in media:
        return [media["example"]]
    if "examples" in media:
        return [example["value"] for example in media["examples"].values()]
    schema = resolved(media.get("schema", {}), document)
    if "anyOf" in schema:
        branches = [
            resolved(branch, document).get("examples", [])
            for branch in schema["anyOf"]
            if branch != {"type": "null"}
        ]
        return [example for found in branches for example in found] if all(branches) else []
    found: list[Any] = schema.get("examples", [])
    return found


NDJSON = "application/x-ndjson"


def ndjson_example(operation: dict[str, Any]) -> list[Any]:
    """NDJSON's example is the indented lines of the body's description (a fuzzer that sends
    an operation's examples cannot send NDJSON): each line must be a JSON item the body's
    JSON form takes, so the lines are checked as that array."""
    description = operation["requestBody"].get("description", "")
    lines = [line.strip() for line in description.splitlines() if line.startswith("    ")]
    return [[orjson.loads(line) for line in lines]] if lines else []


def problems_of(example: Any, schema: dict[str, Any], document: Document) -> list[str]:
    """Why the example does not validate against the schema (none when it does); references
    resolve in the document's components, and formats (date-time, uuid, uri) are checked."""
    rooted = {**schema, "components": document["components"]}
    validator = jsonschema_rs.Draft202012Validator(rooted, validate_formats=True)
    return [error.message for error in validator.iter_errors(example)]


def media_of(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The request body's media types, then each success answer's."""
    for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
        yield f"request {media_type}", media
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            for media_type, media in response.get("content", {}).items():
                yield f"{status} {media_type}", media


def test_every_operation_shows_valid_examples_of_its_body_and_its_answer(
    client: httpx.Client,
) -> None:
    document = client.get("/openapi.json").json()
    missing, invalid, shown = [], [], 0
    for name, operation in operations(document):
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        assert successes, name
        for status, response in successes.items():
            # An answer without a body (204, 202) has nothing to show; it says so.
            assert response.get("content") or status in ("202", "204"), (name, status)
        for where, media in media_of(operation):
            examples = examples_of(media, document)
            if where == f"request {NDJSON}":  # shown in the description: see ndjson_example
                examples = ndjson_example(operation)
            if not examples:
                missing.append(f"{name}: {where}")
            for example in examples:
                shown += 1
                schema = media.get("schema", {})
                if where == f"request {NDJSON}":
                    schema = operation["requestBody"]["content"]["application/json"]["schema"]
                problems = problems_of(example, schema, document)
                if problems:
                    invalid.append(f"{name}: {where}: {problems}")
    assert not missing, "no example:\n" + "\n".join(missing)
    assert not invalid, "invalid examples:\n" + "\n".join(invalid)
    assert shown >= 60  # 47 operations: bodies, answers, CSV and NDJSON too


def test_every_schema_example_validates_against_its_schema(client: httpx.Client) -> None:
    """Nested ones too: the examples of a unit, a summary or a problem."""
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    with_examples = {name: schema for name, schema in schemas.items() if "examples" in schema}
    assert {"Problem", "CourseIn", "CourseProgress", "Roster"} <= set(with_examples)
    invalid = [
        f"{name}: {problems}"
        for name, schema in with_examples.items()
        for example in schema["examples"]
        if (problems := problems_of(example, {"$ref": REF + name}, document))
    ]
    assert not invalid, "\n".join(invalid)
