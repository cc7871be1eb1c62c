"""Helpers for tests that run `progress-ledger project|rebuild` as processes of their own."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bootstrap import Settings
from tests import deadlines
from tests.conftest import ROOT, needs_a_process, settings_environment
from tests.deadlines import DEADLINE


def start_cli(
    settings: Settings, log_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    needs_a_process()
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
    """`deadlines.wait_until` for callers written before it: `timeout` (their own bound) is
    no longer used; every wait is bounded by the one DEADLINE."""
    deadlines.wait_until(condition, what)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
