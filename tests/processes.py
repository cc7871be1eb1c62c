"""Helpers for tests that run `progress-ledger project|rebuild` as processes of their own."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bootstrap import Settings
from tests.conftest import ROOT, settings_environment


def start_cli(
    settings: Settings, log_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {**settings_environment(settings), **(extra_env or {})}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "cli.progress_ledger", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
