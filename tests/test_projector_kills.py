"""The projector SIGKILLed at random points, many times, while commands keep coming; and a
rebuild killed the same way. After a restart every row is the oracle's (tests/oracle.py):
nothing skipped, nothing counted twice. Kill points are picked by position, not by time."""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from bootstrap import LedgerServices, Settings, bootstrap
from domain.course import Module, Unit
from tests.deadlines import POLL, wait_until
from tests.factories import four_unit_course
from tests.forked_processes import ForkedProcess
from tests.oracle_checks import assert_engine_agrees_with_oracle
from tests.processes import start_cli, stop

KILLS = 8
SMALL_BATCHES = {"LEDGER_PROJECTION_BATCH_SIZE": "13"}
TINY_BATCHES = {"LEDGER_PROJECTION_BATCH_SIZE": "3"}
LAG = 300  # events the load may run ahead of the projection


class Load:
    """Commands from a background thread: enrolls, completions and structure changes.

    It keeps at most `lag` events ahead of the live projection (none when not given), so the
    projector always has work and a kill always lands in it, while the log stays as short as
    the run: catching up afterwards takes as long on a loaded machine as on a quiet one."""

    def __init__(self, services: LedgerServices, first: int = 0, lag: int | None = None) -> None:
        self.services = services
        self.ledger = services.ledger
        if first == 0:
            self.ledger.create_course("c1", "Course", four_unit_course())
        self.first = first
        self.lag = lag
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
            if self.lag is not None and self.ahead() > self.lag:
                self.stopped.wait(POLL)
                continue
            self.burst(n, rng)
            n += 1

    def ahead(self) -> int:
        return self.ledger.head_position() - self.services.generations.live().position

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


def kill_at_a_random_point(
    process: ForkedProcess,
    progress: Callable[[], tuple[int, int]],
    rng: random.Random,
    most_events: int,
) -> tuple[int, int]:
    """Kills the process once it has committed work, and then up to `most_events` more
    events (a random number of them): a point picked by position, not by the clock. Returns
    the (generation, position) it had reached."""
    before = progress()
    wait_until(lambda: progress() > before or process.poll() is not None, "the first batch")
    number, position = progress()
    target = (number, position + rng.randint(0, most_events))
    wait_until(lambda: progress() >= target or process.poll() is not None, "a kill point")
    process.kill()
    process.wait()
    return progress()


@pytest.mark.slow
def test_a_projector_killed_mid_batch_resumes_exactly(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"embedded_projection": False})
    services = bootstrap(settings)
    rng = random.Random(7)
    log = tmp_path / "projector.log"
    positions = []

    def live() -> tuple[int, int]:
        return 0, services.generations.live().position

    try:
        with Load(services, lag=LAG):
            for _ in range(KILLS):
                projector = start_cli(settings, log, "project", extra_env=SMALL_BATCHES)
                positions.append(kill_at_a_random_point(projector, live, rng, 3 * 13)[1])
        head = services.ledger.head_position()
        projector = start_cli(settings, log, "project", extra_env=SMALL_BATCHES)
        try:
            wait_until(lambda: services.generations.live().position == head, "catch up")
        finally:
            stop(projector)
        # The kills landed while it was projecting, not only while it started up.
        assert len(set(positions)) > KILLS // 2, positions
        assert_engine_agrees_with_oracle(services)
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
    rebuild = ("rebuild", "--rules", "required-units-v2")
    try:
        history = Load(services)
        for n in range(250):
            history.burst(n, rng)
        with Load(services, first=250):
            seen: list[tuple[int, int]] = []
            for _ in range(KILLS // 2):
                rebuilding = start_cli(settings, log, *rebuild, extra_env=TINY_BATCHES)
                progress = functools.partial(rebuild_progress, services)
                seen.append(kill_at_a_random_point(rebuilding, progress, rng, 40 * 3))
        # Each new `rebuild` resumed the killed generation where its last batch committed:
        # the same generation, its position only ever moving on (a rare kill after the
        # switch leaves it live, and the next run starts a new generation).
        assert seen == sorted(seen), seen
        assert len({number for number, _ in seen}) < len(seen), seen
        building = [g for g in services.generations.all() if g.status == "building"]
        for generation in building:
            resumed = services.engine.catch_up(generation)
            assert_engine_agrees_with_oracle(services, resumed.number)
    finally:
        services.close()
