"""Where the worker processes of one server keep their metrics (prometheus-client's
multiprocess mode): a fresh directory per server, named by PROMETHEUS_MULTIPROC_DIR.

prometheus-client chooses its mode when it is first imported, from that variable, so it is
set before the workers start (they are spawned: new interpreters that inherit it). Every
worker writes its counters to files of its own there; a scrape, in whichever worker, adds
them up. A dead worker's counters stay (what it counted did happen); its gauges of the
moment are removed (`forget_dead_workers`), or they would be added to the living ones'.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import multiprocess

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# prometheus-client's files: `{kind}_{pid}.db`, and `gauge_{mode}_{pid}.db` for gauges.
WORKER_FILE = re.compile(r"_(\d+)\.db$")


def multiprocess_directory() -> Path | None:
    """The directory this process shares with the other workers; None when it is alone."""
    named = os.environ.get(MULTIPROCESS_VARIABLE)
    return Path(named) if named and Path(named).is_dir() else None


@contextmanager
def workers_metrics_directory(workers: int) -> Iterator[Path | None]:
    """For a server of several workers: a new, empty directory named in the environment
    that the workers inherit, removed when the server stops. One worker needs none."""
    if workers <= 1:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="progress-ledger-metrics-"))
    previous = os.environ.get(MULTIPROCESS_VARIABLE)
    os.environ[MULTIPROCESS_VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_VARIABLE] = previous
        shutil.rmtree(directory, ignore_errors=True)


def forget_dead_workers(directory: Path) -> list[int]:
    """Removes the gauges of workers that are gone (a worker the server restarted after a
    crash); returns their process ids."""
    dead = set()
    for file in os.listdir(directory):
        found = WORKER_FILE.search(file)
        if found and not is_alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
    return sorted(dead)


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: the id was reused, ours is gone
        return False
    return True
