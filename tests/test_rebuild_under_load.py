"""Done when: with commands flowing into a real server, a rebuild under required-units-v2
completes and switches with no request failing; every read shows the old rules' numbers or
the new rules' numbers, never a mix, and no reader goes back to the old after seeing the new;
verify passes; and as_of answers match what the live snapshot said at the time.

Nothing here waits for a time: the load runs until each writer has read enough under the old
rules, the rebuild runs until it is live, and the load runs on until each writer has read
enough after that. Every sample is checked, those next to the switch included, against the
oracle (tests/oracle.py) at the sample's own position."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bootstrap import LedgerServices, Settings
from domain.course import Unit
from projections.audit import EventLog, verify
from tests.conftest import ROOT, Server, settings_environment
from tests.deadlines import DEADLINE, wait_until
from tests.oracle import Oracle
from tests.oracle_checks import logged_events

UNITS = ["a", "b", "c", "d"]  # "b" is optional: required-units-v2 leaves it out
OLD, NEW = "units-v1", "required-units-v2"
LEARNERS_PER_WRITER = 15
WRITERS = 2
READS = 15  # reads each writer makes under the old rules, and again after the switch
PAST_LEARNERS = 300
NEXT_TO_THE_SWITCH = 8  # samples each side of a reader's switch that as_of checks


@dataclass(frozen=True, eq=False)  # each sample is itself: a key, however alike two are
class Sample:
    """A progress read right after the learner's latest write (at `position`)."""

    writer: int
    position: int
    started: datetime
    finished: datetime
    learner_id: str
    body: dict[str, Any]


@dataclass
class Load:
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def has_read(self, reads: int, since: datetime | None = None, rules: str = OLD) -> bool:
        """Each writer has made `reads` reads under `rules` (that started after `since`);
        or something failed, which ends the wait as well."""
        counts = [0] * WRITERS
        for sample in list(self.samples):
            if sample.body["rules"] == rules and (since is None or sample.started > since):
                counts[sample.writer] += 1
        return bool(self.failures) or min(counts) >= reads


def learner(writer: int, n: int) -> str:
    return f"w{writer}-learner-{n}"


def write_and_read(server: Server, writer: int, enrollments: dict[str, str], load: Load) -> None:
    """Completes units in a random order and reads each learner's progress after each write.
    Each learner belongs to one writer, so nothing changes a learner between write and read.
    Until stopped: when every learner has finished, the writer enrolls another."""
    rng = random.Random(writer)
    open_units = {name: list(UNITS) for name in enrollments}
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as http:
        while not load.stop.is_set():
            candidates = [name for name, units in open_units.items() if units]
            if not candidates:  # everyone finished: a new learner keeps the commands coming
                name = learner(writer, len(enrollments))
                enrolled = http.post(
                    "/v1/enrollments", json={"learner_id": name, "course_id": "c1"}
                )
                if enrolled.status_code != 201:
                    load.failures.append(f"enroll {enrolled.status_code} {enrolled.text}")
                    return
                enrollments[name] = enrolled.json()["enrollment_id"]
                open_units[name] = list(UNITS)
                candidates = [name]
            name = rng.choice(candidates)
            unit = open_units[name].pop(rng.randrange(len(open_units[name])))
            wrote = http.post(f"/v1/enrollments/{enrollments[name]}/units/{unit}/completion")
            if wrote.status_code != 200:
                load.failures.append(f"write {wrote.status_code} {wrote.text}")
                return
            position = wrote.json()["position"]
            started = datetime.now(UTC)
            read = http.get(
                f"/v1/learners/{name}/courses/c1/progress", params={"min_position": position}
            )
            finished = datetime.now(UTC)
            if read.status_code != 200:
                load.failures.append(f"read {read.status_code} {read.text}")
                return
            load.samples.append(Sample(writer, position, started, finished, name, read.json()))


def rebuild_through_the_api(client: httpx.Client) -> None:
    started = client.post("/v1/projections/course_progress/rebuilds", json={"rules": NEW})
    assert started.status_code == 202
    rebuild = f"/v1/projections/course_progress/rebuilds/{started.json()['generation']}"
    wait_until(lambda: client.get(rebuild).json()["status"] == "live", "the rebuild to switch")


