"""Servers and CLI processes for the tests, forked from one interpreter that has already
imported the app.

A new interpreter spends most of a server's start importing FastAPI, pydantic, psycopg and
the app, and the suite starts some ninety servers, projectors and rebuilds. A
multiprocessing forkserver imports them once; each process is a fork of it that runs the
CLI's own entry point (`cli.progress_ledger.main([...])`) with its own environment, working
directory and log: a real `progress-ledger serve` (uvicorn and all), `project` or `rebuild`
process, without the imports.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

FORKS = multiprocessing.get_context("forkserver")
FORKS.set_forkserver_preload(["cli.progress_ledger", "api.main"])
NAME = "progress-ledger"


def run_cli(argv: list[str], env: dict[str, str], cwd: str, log_path: str) -> None:
    """The forked child: stdin from /dev/null and stdout and stderr to the log, on the
    descriptors a process started from a shell has (uvicorn hands fd 0 on to its workers),
    the environment replaced, then the CLI as `progress-ledger ARGV` would run it."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    for opened, fd in ((devnull, 0), (log, 1), (log, 2)):  # 1 and 2 share one offset
        if opened != fd:
            os.dup2(opened, fd)
    for opened in {devnull, log} - {0, 1, 2}:
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (the process's stdin, for its life)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    from cli.progress_ledger import main

    sys.exit(main(argv))


class ForkedProcess:
    """What the tests ask of a CLI process (Popen's poll, wait, terminate, kill, pid), for a
    forked one."""

    def __init__(
        self, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path, *, append: bool
    ) -> None:
        # Not a daemon: a daemonic process may not start children, and uvicorn's workers
        # are children of the server. tests/conftest.py stops any left at the session's end.
        # The log exists (emptied unless `append`) when this returns, as with Popen.
        log_path.open("ab" if append else "wb").close()
        self._process = FORKS.Process(
            target=run_cli, args=(argv, env, str(cwd), str(log_path)), name=NAME
        )
        self._process.start()
        assert self._process.pid is not None
        self.pid: int = self._process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(f"server {self.pid}", timeout or 0)
        return code

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


def stop_every_process() -> None:
    """Kills the processes a failed test may have left, so the interpreter can exit."""
    for child in multiprocessing.active_children():
        if child.name == NAME:
            child.kill()
            child.join()
