"""Our recorders against the library's public calls: the steps we override or run in one
round trip (`_insert_stored_events`, `insert_events_then_select`, COPY) must store the same
rows, hand out the same ids in the same order, take the same table lock and send the same
NOTIFY as the library's own `insert_events`; and the committer's batched read must answer
what `select_events` answers. An upgrade of eventsourcing that changes its insert fails here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from bootstrap import LedgerServices, Settings, bootstrap
from domain.course import Unit
from eventstore.idempotency_keys import Claim
from eventstore.postgres_recorder import COPY_FROM, PIPELINED_UP_TO, PostgresIdempotentRecorder
from eventstore.sqlite_recorder import SQLiteIdempotentRecorder
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.processes import wait_until

TOPICS = ["domain.course:Course.Created", 'with "quotes"', "back\\slash", "{braces},", "é ü"]
STATES = [b"", b'{"a": 1}', b"\x00\x01\xff", b"\\\"'{},", "é".encode()]

Write = Callable[[PostgresIdempotentRecorder, Sequence[StoredEvent]], Sequence[int]]


def stored_events(count: int) -> list[StoredEvent]:
    """`count` events of a few aggregates, with topics and states that need escaping."""
    originators = [uuid4() for _ in range(max(1, count // 3))]
    versions = dict.fromkeys(originators, 0)
    events = []
    for n in range(count):
        originator = originators[n % len(originators)]
        versions[originator] += 1
        events.append(
            StoredEvent(
                originator_id=originator,
                originator_version=versions[originator],
                topic=TOPICS[n % len(TOPICS)],
                state=STATES[n % len(STATES)],
            )
        )
    return events


def public_insert(recorder: PostgresIdempotentRecorder, events: Sequence[StoredEvent]) -> list[int]:
    return list(recorder.insert_events(events) or ())


def pipelined(recorder: PostgresIdempotentRecorder, events: Sequence[StoredEvent]) -> list[int]:
    with recorder.datastore.get_connection() as connection:
        ids, _ = recorder.insert_events_then_select(connection, events, {})
    return ids


# Ours, each way it writes: the library's insert with our step, COPY, and the committer's.
WAYS: dict[str, tuple[Write, int]] = {
    "insert_events": (public_insert, COPY_FROM - 1),
    "insert_events-copy": (public_insert, COPY_FROM),
    "committer": (pipelined, 50),
    "committer-copy": (pipelined, PIPELINED_UP_TO + 1),
}


@pytest.fixture
def postgres_services(postgres_settings: Settings) -> Iterator[LedgerServices]:
    built = bootstrap(postgres_settings)
    yield built
    built.close()


def recorders(
    services: LedgerServices,
) -> tuple[PostgresApplicationRecorder, PostgresIdempotentRecorder]:
    """The library's recorder and ours, each on a table of its own, on one datastore."""
    datastore = services.ledger.recorder.datastore  # type: ignore[attr-defined]
    library = PostgresApplicationRecorder(datastore, events_table_name="library_events")
    ours = PostgresIdempotentRecorder(datastore, events_table_name="our_events")
    library.create_table()
    ours.create_table()
    return library, ours


def rows(notifications: Sequence[Notification]) -> list[tuple[object, ...]]:
    return [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notifications]


@pytest.mark.parametrize("way", WAYS)
def test_our_writes_store_what_the_librarys_insert_stores(
    postgres_services: LedgerServices, way: str
) -> None:
    library, ours = recorders(postgres_services)
    write, count = WAYS[way]
    events = stored_events(count)

    library_ids = library.insert_events(events)
    our_ids = write(ours, events)

    assert our_ids == library_ids == list(range(1, count + 1))
    assert rows(ours.select_notifications(1, count + 1)) == rows(
        library.select_notifications(1, count + 1)
    )


def test_the_committers_read_answers_what_select_events_answers(
    postgres_services: LedgerServices,
) -> None:
    _, ours = recorders(postgres_services)
    events = stored_events(30)
    ours.insert_events(events)
    originators = list(dict.fromkeys(UUID(str(e.originator_id)) for e in events))
    known: dict[UUID, int] = {key: n % 4 for n, key in enumerate(originators)}
    known[uuid4()] = 0  # nothing yet
    expected = [
        event
        for key, version in known.items()
        for event in ours.select_events(key, gt=version or None)
    ]

    with ours.datastore.get_connection() as connection:
        _, read_with_the_write = ours.insert_events_then_select(connection, [], known)

    assert sorted(ours.select_events_after(known), key=order) == sorted(expected, key=order)
    assert sorted(read_with_the_write, key=order) == sorted(expected, key=order)


