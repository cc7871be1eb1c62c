"""A PostgreSQL cluster of the soak's own (initdb/pg_ctl on a free port, in a directory of its
own), so the soak may crash and restart it without touching the shared server.

tests/private_postgres.py does the same for the tests, as a pytest fixture; this one has no
pytest in it, and keeps fsync on: the soak checks durability, so PostgreSQL runs as it
would in production."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.servers import free_port


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [
        path for path in [shutil.which("initdb")] if path
    ]
    if not found:
        raise RuntimeError("the soak needs PostgreSQL's server binaries (initdb, pg_ctl)")
    return Path(found[-1]).parent


class PrivateCluster:
    def __init__(self) -> None:
        self.bin_dir = postgres_bin()
        self.port = free_port()
        # initdb refuses root: as root it runs as the postgres user, in a directory of its own.
        self.home = Path(tempfile.mkdtemp(prefix="ledger-soak-pg-"))
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
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def crash(self) -> None:
        """An immediate stop: connections are cut and the next start recovers from the WAL,
        as after a failure."""
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
        subprocess.run(self._command(program, *args), capture_output=True, check=True, timeout=120)
