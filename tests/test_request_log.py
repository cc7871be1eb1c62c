"""One JSON line per request (method, path, status, duration, request id), and the request id
echoed in X-Request-ID."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Server
from tests.processes import wait_until


def request_lines(server: Server) -> list[dict[str, object]]:
    lines = []
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "request":
                lines.append(entry)
    return lines


def test_every_request_is_one_json_line_with_its_id(server: Server, client: httpx.Client) -> None:
    mine = client.get("/v1/courses/nope", headers={"X-Request-ID": "trace-42"})
    assert mine.status_code == 404
    assert mine.headers["x-request-id"] == "trace-42"
    theirs = client.post("/v1/enrollments?secret=s3cr3t", json={"learner_id": "a"})
    generated = theirs.headers["x-request-id"]
    assert len(generated) == 32
    odd = client.get("/healthz", headers={"X-Request-ID": "no spaces or ; allowed"})
    assert odd.headers["x-request-id"] != "no spaces or ; allowed"

    # A line is written once its response has gone out, so the last may lag a moment.
    wait_until(lambda: odd.headers["x-request-id"] in server.log_path.read_text(), 10, "log")
    lines = request_lines(server)
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["trace-42"]["method"] == "GET"
    assert by_id["trace-42"]["path"] == "/v1/courses/nope"
    assert by_id["trace-42"]["status"] == 404
    assert isinstance(by_id["trace-42"]["duration_ms"], float)
    assert (by_id[generated]["method"], by_id[generated]["status"]) == ("POST", 422)
    assert "s3cr3t" not in server.log_path.read_text()
    assert len([line for line in lines if line["path"] != "/readyz"]) == 3