def order(event: StoredEvent) -> tuple[str, int]:
    return str(event.originator_id), event.originator_version


@pytest.mark.parametrize("way", ["library", *WAYS])
def test_every_write_sends_notify_on_the_tables_channel(
    postgres_services: LedgerServices, postgres_settings: Settings, way: str
) -> None:
    library, ours = recorders(postgres_services)
    recorder = library if way == "library" else ours
    with psycopg.connect(postgres_settings.database_url, autocommit=True) as listening:
        listening.execute(f'LISTEN "{recorder.channel_name}"')
        if way == "library":
            library.insert_events(stored_events(3))
        else:
            write, count = WAYS[way]
            write(ours, stored_events(count))
        heard = [n.channel for n in listening.notifies(timeout=DEADLINE, stop_after=1)]
    assert heard == [recorder.channel_name]


@pytest.mark.parametrize("way", ["library", *WAYS])
def test_every_write_takes_the_exclusive_table_lock(
    postgres_services: LedgerServices, postgres_settings: Settings, way: str
) -> None:
    """A plain INSERT would pass another transaction's ROW EXCLUSIVE lock; the library's
    insert, and each of ours, must wait for it: they ask for EXCLUSIVE."""
    library, ours = recorders(postgres_services)
    recorder = library if way == "library" else ours
    table = f'"{postgres_settings.database_schema}".{recorder.events_table_name}'
    done = threading.Event()

    def write() -> None:
        if way == "library":
            library.insert_events(stored_events(3))
        else:
            writing, count = WAYS[way]
            writing(ours, stored_events(count))
        done.set()

    with psycopg.connect(postgres_settings.database_url) as holding:
        holding.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")
        writer = threading.Thread(target=write)
        writer.start()
        try:
            with psycopg.connect(postgres_settings.database_url, autocommit=True) as watching:

                def waiting_modes() -> list[str]:
                    found = watching.execute(
                        "SELECT mode FROM pg_locks WHERE relation = %s::regclass AND NOT granted",
                        (table,),
                    ).fetchall()
                    return [mode for (mode,) in found]

                wait_until(lambda: bool(waiting_modes()), 10, "the write to ask for the lock")
                assert waiting_modes() == ["ExclusiveLock"]
                assert not done.is_set()
        finally:
            holding.rollback()
            writer.join(timeout=DEADLINE)
    assert done.is_set()


def test_a_reader_never_sees_ids_out_of_order(postgres_services: LedgerServices) -> None:
    """Writers of every kind at once, and a reader tailing the log by position: had an id
    become visible after a higher one, the reader would have passed over it."""
    _, ours = recorders(postgres_services)
    seen: list[int] = []
    writing = threading.Event()

    def tail() -> None:
        last = 0
        while writing.is_set() or last < (ours.max_notification_id() or 0):
            for notification in ours.select_notifications(last + 1, 1000):
                seen.append(notification.id)
                last = notification.id

    def write(way: str) -> None:
        writer, count = WAYS[way]
        for _ in range(5):
            writer(ours, stored_events(count))

    writing.set()
    reader = threading.Thread(target=tail)
    reader.start()
    writers = [threading.Thread(target=write, args=(way,)) for way in WAYS for _ in range(2)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=DEADLINE)
    writing.clear()
    reader.join(timeout=DEADLINE)

    everything = [n.id for n in ours.select_notifications(1, 1_000_000)]
    assert seen == everything


def test_the_batched_read_answers_what_select_events_answers(services: LedgerServices) -> None:
    """Both databases: the committer's read of many aggregates, and the keys it checks."""
    ledger = services.ledger
    recorder = ledger.recorder
    assert isinstance(recorder, PostgresIdempotentRecorder | SQLiteIdempotentRecorder)
    course_id = new_id("course")
    ledger.create_course(course_id, "Course", [Unit(f"u{n}") for n in range(4)])
    enrollments = [ledger.enroll(new_id("l"), course_id).enrollment.id for _ in range(3)]
    for n, enrollment_id in enumerate(enrollments):
        for unit in range(n + 1):
            ledger.complete_unit(enrollment_id, f"u{unit}")
    known = {key: n for n, key in enumerate(enrollments)} | {uuid4(): 0}
    expected = [
        event
        for key, version in known.items()
        for event in recorder.select_events(key, gt=version or None)
    ]

    assert sorted(recorder.select_events_after(known), key=order) == sorted(expected, key=order)

    key = new_id("key")
    assert recorder.taken_keys([key]) == set()
    recorder.insert_events([], idempotency=[Claim(key, "fingerprint")])
    assert recorder.taken_keys([key, "another"]) == {key}
