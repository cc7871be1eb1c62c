"""Fixtures: every storage test runs on SQLite and, when LEDGER_TEST_DATABASE_URL is set, on
PostgreSQL, each in a schema of its own that is dropped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from bootstrap import LedgerServices, Settings, bootstrap
from tests.deadlines import DEADLINE, POLL
from tests.forked_processes import ForkedProcess, stop_every_process

POSTGRES_URL = os.environ.get("LEDGER_TEST_DATABASE_URL", "")
ROOT = Path(__file__).resolve().parent.parent
# `make check` (the inner loop) runs only what runs inside pytest's own process.
IN_PROCESS_ONLY = os.environ.get("LEDGER_TEST_IN_PROCESS_ONLY") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if POSTGRES_URL:
        try:
            psycopg.connect(POSTGRES_URL, connect_timeout=5).close()
        except psycopg.Error as error:
            raise pytest.UsageError(
                f"LEDGER_TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {error}"
            ) from error


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_every_process()


def needs_a_process() -> None:
    """Skips, under `make check`, a test about to start a server or a CLI process."""
    if IN_PROCESS_ONLY:
        pytest.skip("starts a process; `make check` runs the in-process tests only")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty database of each kind."""
    if request.param == "sqlite":
        yield Settings(database_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
        return
    if not POSTGRES_URL:
        pytest.skip("LEDGER_TEST_DATABASE_URL is not set")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield Settings(database_url=POSTGRES_URL, database_schema=schema)
    drop_schema(schema)


@pytest.fixture
def postgres_settings() -> Iterator[Settings]:
    """PostgreSQL only (own schema), for tests of processes that share one database."""
    if not POSTGRES_URL:
        pytest.skip("LEDGER_TEST_DATABASE_URL is not set")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield Settings(database_url=POSTGRES_URL, database_schema=schema, embedded_projection=False)
    drop_schema(schema)


def drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def services(settings: Settings) -> Iterator[LedgerServices]:
    """The ledger and its projection, without a background projector."""
    built = bootstrap(settings)
    yield built
    built.close()


def settings_environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_DATABASE_URL=settings.database_url,
        LEDGER_DATABASE_SCHEMA=settings.database_schema,
        LEDGER_EMBEDDED_PROJECTION=str(settings.embedded_projection).lower(),
        LEDGER_READ_WAIT_TIMEOUT=str(settings.read_wait_timeout),
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A real `progress-ledger serve` process on loopback (forked: see forked_processes.py)."""

    def __init__(
        self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        needs_a_process()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = ForkedProcess(
            ["serve", "--port", str(self.port)],
            env={**settings_environment(settings), **(extra_env or {})},
            cwd=ROOT,
            log_path=log_path,
            append=False,
        )
        self._stopped = False
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=DEADLINE).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(POLL)
        raise RuntimeError(f"server did not start: {self.log_text()}")

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.process.terminate()
        try:
            self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[Server]:
    running = Server(settings, tmp_path / "server.log")
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as http:
        yield http
