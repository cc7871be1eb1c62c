"""The engine's rows beside the oracle's (tests/oracle.py): the log read through the library's
public calls, the rows read from the live views (or one generation's tables), and one
assertion that names every row that differs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from bootstrap import LedgerServices
from eventstore.database import Database
from ledger.application import ProgressLedger
from projections.progress_tables import GenerationTables
from tests.oracle import LoggedEvent, Oracle, Row

PAGE = 500


def logged_events(ledger: ProgressLedger, after: int = 0) -> list[LoggedEvent]:
    """Every event after a position, decoded by the library's own mapper."""
    events: list[LoggedEvent] = []
    start = after + 1
    while page := ledger.recorder.select_notifications(start=start, limit=PAGE):
        for notification in page:
            event = ledger.mapper.to_domain_event(notification)
            fields = dict(vars(event))
            events.append(
                LoggedEvent(
                    type(event).__qualname__, str(event.originator_id), notification.id, fields
                )
            )
        start = page[-1].id + 1
    return events


def oracle_of_log(ledger: ProgressLedger) -> Oracle:
    return Oracle().apply_all(logged_events(ledger))


def projected_rows(
    db: Database, generation: int | None = None
) -> tuple[dict[str, Row], dict[tuple[str, str], Row]]:
    """(course_progress by enrollment, unit_progress by enrollment and unit), as the live
    views show them, or as one generation's tables hold them."""
    if generation is None:
        course_table, unit_table = db.table("course_progress"), db.table("unit_progress")
    else:
        tables = GenerationTables(db, generation)
        course_table, unit_table = tables.course_progress, tables.unit_progress
    with db.transaction(commit=False) as cursor:
        cursor.execute(f"SELECT * FROM {course_table}")
        courses = [course_row(db, row) for row in cursor.fetchall()]
        cursor.execute(f"SELECT * FROM {unit_table}")
        units = [unit_row(db, row) for row in cursor.fetchall()]
    return (
        {row["enrollment_id"]: row for row in courses},
        {(row["enrollment_id"], row["unit_id"]): row for row in units},
    )


def course_row(db: Database, row: Any) -> Row:
    completed_units = json_value(row["completed_unit_ids"])
    return {
        "enrollment_id": row["enrollment_id"],
        "learner_id": row["learner_id"],
        "course_id": row["course_id"],
        "completed_units": int(row["completed_units"]),
        "total_units": int(row["total_units"]),
        "percentage": float(row["percentage"]),
        "completed_at": db.read_timestamp(row["completed_at"]),
        "updated_at": db.read_timestamp(row["updated_at"]),
        "position": int(row["position"]),
        "rules": row["rules"],
        "withdrawn": bool(row["withdrawn"]),
        "enrolled_at": db.read_timestamp(row["enrolled_at"]),
        "completed_unit_ids": {
            unit_id: datetime.fromisoformat(at) for unit_id, at in completed_units.items()
        },
        "attempt": int(row["attempt"]),
        "completed_module_ids": json_value(row["completed_module_ids"]),
    }


def unit_row(db: Database, row: Any) -> Row:
    return {
        "enrollment_id": row["enrollment_id"],
        "unit_id": row["unit_id"],
        "learner_id": row["learner_id"],
        "course_id": row["course_id"],
        "required": bool(row["required"]),
        "completed": bool(row["completed"]),
        "completed_modules": int(row["completed_modules"]),
        "total_modules": int(row["total_modules"]),
        "percentage": float(row["percentage"]),
        "completed_at": db.read_timestamp(row["completed_at"]),
        "updated_at": db.read_timestamp(row["updated_at"]),
    }


def json_value(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def differences(engine: dict[Any, Row], oracle: dict[Any, Row]) -> list[str]:
    """One line per row that is missing, extra, or differs (naming the columns)."""
    lines = []
    for key in sorted(engine.keys() | oracle.keys()):
        ours, theirs = engine.get(key), oracle.get(key)
        if ours == theirs:
            continue
        either = ours or theirs or {}
        name = f"{key} ({either.get('learner_id')} in {either.get('course_id')})"
        if ours is None or theirs is None:
            lines.append(f"{name}: engine {ours}, oracle {theirs}")
            continue
        changed = {c: (ours[c], theirs[c]) for c in theirs if ours.get(c) != theirs[c]}
        lines.append(f"{name}: (engine, oracle) {changed}")
    return lines


def assert_rows_agree(
    db: Database, oracle: Oracle, rule: str, generation: int | None = None, context: str = ""
) -> None:
    """The rows in the views (or a generation) are exactly those the oracle makes under
    `rule`: every column, every row, none missing, none extra."""
    courses, units = projected_rows(db, generation)
    wrong = differences(courses, oracle.course_progress(rule))
    wrong += differences(units, oracle.unit_progress())
    assert not wrong, f"{context} rules {rule}:\n" + "\n".join(wrong)


def assert_engine_agrees_with_oracle(
    services: LedgerServices, generation: int | None = None
) -> None:
    """The live generation (or the one named) against the oracle's replay of the whole log.
    The generation must have projected the whole log."""
    number = generation or services.generations.live().number
    projected = services.generations.get(number)
    assert projected.position == services.ledger.head_position()
    assert_rows_agree(services.db, oracle_of_log(services.ledger), projected.rules, generation)