def rebuild_through_the_cli(settings: Settings) -> None:
    rebuilt = subprocess.run(
        [sys.executable, "-m", "cli.progress_ledger", "rebuild", "--rules", NEW],
        cwd=ROOT,
        env=settings_environment(settings),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr


@pytest.mark.parametrize("started_by", ["api", "cli"])
def test_a_rebuild_under_load_switches_without_a_failed_request(
    started_by: str,
    settings: Settings,
    services: LedgerServices,
    server: Server,
    client: httpx.Client,
) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", [Unit(u, required=u != "b") for u in UNITS])
    enrollments: list[dict[str, str]] = []
    for writer in range(WRITERS):
        mine = {}
        for n in range(LEARNERS_PER_WRITER):
            name = learner(writer, n)
            mine[name] = str(ledger.enroll(name, "c1").enrollment.id)
        enrollments.append(mine)
    for n in range(PAST_LEARNERS):  # history for the rebuild to replay, beside the live ones
        enrollment = ledger.enroll(f"past-{n}", "c1").enrollment.id
        for unit in UNITS[: n % 5]:
            ledger.complete_unit(enrollment, unit)

    load = Load()
    writers = [
        threading.Thread(target=write_and_read, args=(server, w, enrollments[w], load))
        for w in range(WRITERS)
    ]
    for thread in writers:
        thread.start()
    try:
        wait_until(lambda: load.has_read(READS), "reads under the old rules")
        if started_by == "api":
            rebuild_through_the_api(client)
        else:
            rebuild_through_the_cli(settings)
        seen_live = datetime.now(UTC)
        wait_until(
            lambda: load.has_read(READS, since=seen_live, rules=NEW), "reads after the switch"
        )
    finally:
        load.stop.set()
        for thread in writers:
            thread.join(timeout=DEADLINE)

    assert load.failures == []
    generations = client.get("/v1/projections").json()["generations"]
    assert [(g["rules"], g["status"]) for g in generations] == [(OLD, "retired"), (NEW, "live")]
    switched_at = datetime.fromisoformat(generations[1]["switched_at"])

    # Every sample shows one rules' numbers at its own position, never a mix.
    expected = oracle_at_each_sample(services, load.samples)
    for sample in load.samples:
        assert sample.body["projection_position"] >= sample.position
        assert numbers(sample.body) == expected[sample], sample
    # No reader goes back to the old rules once it has read the new ones.
    for writer in range(WRITERS):
        rules = [s.body["rules"] for s in load.samples if s.writer == writer]
        assert rules == sorted(rules, key=[OLD, NEW].index), rules
    assert all(s.body["rules"] == OLD for s in load.samples if s.finished < switched_at)
    assert all(s.body["rules"] == NEW for s in load.samples if s.started > seen_live)

    log = EventLog(ledger.recorder, ledger.mapper, services.db)
    checked = verify(log, services.generations)
    assert (checked.generation.rules, checked.mismatches) == (NEW, [])
    assert checked.checked == PAST_LEARNERS + sum(len(mine) for mine in enrollments)

    for sample, instant in as_of_instants(services, load.samples, switched_at):
        replayed = client.get(
            f"/v1/learners/{sample.learner_id}/courses/c1/progress",
            params={"as_of": instant.isoformat()},
        ).json()
        assert numbers(replayed) == numbers(sample.body), (sample, instant)


def oracle_at_each_sample(
    services: LedgerServices, samples: list[Sample]
) -> dict[Sample, tuple[Any, ...]]:
    """What each sample should show: the oracle's numbers for its learner under the sample's
    rules, with the log replayed up to the sample's write."""
    expected = {}
    oracle = Oracle()
    events = iter(logged_events(services.ledger))
    pending = next(events, None)
    for sample in sorted(samples, key=lambda s: s.position):
        while pending is not None and pending.position <= sample.position:
            oracle.apply(pending)
            pending = next(events, None)
        row, units = oracle.learner_progress("c1", sample.learner_id, sample.body["rules"])
        expected[sample] = (
            row["rules"],
            row["completed_units"],
            row["total_units"],
            row["percentage"],
            row["completed_at"],
            [unit["completed"] for unit in units],
        )
    return expected


def as_of_instants(
    services: LedgerServices, samples: list[Sample], switched_at: datetime
) -> list[tuple[Sample, datetime]]:
    """Instants at which `as_of` must answer what a sample showed: the samples each reader
    made next to its switch from the old rules to the new, and a spread of the others.

    `as_of` takes the rules live at an instant from `switched_at`, which the switch records
    a moment before it commits; a sample read under the old rules after `switched_at` is
    asked about an instant just before it instead (its learner's write is then its state),
    unless that write itself was recorded after `switched_at`: then no instant has both."""
    written_at = {e.position: e.fields["timestamp"] for e in logged_events(services.ledger)}
    chosen = samples[:: max(1, len(samples) // 30)]
    for writer in range(WRITERS):
        mine = [s for s in samples if s.writer == writer]
        first_new = next(n for n, s in enumerate(mine) if s.body["rules"] == NEW)
        chosen += mine[max(0, first_new - NEXT_TO_THE_SWITCH) : first_new + NEXT_TO_THE_SWITCH]
    instants = []
    for sample in dict.fromkeys(chosen):
        instant = sample.finished
        if sample.body["rules"] == OLD and instant >= switched_at:
            instant = switched_at - timedelta(microseconds=1)
            if written_at[sample.position] > instant:
                continue
        instants.append((sample, instant))
    return instants


def numbers(body: dict[str, Any]) -> tuple[Any, ...]:
    completed_at = body["completed_at"] and datetime.fromisoformat(body["completed_at"])
    return (
        body["rules"],
        body["completed_units"],
        body["total_units"],
        body["percentage"],
        completed_at,
        [u["completed"] for u in body["units"]],
    )
