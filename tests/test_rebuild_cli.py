"""`progress-ledger rebuild` as an operator runs it: a process of its own, beside the data."""

from __future__ import annotations

import subprocess
import sys
import threading

from bootstrap import LedgerServices
from tests.conftest import ROOT, settings_environment
from tests.deadlines import DEADLINE
from tests.test_projection import make_history, numbers, project, table_rows


def rebuild(services: LedgerServices, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", "rebuild", *options],
        cwd=ROOT,
        env=settings_environment(services.settings),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )


def test_rebuild_replays_into_a_new_live_generation(services: LedgerServices) -> None:
    make_history(services)
    project(services)
    old = services.generations.live()
    before = {learner: numbers(services, learner) for learner in ("learner-0", "learner-3")}

    finished = rebuild(services, "--progress")  # stderr is a pipe here: the bar is asked for

    assert finished.returncode == 0, finished.stderr
    head = services.ledger.head_position()
    assert f"rebuilding generation {old.number + 1} (units-v1) from position 0 to {head}" in (
        finished.stderr
    )
    assert f"generation {old.number + 1} is live at position {head}" in finished.stderr
    assert f"generation {old.number} is retired" in finished.stderr
    assert f"{head}/{head}" in finished.stderr  # the progress bar reached the end
    assert finished.stdout == ""

    live = services.generations.live()
    assert (live.number, live.position, live.rules) == (old.number + 1, head, old.rules)
    assert services.generations.get(old.number).status == "retired"
    after = {learner: numbers(services, learner) for learner in before}
    assert after == before == {"learner-0": (1, 4, 25.0), "learner-3": (2, 4, 50.0)}
    assert table_rows(services, live.number) == table_rows(services, old.number)


def test_rebuild_beside_a_process_that_keeps_writing(services: LedgerServices) -> None:
    """The API goes on serving during a rebuild: both write, neither may fail on a lock."""
    make_history(services)
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        while not stop.is_set():
            enrolled = services.ledger.enroll(f"late-{len(written)}", "c1")
            services.engine.catch_up(services.generations.live())
            written.append(enrolled.recorded.position)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        finished = rebuild(services)
    finally:
        stop.set()
        writer.join(timeout=DEADLINE)

    assert finished.returncode == 0, finished.stderr
    assert written, "the writer wrote nothing while the rebuild ran"
    live = services.engine.catch_up(services.generations.live())
    assert live.position == services.ledger.head_position()
    replay = services.engine.catch_up(services.generations.create(live.rules))
    assert table_rows(services, live.number) == table_rows(services, replay.number)


def test_rebuild_under_new_rules_changes_the_numbers(services: LedgerServices) -> None:
    make_history(services)
    project(services)

    finished = rebuild(services, "--rules", "required-units-v2")

    assert finished.returncode == 0, finished.stderr
    assert services.generations.live().rules == "required-units-v2"
    # u3 is optional: under required-units-v2 it neither counts nor helps.
    assert numbers(services, "learner-3") == (2, 3, 66.67)


def test_rebuild_refuses_unknown_rules_without_touching_anything(
    services: LedgerServices,
) -> None:
    before = services.generations.all()

    finished = rebuild(services, "--rules", "no-such-rules")

    assert finished.returncode == 2
    assert "invalid choice: 'no-such-rules'" in finished.stderr
    assert services.generations.all() == before
