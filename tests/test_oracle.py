"""The projection engine held to an independent oracle (tests/oracle.py), on both databases.

Random histories — course edits at random places, threshold and unit changes, enrolls,
module and unit completions (unknown, refused and repeated ones too), revocations, resets,
withdrawals and re-enrolls — go through the real
ledger. Each command's outcome (the events it appended, or the error that refused it) must be
the oracle's. The live projector follows the log in the steps the history asks for, keeping
its states between steps as the server's does; at each step, and after a rebuild under every
rule, every row of `course_progress` and `unit_progress` must be the oracle's.

LEDGER_ORACLE_EXAMPLES sets the number of histories (30 by default). They are drawn from a
fixed seed and no example database is kept, so a run is the same everywhere; to hunt with
other histories, LEDGER_ORACLE_SEED=N draws them from another seed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bootstrap import LedgerServices, Settings, bootstrap
from domain.course import Module, Unit
from domain.errors import LedgerError
from projections.engine import Carried
from tests.conftest import drop_schema
from tests.factories import enrollment_id_of
from tests.oracle import RULES, Expected, Oracle, Refused
from tests.oracle_checks import assert_rows_agree, logged_events

EXAMPLES = int(os.environ.get("LEDGER_ORACLE_EXAMPLES", "30"))
SEED = int(os.environ.get("LEDGER_ORACLE_SEED", "0"))
COURSES = ("c0", "c1")
UNIT_IDS = ("u0", "u1", "u2", "u3", "u4", "u5")
MODULE_IDS = ("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7")
LEARNERS = ("ada", "bob", "cy")
# Weights as an API client writes them; each is exact in decimal and in binary.
WEIGHTS = (0.5, 1.0, 1.5, 2.0, 3.0)
STARTED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

Step = tuple[Any, ...]


def unit_specs(unit_ids: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda unit_id, required, weight, modules: {
            "unit_id": unit_id,
            "title": "",
            "required": required,
            "weight": weight,
            "modules": [{"module_id": m, "title": ""} for m in modules],
        },
        unit_ids,
        st.booleans(),
        st.sampled_from(WEIGHTS),
        st.lists(st.sampled_from(MODULE_IDS), max_size=3, unique=True),
    )


def distinct(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Units with ids unique in the course (a later duplicate unit or module is left out)."""
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    for unit in units:
        if unit["unit_id"] in seen:
            continue
        modules = [m for m in unit["modules"] if m["module_id"] not in seen]
        seen |= {unit["unit_id"], *(m["module_id"] for m in modules)}
        kept.append({**unit, "modules": modules})
    return kept


first_units = st.lists(unit_specs(st.sampled_from(UNIT_IDS)), min_size=1, max_size=5).map(distinct)
occurred = st.integers(0, 60 * 24 * 30).map(lambda minutes: STARTED + timedelta(minutes=minutes))
indexes = st.none() | st.integers(-1, 4)
T = TypeVar("T")
ENROLLABLE = [(learner, course) for course in COURSES for learner in LEARNERS]


def mostly(known: Sequence[T], anything: Sequence[T]) -> st.SearchStrategy[T]:
    """Usually something that exists now, sometimes anything (which may not)."""
    if not known:
        return st.sampled_from(anything)
    return st.one_of(*[st.sampled_from(known)] * 3, st.sampled_from(anything))


# The kinds of step, repeated by how often a history holds them: mostly completions. The
# first is what a step shrinks to: a projection, so a shrunk history's filler reads as such.
KINDS = (
    ["project"]
    + ["complete_module"] * 4
    + ["complete_unit"] * 3
    + ["enroll"] * 2
    + ["withdraw", "add_unit", "remove_unit", "add_module", "remove_module"]
    + ["revoke_unit", "revoke_module", "reset", "change_threshold", "change_unit"]
)
THRESHOLDS = (25.0, 50.0, 62.5, 100.0)
ENROLLMENT_STEPS = (
    "complete_module",
    "complete_unit",
    "withdraw",
    "revoke_unit",
    "revoke_module",
    "reset",
)


