"""The processes under test: uvicorn servers and the projector, each on its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bootstrap import Settings

ROOT = Path(__file__).resolve().parent.parent


def environment(settings: Settings, *, embedded_projection: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        LEDGER_DATABASE_URL=settings.database_url,
        LEDGER_DATABASE_SCHEMA=settings.database_schema,
        LEDGER_EMBEDDED_PROJECTION=str(embedded_projection).lower(),
        LEDGER_DATABASE_POOL_SIZE="16",
        LEDGER_WORKERS=str(settings.workers),
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found + [grandchild for child in found for grandchild in children(child)]


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log = log.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def cpu_seconds(self) -> float:
        """CPU time the process and its live children (uvicorn's workers) have used so far
        (user + system), from /proc."""
        ticks = 0
        for pid in [self.popen.pid, *children(self.popen.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()


class Server(Process):
    """uvicorn on loopback, no access log (as a production server runs), with as many
    worker processes as LEDGER_WORKERS in `env` says (one by default), whatever the app."""

    def __init__(
        self, app: str, env: dict[str, str], log: Path, ready_path: str, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--workers",
                env.get("LEDGER_WORKERS", "1"),
            ],
            env,
            log,
        )
        self._wait_until_up(ready_path)

    def _wait_until_up(self, path: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}{path}", timeout=1).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()}")


def projector(settings: Settings, log: Path) -> Process:
    return Process(
        ["-m", "cli.progress_ledger", "project"],
        environment(settings, embedded_projection=False),
        log,
    )
