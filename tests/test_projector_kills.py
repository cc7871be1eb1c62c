"""The projector SIGKILLed at random points, many times, while commands keep coming; and a
rebuild killed the same way. After a restart the snapshots equal a fresh replay: nothing
skipped, nothing counted twice."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from bootstrap import LedgerServices, Settings, bootstrap
from domain.course import Module, Unit
from tests.factories import four_unit_course
from tests.processes import start_cli, stop, wait_until
from tests.test_projection import table_rows

KILLS = 8
SMALL_BATCHES = {"LEDGER_PROJECTION_BATCH_SIZE": "13"}
TINY_BATCHES = {"LEDGER_PROJECTION_BATCH_SIZE": "3"}


class Load:
    """Commands from a background thread: enrolls, completions and structure changes."""

    def __init__(self, services: LedgerServices, first: int = 0) -> None:
        self.ledger = services.ledger
        if first == 0:
            self.ledger.create_course("c1", "Course", four_unit_course())
        self.first = first
        self.stopped = threading.Event()
        self.commands = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join()

    def run(self) -> None:
        rng = random.Random(5)
        n = self.first
        while not self.stopped.is_set():
            self.burst(n, rng)
            n += 1

    def burst(self, n: int, rng: random.Random) -> None:
        ledger = self.ledger
        enrollment = ledger.enroll(f"learner-{n}", "c1").enrollment.id
        ledger.complete_module(enrollment, "m1")
        ledger.complete_unit(enrollment, rng.choice(["u2", "u3", "u4"]))
        if rng.random() < 0.5:
            ledger.complete_module(enrollment, "m2")
        if n % 25 == 7:
            ledger.add_unit("c1", Unit(f"extra-{n}", modules=(Module(f"xm-{n}"),)))
        if n % 25 == 19:
            ledger.remove_unit("c1", f"extra-{n - 12}")
        if n % 10 == 3:
            ledger.withdraw(enrollment)
        self.commands += 5


def replay_equals(services: LedgerServices, generation: int) -> None:
    rules = services.generations.get(generation).rules
    replay = services.engine.catch_up(services.generations.create(rules))
    assert replay.position == services.generations.get(generation).position
    assert table_rows(services, generation) == table_rows(services, replay.number)


@pytest.mark.slow
def test_a_projector_killed_mid_batch_resumes_exactly(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"embedded_projection": False})
    services = bootstrap(settings)
    rng = random.Random(7)
    log = tmp_path / "projector.log"
    positions = []
    try:
        with Load(services):
            for _ in range(KILLS):
                before = services.generations.live().position
                projector = start_cli(settings, log, "project", extra_env=SMALL_BATCHES)
                wait_until(
                    lambda: services.generations.live().position > before,  # noqa: B023
                    60,
                    "the projector to be at work",
                )
                time.sleep(rng.uniform(0.0, 0.3))
                projector.kill()
                projector.wait()
                positions.append(services.generations.live().position)
        head = services.ledger.head_position()
        projector = start_cli(settings, log, "project", extra_env=SMALL_BATCHES)
        try:
            wait_until(lambda: services.generations.live().position == head, 60, "catch up")
        finally:
            stop(projector)
        # The kills landed while it was projecting, not only while it started up.
        assert len(set(positions)) > KILLS // 2, positions
        replay_equals(services, services.generations.live().number)
    finally:
        services.close()


def rebuild_progress(services: LedgerServices) -> tuple[int, int]:
    """(generation, position) of the newest generation being rebuilt, or of the live one."""
    newest = max(
        (g for g in services.generations.all() if g.status in ("building", "live")),
        key=lambda g: g.number,
    )
    return newest.number, newest.position


@pytest.mark.slow
def test_a_rebuild_killed_at_random_points_resumes_exactly(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"embedded_projection": False})
    services = bootstrap(settings)
    rng = random.Random(11)
    log = tmp_path / "rebuild.log"
    try:
        history = Load(services)
        for n in range(250):
            history.burst(n, rng)
        with Load(services, first=250):
            seen: list[tuple[int, int]] = []
            for _ in range(KILLS // 2):
                before = rebuild_progress(services)
                rebuild = start_cli(settings, log, "rebuild", extra_env=TINY_BATCHES)
                wait_until(
                    lambda: rebuild_progress(services) > before,  # noqa: B023
                    60,
                    "the rebuild to make progress",
                )
                time.sleep(rng.uniform(0.0, 0.25))
                rebuild.kill()
                rebuild.wait()
                seen.append(rebuild_progress(services))
        # Each new `rebuild` resumed the killed generation where its last batch committed:
        # the same generation, its position only ever moving on (a rare kill after the
        # switch leaves it live, and the next run starts a new generation).
        assert seen == sorted(seen), seen
        assert len({number for number, _ in seen}) < len(seen), seen
        building = [g for g in services.generations.all() if g.status == "building"]
        for generation in building:
            resumed = services.engine.catch_up(generation)
            replay_equals(services, resumed.number)
    finally:
        services.close()