@st.composite
def next_step(draw: st.DrawFn, oracle: Oracle) -> Step:
    """A step that usually names courses, units, modules and enrollments that exist."""
    kind = draw(st.sampled_from(KINDS))
    if kind == "project":
        return (kind,)
    pairs = [(learner, course) for course, learner in sorted(oracle.enrollments)]
    if kind == "enroll":
        return (kind, *draw(st.sampled_from(ENROLLABLE)))
    if kind in ENROLLMENT_STEPS:
        learner, course = draw(mostly(pairs, ENROLLABLE))
    else:
        course = draw(st.sampled_from(COURSES))
    units = oracle.courses[course]
    unit_ids = [unit.unit_id for unit in units]
    if kind == "complete_module":
        modules = [m for unit in units for m in unit.modules]
        return (kind, learner, course, draw(mostly(modules, MODULE_IDS)), draw(occurred))
    if kind == "complete_unit":
        return (kind, learner, course, draw(mostly(unit_ids, UNIT_IDS)), draw(occurred))
    if kind == "withdraw":
        return (kind, learner, course, draw(occurred))
    # Revocations mostly name what an active learner completed.
    if kind in ("revoke_unit", "revoke_module"):
        done = [
            (enrollment, item)
            for enrollment in oracle.enrollments.values()
            if not enrollment.withdrawn
            for item in (
                enrollment.units_done if kind == "revoke_unit" else enrollment.modules_done
            )
        ]
        named_done = draw(st.integers(0, 3)) > 0
        if done and named_done:
            enrollment, item = draw(
                st.sampled_from(sorted(done, key=lambda d: (d[0].enrollment_id, d[1])))
            )
            return (kind, enrollment.learner_id, enrollment.course_id, item)
        return (kind, learner, course, draw(st.sampled_from(UNIT_IDS + MODULE_IDS)))
    if kind == "reset":
        return (kind, learner, course)
    if kind == "change_threshold":
        return (kind, course, draw(st.sampled_from(THRESHOLDS)))
    if kind == "change_unit":
        unit_id = draw(mostly(unit_ids, UNIT_IDS))
        required = draw(st.none() | st.booleans())
        return (kind, course, unit_id, required, draw(st.none() | st.sampled_from(WEIGHTS)))
    if kind == "add_unit":
        unused = [u for u in UNIT_IDS if u not in unit_ids]
        return (kind, course, draw(unit_specs(mostly(unused, UNIT_IDS))), draw(indexes))
    if kind == "remove_unit":
        return (kind, course, draw(mostly(unit_ids, UNIT_IDS)))
    if kind == "add_module":
        in_course = {m for unit in units for m in unit.modules}
        unused = [m for m in MODULE_IDS if m not in in_course]
        unit_id = draw(mostly(unit_ids, UNIT_IDS))
        return (kind, course, unit_id, draw(mostly(unused, MODULE_IDS)), draw(indexes))
    unit_modules = [(u.unit_id, m) for u in units for m in u.modules]
    every_module = [(u, m) for u in UNIT_IDS for m in MODULE_IDS]
    return (kind, course, *draw(mostly(unit_modules, every_module)))


@contextmanager
def fresh_services(settings: Settings, tmp_path: Path, batch_size: int) -> Iterator[LedgerServices]:
    """An empty database of the same kind as `settings` for one example."""
    name = uuid.uuid4().hex[:12]
    if settings.database_schema:
        fresh = settings.model_copy(
            update={"database_schema": f"test_{name}", "projection_batch_size": batch_size}
        )
    else:
        url = f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
        fresh = settings.model_copy(
            update={"database_url": url, "projection_batch_size": batch_size}
        )
    services = bootstrap(fresh)
    try:
        yield services
    finally:
        services.close()
        if settings.database_schema:
            drop_schema(fresh.database_schema)


class History:
    """One history run through the ledger and the oracle side by side."""

    def __init__(self, services: LedgerServices) -> None:
        self.services = services
        self.ledger = services.ledger
        self.oracle = Oracle()
        self.seen = self.ledger.head_position()
        self.live = services.generations.live()
        self.remembered = Carried()  # as the server's live projector keeps them

    def command(self, step: Step) -> None:
        try:
            expected: list[Expected] | Refused = getattr(self.oracle, step[0])(*oracle_args(step))
        except Refused as refused:
            expected = refused
        try:
            self.run(step)
        except LedgerError as error:
            assert isinstance(expected, Refused), f"{step}: refused ({error!r}), not {expected}"
            assert type(error).__name__ == expected.error, f"{step}: {error!r}"
            assert logged_events(self.ledger, self.seen) == [], f"{step} appended when refused"
            return
        assert not isinstance(expected, Refused), f"{step}: accepted, expected {expected.error}"
        appended = logged_events(self.ledger, self.seen)
        assert [e.kind for e in appended] == [kind for kind, _ in expected], step
        for event, (_, fields) in zip(appended, expected, strict=True):
            assert {k: event.fields[k] for k in fields} == fields, step
            self.oracle.apply(event)
        if appended:
            self.seen = appended[-1].position

    def run(self, step: Step) -> None:
        ledger, (name, *args) = self.ledger, step
        if name == "create_course":
            course, specs = args
            ledger.create_course(course, "", [Unit.from_spec(spec) for spec in specs])
        elif name == "add_unit":
            course, spec, index = args
            ledger.add_unit(course, Unit.from_spec(spec), index)
        elif name == "remove_unit":
            ledger.remove_unit(*args)
        elif name == "add_module":
            course, unit, module, index = args
            ledger.add_module(course, unit, Module(module, ""), index)
        elif name == "remove_module":
            ledger.remove_module(*args)
        elif name == "enroll":
            ledger.enroll(*args)
        elif name == "change_threshold":
            ledger.change_threshold(*args)
        elif name == "change_unit":
            course, unit, required, weight = args
            ledger.change_unit(course, unit, required=required, weight=weight)
        else:
            learner, course, *rest = args
            enrollment = enrollment_id_of(ledger, course, learner)
            if name == "complete_module":
                ledger.complete_module(enrollment, rest[0], rest[1])
            elif name == "complete_unit":
                ledger.complete_unit(enrollment, rest[0], rest[1])
            elif name == "revoke_unit":
                ledger.revoke_unit(enrollment, rest[0])
            elif name == "revoke_module":
                ledger.revoke_module(enrollment, rest[0])
            elif name == "reset":
                ledger.reset(enrollment)
            else:
                ledger.withdraw(enrollment, rest[0])

    def project_live(self, context: str) -> None:
        self.live = self.services.engine.catch_up(self.live, remembered=self.remembered)
        assert self.live.position == self.seen
        assert_rows_agree(self.services.db, self.oracle, self.live.rules, context=context)

    def rebuild_under_every_rule(self) -> None:
        rebuilder = self.services.rebuilds.rebuilder
        for rule in RULES:
            rebuilt = rebuilder.run(rebuilder.begin(rule))
            assert (rebuilt.status, rebuilt.position) == ("live", self.seen)
            assert_rows_agree(self.services.db, self.oracle, rule, context="rebuilt")


