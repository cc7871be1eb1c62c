"""The webhook outbox on both databases: exactly one row per event and subscription through
crashes mid-batch, in one statement or a transaction, and none from a rebuild."""

from __future__ import annotations

from typing import Any

from bootstrap import LedgerServices
from projections.engine import ProjectionEngine
from projections.fold import Fold
from projections.outbox import EVENT_TYPES, OUTBOX
from projections.rebuilds import Rebuilder
from projections.rules import rule_named
from tests.test_projection import CrashingWrites, SimulatedCrash, make_history
from webhooks.subscriptions import Subscriptions, new_secret


def outbox_rows(services: LedgerServices) -> list[tuple[Any, ...]]:
    with services.db.transaction(commit=False) as cursor:
        cursor.execute(
            f"SELECT subscription_id, position, event_type, enrollment_id "
            f"FROM {services.db.table(OUTBOX)} ORDER BY delivery_id"
        )
        return [tuple(row.values()) for row in cursor.fetchall()]


def signals_of_a_clean_fold(services: LedgerServices) -> list[tuple[int, str, str]]:
    """What one fold of the whole log, in memory, notes."""
    records, _ = services.engine.reader.read(1, 100_000)
    signals: list[Any] = []
    Fold(rule_named(services.generations.live().rules), {}, {}, set(), signals).apply_records(
        records
    )
    return [(position, kind, enrollment) for position, kind, enrollment, _, _ in signals]


def test_one_row_per_event_and_subscription_through_crashes(services: LedgerServices) -> None:
    subscriptions = Subscriptions(services.db)
    everything = subscriptions.create("http://127.0.0.1:9/a", list(EVENT_TYPES), new_secret())
    progressed = subscriptions.create("http://127.0.0.1:9/b", ["course.progressed"], new_secret())
    make_history(services)
    head = services.ledger.head_position()
    engine = ProjectionEngine(
        services.ledger.recorder,
        services.ledger.mapper,
        services.generations,
        writes=CrashingWrites(services.db),
        batch_size=7,
    )
    live = services.generations.live()
    crashes = 0
    while live.position < head:
        try:
            engine.catch_up(live)
        except SimulatedCrash:
            crashes += 1
        live = services.generations.live()
    assert crashes >= 2

    expected = signals_of_a_clean_fold(services)
    assert {kind for _, kind, _ in expected} >= {"unit.completed", "course.progressed"}
    rows = outbox_rows(services)
    assert sorted(rows) == sorted(
        [(everything.subscription_id, *s) for s in expected]
        + [(progressed.subscription_id, *s) for s in expected if s[1] == "course.progressed"]
    )
    mine = [r[1:] for r in rows if r[0] == everything.subscription_id]
    # In log order (a course change's rows for its enrollments share its position).
    assert [r[0] for r in mine] == [s[0] for s in expected]


def test_the_live_one_statement_path_and_a_rebuild(services: LedgerServices) -> None:
    webhook = Subscriptions(services.db).create(
        "http://127.0.0.1:9/", list(EVENT_TYPES), new_secret()
    )
    make_history(services)
    services.engine.catch_up(services.generations.live(), remembered=None)
    written = outbox_rows(services)
    assert sorted(r[1:] for r in written) == sorted(signals_of_a_clean_fold(services))
    assert [r[1] for r in written] == sorted(r[1] for r in written)
    assert {r[0] for r in written} == {webhook.subscription_id}

    rebuilder = Rebuilder(services.engine)
    rebuilt = rebuilder.run(rebuilder.begin(services.generations.live().rules))
    assert rebuilt.status == "live"
    assert outbox_rows(services) == written  # a rebuild sends nothing
