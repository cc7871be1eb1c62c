"""`progress-ledger migrate`: a log written before learners had keys (learner ids in clear,
uuid5 enrollment ids) is copied into a new store, resumably, and reads the same there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Mapper

from bootstrap import LedgerServices, Settings
from bootstrap.legacy_migration import migrate, source_name
from cli.operations import event_log
from domain.course import Course
from domain.enrollment import Enrollment
from domain.identifiers import legacy_enrollment_id
from eventstore.environment import library_environment
from eventstore.migration_progress import MigrationProgress
from eventstore.startup import create_schema
from ledger.application import ProgressLedger
from ledger.migration import LegacyMigration, MigrationRefused
from projections.audit import verify
from tests.conftest import POSTGRES_URL, drop_schema, needs_a_process
from tests.factories import four_unit_course, new_id
from tests.test_erasure import cli

# Long enough that random ciphertext cannot hold one by chance (a 2-letter id turned up in a
# sealed field's base64 now and then, and failed the search for it below).
LEARNERS = ("Ada@Example.org", "bob.migrated@example.org", "cy-withdrawn@example.org")
WITHDRAWN = LEARNERS[2]
WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def old_store(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """An old database beside the target: another SQLite file, or another schema."""
    if settings.database_url.startswith("sqlite"):
        yield Settings(database_url=f"sqlite:///{tmp_path / 'old.sqlite3'}")
        return
    old = Settings(database_url=POSTGRES_URL, database_schema=f"test_{uuid.uuid4().hex[:12]}")
    create_schema(old.store_options())
    yield old
    drop_schema(old.database_schema)


def write_old_log(old: Settings, course_id: str) -> int:
    """The log as the ledger wrote it before erasure existed; returns its event count."""
    ledger = ProgressLedger(env=library_environment(old.store_options()))
    before = Mapper[Any](transcoder=ledger.mapper.transcoder)  # the mapper before sealing
    course = Course.create(course_id, "Course", four_unit_course())
    events: list[Any] = list(course.collect_events())
    for index, learner in enumerate(LEARNERS):
        enrollment = Enrollment(
            id=legacy_enrollment_id(course_id, learner), learner_id=learner, course_id=course_id
        )
        for unit in course.units[: index + 1]:
            enrollment.complete_unit(unit, WHEN)
        if learner == WITHDRAWN:
            enrollment.withdraw(WHEN)
        events.extend(enrollment.collect_events())
    try:
        ledger.recorder.insert_events([before.to_stored_event(event) for event in events])
    finally:
        ledger.close()
    return len(events)


def test_an_old_log_is_migrated_resumably_and_reads_the_same(
    services: LedgerServices, old_store: Settings
) -> None:
    needs_a_process()
    course_id = new_id("course")
    total = write_old_log(old_store, course_id)
    source = ProgressLedger(env=library_environment(old_store.store_options()))
    progress = MigrationProgress(services.db)
    progress.create_schema()
    name = source_name(old_store.database_url, old_store.database_schema)
    try:
        stopped = LegacyMigration(source, services.ledger, progress, name)
        assert stopped.run(batch_size=3, max_chunks=2) == 6
    finally:
        source.close()
    # Stopped after its second chunk was written but before its position was recorded.
    assert progress.position(name) == 6
    progress.record(name, 3)

    first = cli(
        services.settings,
        "migrate",
        "--from",
        old_store.database_url,
        "--from-schema",
        old_store.database_schema,
        "--batch-size",
        "3",
    )
    again = cli(
        services.settings,
        "migrate",
        "--from",
        old_store.database_url,
        "--from-schema",
        old_store.database_schema,
    )

    assert first.returncode == 0, first.stderr
    assert f"migrated: {total - 6} events written" in first.stdout
    assert again.returncode == 0, again.stderr
    assert "migrated: 0 events written" in again.stdout
    assert services.ledger.head_position() == total
    services.engine.catch_up(services.generations.live())
    for index, learner in enumerate(LEARNERS):
        read = services.reads.learner_course(learner, course_id)
        assert read is not None
        assert (read["completed_units"], read["withdrawn"]) == (index + 1, learner == WITHDRAWN)
        assert read["enrollment_id"] != str(legacy_enrollment_id(course_id, learner))
        assert read["enrollment_id"] == str(services.ledger.enrollment_id(learner, course_id))
    logged = services.ledger.recorder.select_notifications(start=1, limit=total)
    for learner in LEARNERS:
        legacy = legacy_enrollment_id(course_id, learner)
        assert all(learner.encode() not in n.state for n in logged)
        assert all(n.originator_id != legacy for n in logged)
    assert verify(event_log(services), services.generations).mismatches == []


def test_migrate_refuses_a_target_that_already_holds_events(
    services: LedgerServices, old_store: Settings
) -> None:
    write_old_log(old_store, new_id("course"))
    services.ledger.create_course(new_id("course"), "Already here", four_unit_course())
    with pytest.raises(MigrationRefused, match="already holds events"):
        migrate(services, old_store.database_url, old_store.database_schema)
