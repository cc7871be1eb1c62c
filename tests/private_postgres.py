"""A PostgreSQL cluster of the test's own (initdb/pg_ctl on a free port), so a test may stop
and start it without touching the shared server."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from tests.conftest import POSTGRES_URL, free_port
from tests.deadlines import DEADLINE


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [
        path for path in [shutil.which("initdb")] if path
    ]
    return Path(found[-1]).parent if found else None


def has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PrivatePostgres:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not under pytest's tmp_path: that is private to root, and initdb refuses root.
        self.home = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
        self.data = self.home / "data"
        self.log = self.home / "postgres.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.home, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """An immediate stop: connections are cut as if the server had failed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        subprocess.run(
            self._command("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.home, ignore_errors=True)

    def _command(self, program: str, *args: str) -> list[str]:
        command = [str(self.bin_dir / program), *args]
        return ["runuser", "-u", "postgres", "--", *command] if self.as_postgres else command

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            self._command(program, *args), capture_output=True, check=True, timeout=DEADLINE
        )


def cannot_run(reason: str) -> NoReturn:
    """Skips where PostgreSQL tests are not asked for; where they are (CI sets
    LEDGER_TEST_DATABASE_URL), a test that cannot run is a failure, never a silent skip."""
    if POSTGRES_URL:
        pytest.fail(f"{reason}, and LEDGER_TEST_DATABASE_URL asks for the PostgreSQL tests")
    pytest.skip(reason)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        cannot_run("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0 and not (shutil.which("runuser") and has_user("postgres")):
        cannot_run("initdb refuses root, and there is no postgres user to run it as")
    cluster = PrivatePostgres(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
