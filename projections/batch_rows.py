"""The rows a folded batch changed, as plain tuples in the tables' column order: a snapshot
the fold can no longer alter, so the next batch can be folded while this one is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from eventstore.database import Database
from projections.fold import Fold, course_key, unit_numbers
from projections.outbox import Signal


@dataclass(frozen=True)
class BatchRows:
    """Rows to upsert, and (`new_*`) rows of enrollments created in the batch, which cannot
    exist yet (an enrollment is created once, and its rows are written only with the
    position past its creation): those are plainly inserted, half the database's work."""

    removed_units: list[tuple[str, str]]
    courses: list[tuple[Any, ...]]
    progress: list[tuple[Any, ...]]
    units: list[tuple[Any, ...]]
    new_progress: list[tuple[Any, ...]] = field(default_factory=list)
    new_units: list[tuple[Any, ...]] = field(default_factory=list)
    # Enrollments of erased learners: every row of theirs is deleted.
    erased: list[str] = field(default_factory=list)
    # What the live projection's webhooks tell (projections/outbox.py), in log order.
    signals: list[Signal] = field(default_factory=list)


def batch_rows(fold: Fold, rules: str, db: Database) -> BatchRows:
    """The rows the fold changed (progress_tables' column orders)."""
    changes, ts, pct = fold.changes, db.timestamp, db.percentage
    course_rows = [
        (
            c.course_id,
            course_key(c.course_id),
            orjson.dumps([u.as_spec() for u in c.units]).decode(),
            ts(c.updated_at),
            c.position,
            c.completion_threshold,
        )
        for c in (fold.courses[course_id] for course_id in sorted(changes.courses))
    ]
    rows = BatchRows(
        list(changes.removed_units),
        course_rows,
        [],
        [],
        erased=sorted(changes.erased),
        signals=fold.signals or [],
    )
    enrolled = changes.enrolled
    for enrollment_id in sorted(changes.enrollments):
        e = fold.enrollments[enrollment_id]
        is_new = enrollment_id in enrolled
        progress = fold.progress(e)
        (rows.new_progress if is_new else rows.progress).append(
            (
                e.enrollment_id,
                e.learner_id,
                e.course_id,
                progress.completed_units,
                progress.total_units,
                pct(progress.percentage),
                ts(e.completed_at),
                ts(e.updated_at),
                e.position,
                rules,
                e.withdrawn,
                ts(e.enrolled_at),
                # orjson writes a datetime as isoformat() does (offsets in minutes).
                orjson.dumps(e.completed_units).decode(),
                orjson.dumps(sorted(e.completed_modules)).decode(),
                progress.exact_percentage,
                e.attempt,
            )
        )
        changed_units = changes.units.get(enrollment_id)
        if not changed_units:
            continue
        unit_rows = rows.new_units if is_new else rows.units
        for unit in fold.courses[e.course_id].units:
            unit_id = unit.unit_id
            if unit_id in changed_units:
                completed, done, total, percentage, completed_at = unit_numbers(unit, e)
                unit_rows.append(
                    (
                        enrollment_id,
                        unit_id,
                        e.learner_id,
                        e.course_id,
                        unit.required,
                        completed,
                        done,
                        total,
                        pct(percentage),
                        ts(completed_at),
                        ts(changed_units[unit_id]),
                    )
                )
    return rows
