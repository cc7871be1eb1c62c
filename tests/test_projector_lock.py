"""Two projector processes started by mistake: one projects, the other waits and takes over
when the first dies (SIGKILL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import Settings, bootstrap
from tests.factories import four_unit_course
from tests.processes import start_cli, stop, wait_until
from tests.progress_reading import progress_of

ACQUIRED = "acquired: this process projects"
WAITING = "is held by another process: waiting"


@pytest.mark.postgres
def test_only_one_projector_projects_and_the_other_takes_over(
    postgres_settings: Settings, tmp_path: Path
) -> None:
    services = bootstrap(postgres_settings)
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    for n in range(20):
        ledger.complete_unit(ledger.enroll(f"learner-{n}", "c1").enrollment.id, "u2")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = start_cli(postgres_settings, logs[0], "project")
    second = None
    try:
        wait_until(lambda: ACQUIRED in logs[0].read_text(), 30, "the first projector")
        second = start_cli(postgres_settings, logs[1], "project")
        wait_until(lambda: WAITING in logs[1].read_text(), 30, "the second projector to wait")
        head = ledger.head_position()
        wait_until(lambda: services.generations.live().position == head, 30, "projection")
        ledger.complete_unit(ledger.enroll("late", "c1").enrollment.id, "u4")
        head = ledger.head_position()
        wait_until(lambda: services.generations.live().position == head, 30, "projection")
        assert ACQUIRED not in logs[1].read_text()

        first.kill()  # SIGKILL: PostgreSQL frees the lock with the dead session
        first.wait()
        ledger.complete_unit(ledger.enroll("after", "c1").enrollment.id, "u4")
        head = ledger.head_position()
        wait_until(lambda: ACQUIRED in logs[1].read_text(), 30, "the second to take over")
        wait_until(lambda: services.generations.live().position == head, 30, "projection")
        assert progress_of(services, "after", "c1")["completed_units"] == 1
    finally:
        stop(first)
        if second is not None:
            stop(second)
        services.close()