def oracle_args(step: Step) -> tuple[Any, ...]:
    name, *args = step
    if name == "add_module":
        course, unit, module, index = args
        return course, unit, {"module_id": module, "title": ""}, index
    return tuple(args)


def test_the_engine_writes_the_oracles_rows(settings: Settings, tmp_path: Path) -> None:
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True)
    @given(st.data())
    @seed(SEED)
    def engine_agrees(data: st.DataObject) -> None:
        batch_size = data.draw(st.sampled_from([20_000, 1, 2, 5]), label="batch size")
        with fresh_services(settings, tmp_path, batch_size) as services:
            run = History(services)
            for course in COURSES:
                run.command(("create_course", course, data.draw(first_units, label=course)))
            first = st.lists(st.sampled_from(ENROLLABLE), min_size=3, max_size=6, unique=True)
            for learner, course in data.draw(first, label="enrolled first"):
                run.command(("enroll", learner, course))
            for number in range(data.draw(st.integers(10, 50), label="steps")):
                step = data.draw(next_step(run.oracle), label=f"step {number}")
                if step[0] == "project":
                    run.project_live(f"after step {number}")
                else:
                    run.command(step)
            run.project_live("at the end")
            run.rebuild_under_every_rule()

    engine_agrees()


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_the_oracle_is_told_apart_from_a_wrong_fold(settings: Settings, tmp_path: Path) -> None:
    """The comparison can fail: a row the engine got wrong is named, column by column."""
    with fresh_services(settings, tmp_path, 20_000) as services:
        run = History(services)
        units = [{"unit_id": "u0", "title": "", "required": True, "weight": 1.0, "modules": []}]
        run.command(("create_course", "c0", units))
        run.command(("enroll", "ada", "c0"))
        run.project_live("enrolled")
        services.ledger.complete_unit(enrollment_id_of(services.ledger, "c0", "ada"), "u0", STARTED)
        services.engine.catch_up(services.generations.live())
        with pytest.raises(AssertionError, match="completed_units"):
            assert_rows_agree(services.db, run.oracle, "units-v1")  # the oracle never saw it


@pytest.mark.xfail(
    strict=True,
    reason="weighted-v1 calls a course complete when its percentage rounds to 100.00, "
    "so an open unit of small enough weight (under 0.005 % of the course) is ignored; "
    "rules are never edited in place, so this wants a new rule and a rebuild",
)
@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
def test_an_open_unit_of_tiny_weight_leaves_the_course_open(
    settings: Settings, tmp_path: Path
) -> None:
    """The API takes weights up to 1,000,000: one unit of that weight done and one of weight
    1 still open is 99.9999 %, shown as 100.00; the oracle says the course is not complete
    (completed_at None), the engine says it is."""
    with fresh_services(settings, tmp_path, 20_000) as services:
        run = History(services)
        heavy = {"unit_id": "u0", "title": "", "required": True, "weight": 1e6, "modules": []}
        light = {"unit_id": "u1", "title": "", "required": True, "weight": 1.0, "modules": []}
        run.command(("create_course", "c0", [heavy, light]))
        run.command(("enroll", "ada", "c0"))
        run.command(("complete_unit", "ada", "c0", "u0", STARTED))
        rebuilder = services.rebuilds.rebuilder
        rebuilder.run(rebuilder.begin("weighted-v1"))
        assert_rows_agree(services.db, run.oracle, "weighted-v1")
