"""The API's documentation as an integrator meets it, from a real server: Swagger UI with
nothing fetched from elsewhere, and an OpenAPI document with one shared `Problem`, clean
operation ids, each operation's own error statuses, and the batch endpoint."""

from __future__ import annotations

import re

import httpx
import orjson
import pytest


@pytest.mark.parametrize(
    ("page_path", "script"),
    [
        ("/docs", "/docs-assets/swagger-ui-bundle.js"),
        ("/redoc", "/redoc-assets/redoc.standalone.js"),
    ],
)
def test_the_docs_are_served_by_the_app_itself(
    client: httpx.Client, page_path: str, script: str
) -> None:
    page = client.get(page_path)
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert sources and all(source.startswith("/") for source in sources), sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert asset.content
    assert script in sources


def test_the_openapi_document_has_one_problem_and_clean_operations(
    client: httpx.Client,
) -> None:
    document = client.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = {
        (path, method): operation
        for path, by_method in document["paths"].items()
        for method, operation in by_method.items()
    }
    assert ("/v1/completions:batch", "post") in operations
    ids = [operation["operationId"] for operation in operations.values()]
    assert len(ids) == len(set(ids))
    assert operations[("/v1/courses", "post")]["operationId"] == "create_course"
    assert operations[("/v1/courses", "get")]["operationId"] == "list_courses"
    assert all(not re.search(r"_(get|post|put|patch|delete)$", i) for i in ids), ids
    for (path, method), operation in operations.items():
        responses = operation["responses"]
        assert "4XX" not in responses, (path, method)
        errors = [status for status in responses if status.startswith(("4", "5"))]
        if path.startswith("/v1/"):
            assert {"401", "403"} <= set(errors), (path, method)
        for status in errors:
            schema = responses[status]["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (path, method, status)
    # Nowhere else is the problem's shape spelled out again.
    shapes = re.findall(rb'"properties":\{"type":\{[^}]*\},"title"', orjson.dumps(document))
    assert len(shapes) == 1
