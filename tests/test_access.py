"""API keys and scopes through a real server: 401 without a known key, 403 without the scope,
nothing appended either way; with no keys the server is open but only on loopback (and the
app itself refuses other clients, however it is started); the documentation is behind a key."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.access import is_loopback
from bootstrap import Settings
from tests.conftest import ROOT, Server, free_port, settings_environment
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import assert_problem, course_body, head

FORWARDED_CLIENT = {"X-Forwarded-For": "203.0.113.9"}  # never contacted: a header only


def test_loopback_is_any_loopback_address_however_written() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"):
        assert is_loopback(host), host
    for host in ("203.0.113.9", "10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "example.org"):
        assert not is_loopback(host), host


def create_key(name: str, scopes: str) -> tuple[str, str]:
    """A key and its hash line, from `progress-ledger keys create`."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.progress_ledger",
            "keys",
            "create",
            "--name",
            name,
            "--scopes",
            scopes,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    return lines["key"].strip(), lines["hash line"].strip()


@pytest.fixture
def created_keys() -> dict[str, tuple[str, str]]:
    return {scopes: create_key(f"k-{scopes}", scopes) for scopes in ("read", "write", "admin")}


@pytest.fixture
def keys(created_keys: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {scopes: key for scopes, (key, _) in created_keys.items()}


@pytest.fixture
def guarded(
    settings: Settings, tmp_path: Path, created_keys: dict[str, tuple[str, str]]
) -> Iterator[Server]:
    lines = [line for _, line in created_keys.values()]
    keys_file = tmp_path / "keys"
    keys_file.write_text("# admin and reader\n" + "\n".join(lines[1:]) + "\n")
    running = Server(
        settings,
        tmp_path / "server.log",
        extra_env={"LEDGER_API_KEYS": lines[0], "LEDGER_API_KEYS_FILE": str(keys_file)},
    )
    yield running
    running.stop()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_and_scopes_decide_who_may_do_what(guarded: Server, keys: dict[str, str]) -> None:
    reader, writer, admin = bearer(keys["read"]), bearer(keys["write"]), bearer(keys["admin"])
    course = new_id("course")
    with httpx.Client(base_url=guarded.url, timeout=DEADLINE) as client:
        start = head(client)
        for headers in ({}, bearer("pl_not-a-key"), {"Authorization": "Basic eDp5"}):
            refused = client.post("/v1/courses", json=course_body(course), headers=headers)
            assert_problem(refused, 401, "Authorization")
        assert refused.headers["www-authenticate"] == "Bearer"
        assert_problem(client.get(f"/v1/courses/{course}"), 401)
        for headers in (reader, writer):
            forbidden = client.post("/v1/courses", json=course_body(course), headers=headers)
            assert_problem(forbidden, 403, "Authorization")
        assert head(client) == start  # nothing appended

        created = client.post("/v1/courses", json=course_body(course), headers=admin)
        assert created.status_code == 201, created.text
        assert client.get(f"/v1/courses/{course}", headers=reader).status_code == 200

        enrollment = {"learner_id": "ada", "course_id": course}
        assert_problem(client.post("/v1/enrollments", json=enrollment, headers=reader), 403)
        assert_problem(client.post("/v1/enrollments", json=enrollment, headers=admin), 403)
        before = head(client)
        enrolled = client.post("/v1/enrollments", json=enrollment, headers=writer)
        assert enrolled.status_code == 201, enrolled.text
        enrollment_id = enrolled.json()["enrollment_id"]
        completion = f"/v1/enrollments/{enrollment_id}/units/u2/completion"
        assert_problem(client.post(completion, headers=reader), 403)
        assert_problem(client.post(completion, headers=admin), 403, "Authorization")
        assert_problem(client.post(completion, headers=bearer("pl_not-a-key")), 401)
        assert_problem(client.post(completion), 401, "Authorization")
        assert head(client) == before + 1
        assert client.post(completion, headers=writer).status_code == 200

        progress = client.get(
            f"/v1/learners/ada/courses/{course}/progress",
            params={"min_position": head(client)},
            headers=reader,
        )
        assert progress.status_code == 200, progress.text
        assert progress.json()["completed_units"] == 1
        assert_problem(client.get("/v1/learners/ada/progress"), 401)
    log = guarded.log_path.read_text()
    assert "API keys: 3 configured" in log
    for key in keys.values():
        assert key not in log  # no secrets in the logs


def test_without_keys_the_server_is_open_on_loopback_only(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    env = settings_environment(settings)
    refused = subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", "serve", "--host", "0.0.0.0", "--port", "9"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert refused.returncode == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in refused.stderr

    broken = subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", "serve", "--host", "0.0.0.0", "--port", "9"],
        cwd=ROOT,
        env={**env, "LEDGER_API_KEYS": "ci:read:not-a-hash"},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert broken.returncode == 2
    assert "the hash must be 64 hex digits" in broken.stderr

    server = Server(settings, tmp_path / "server.log")
    try:
        assert httpx.get(f"{server.url}/v1/learners/ada/progress").status_code == 200
        # uvicorn trusts a loopback proxy's X-Forwarded-For: its far client is refused.
        forwarded = httpx.get(f"{server.url}/v1/learners/ada/progress", headers=FORWARDED_CLIENT)
        assert_problem(forwarded, 403, "client")
    finally:
        server.stop()
    assert "the API is open, served on loopback (127.0.0.1) only" in server.log_path.read_text()


@contextmanager
def uvicorn_without_serve(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """`uvicorn api.main:app` started directly, as `serve` would not: on loopback, trusting
    the X-Forwarded-For of loopback, so a request can claim another client address."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1"]
    options = ["--port", str(port), "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1"]
    log_path = tmp_path / "uvicorn.log"
    with log_path.open("wb") as log:
        started = subprocess.Popen(
            [*command, *options],
            cwd=ROOT,
            env=settings_environment(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE
        while httpx_status(f"{url}/readyz") != 200:
            assert started.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield url
    finally:
        started.terminate()
        started.wait(timeout=DEADLINE)


def httpx_status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=DEADLINE).status_code
    except httpx.TransportError:
        return None


def test_without_keys_the_app_itself_refuses_clients_off_loopback(
    settings: Settings, tmp_path: Path
) -> None:
    with (
        uvicorn_without_serve(settings, tmp_path) as url,
        httpx.Client(base_url=url, timeout=DEADLINE) as client,
    ):
        start = head(client)
        course = new_id("course")
        for method, target, body in (
            ("POST", "/v1/courses", course_body(course)),
            ("GET", "/v1/learners/ada/progress", None),
            ("GET", "/openapi.json", None),
        ):
            refused = client.request(method, target, json=body, headers=FORWARDED_CLIENT)
            assert_problem(refused, 403, "client")
            assert "203.0.113.9" in refused.json()["detail"]
        # The probes say only that the process and its database are up: answered anyone.
        for probe in ("/healthz", "/readyz"):
            assert client.get(probe, headers=FORWARDED_CLIENT).status_code == 200
        assert head(client) == start  # nothing appended
        # Loopback itself (and a loopback proxy's loopback client) is served.
        local = {"X-Forwarded-For": "127.0.0.5"}
        created = client.post("/v1/courses", json=course_body(course), headers=local)
        assert created.status_code == 201
        assert client.get("/v1/learners/ada/progress").status_code == 200


def test_with_keys_the_documentation_needs_a_read_key(
    guarded: Server, keys: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    documents = ("/openapi.json", "/docs", "/redoc")
    with httpx.Client(base_url=guarded.url, timeout=DEADLINE) as client:
        for document in documents:
            assert_problem(client.get(document), 401, "Authorization")
            assert_problem(client.get(document, headers=bearer("pl_not-a-key")), 401)
            assert_problem(client.get(document, headers=bearer(keys["write"])), 403)
            assert client.get(document, headers=bearer(keys["read"])).status_code == 200
        assert client.get("/healthz").status_code == 200
    guarded.stop()

    _, hash_line = create_key("reader", "read")
    public = Server(
        settings,
        tmp_path / "public.log",
        extra_env={"LEDGER_API_KEYS": hash_line, "LEDGER_PUBLIC_DOCS": "true"},
    )
    try:
        for document in documents:
            assert httpx.get(public.url + document, timeout=DEADLINE).status_code == 200
        assert_problem(httpx.get(public.url + "/v1/learners/ada/progress"), 401)
    finally:
        public.stop()
