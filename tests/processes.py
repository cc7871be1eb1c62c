"""Helpers for tests that run `progress-ledger project|rebuild` as processes of their own."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from bootstrap import Settings
from tests import deadlines
from tests.conftest import ROOT, needs_a_process, settings_environment
from tests.deadlines import DEADLINE
from tests.forked_processes import ForkedProcess


def start_cli(
    settings: Settings, log_path: Path, *args: str, extra_env: dict[str, str] | None = None
) -> ForkedProcess:
    """`progress-ledger ARGS` as a process of its own (forked: see forked_processes.py), its
    output added to the log."""
    needs_a_process()
    env = {**settings_environment(settings), **(extra_env or {})}
    return ForkedProcess(list(args), env, ROOT, log_path, append=True)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """`deadlines.wait_until` for callers written before it: `timeout` (their own bound) is
    no longer used; every wait is bounded by the one DEADLINE."""
    deadlines.wait_until(condition, what)


def stop(process: ForkedProcess) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
