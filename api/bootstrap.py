"""The composition root: builds the ledger, the projection and the queries from Settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from api.command_store import PostgresCommandStore
from api.environment import is_postgres, library_environment, postgres_conninfo
from api.idempotency import IdempotencyKeyTaken, claims_of_this_request
from api.recorders import PostgresIdempotentRecorder
from api.settings import Settings
from domain.group_commit import GroupCommitLedger
from domain.ledger import ProgressLedger
from projections.database import Database, database_for
from projections.engine import ProjectionEngine
from projections.leadership import AdvisoryLock, NoLock, ProjectorLock, lock_key
from projections.live_reads import LiveProgressReads, learner_course_statement
from projections.queries import ProgressQueries
from projections.rebuilds import Rebuilder, RebuildJobs
from projections.store import ProgressStore
from projections.waker import LocalWaker, PostgresWaker, Waker


@dataclass
class LedgerServices:
    settings: Settings
    ledger: ProgressLedger
    db: Database
    store: ProgressStore
    engine: ProjectionEngine
    queries: ProgressQueries
    waker: Waker
    rebuilds: RebuildJobs
    _stop: threading.Event = field(default_factory=threading.Event)
    _projector: threading.Thread | None = None
    projector_lock: ProjectorLock = field(default_factory=NoLock)
    # PostgreSQL only: the hottest read on the event loop (opened and closed by the app).
    reads: LiveProgressReads | None = None

    def start_projection(self) -> None:
        """Runs the live projection on a background thread of this process."""
        self._projector = threading.Thread(
            target=self.engine.follow_live,
            args=(self._stop, self.waker),
            kwargs={"may_project": self.projector_lock},
            name="projection",
            daemon=True,
        )
        self._projector.start()

    @property
    def projects_here(self) -> bool:
        return self._projector is not None

    async def open_reads(self) -> None:
        if self.reads is not None:
            await self.reads.open()

    async def close_reads(self) -> None:
        if self.reads is not None:
            await self.reads.close()

    def close(self) -> None:
        self._stop.set()
        self.rebuilds.stop()
        self.waker.close()
        if self._projector is not None:
            self._projector.join(timeout=10)
        self.projector_lock.close()
        self.ledger.close()


def bootstrap(settings: Settings) -> LedgerServices:
    env = library_environment(settings)
    with _startup_lock(settings):
        if is_postgres(settings.database_url) and settings.database_schema:
            _create_schema(settings)
        ledger = (
            GroupCommitLedger(
                env=env,
                caller_save_kwargs=claims_of_this_request,
                apart_on=(IdempotencyKeyTaken,),
            )
            if settings.group_commit
            else ProgressLedger(env=env)
        )
        db = database_for(ledger.factory.datastore)  # type: ignore[attr-defined]
        store = ProgressStore(db)
        store.create_schema(default_rules=settings.rules)
    if isinstance(ledger, GroupCommitLedger) and isinstance(
        ledger.recorder, PostgresIdempotentRecorder
    ):
        ledger.use_command_store(PostgresCommandStore(ledger, ledger.recorder))
    engine = ProjectionEngine(
        ledger.recorder, ledger.mapper, store, batch_size=settings.projection_batch_size
    )
    waker: Waker
    if is_postgres(settings.database_url):
        channel = f"{ledger.name.lower()}_events"
        waker = PostgresWaker(postgres_conninfo(settings), channel)
    else:
        waker = LocalWaker()
    projector_lock: ProjectorLock = NoLock()
    reads = None
    if is_postgres(settings.database_url):
        key = lock_key(settings.database_schema or "public")
        projector_lock = AdvisoryLock(postgres_conninfo(settings), key)
        reads = LiveProgressReads(
            postgres_conninfo(settings),
            db.table("projection_generations"),
            learner_course_statement(
                db.table("projection_generations"),
                db.table("course_progress"),
                db.table("unit_progress"),
                db.table("course_structure"),
            ),
            pool_size=settings.database_pool_size,
            timeout=settings.database_connect_timeout,
        )
    return LedgerServices(
        settings=settings,
        projector_lock=projector_lock,
        ledger=ledger,
        db=db,
        store=store,
        engine=engine,
        queries=ProgressQueries(db),
        waker=waker,
        rebuilds=RebuildJobs(Rebuilder(engine, store, on_switched=waker.wake)),
        reads=reads,
    )


@contextmanager
def _startup_lock(settings: Settings) -> Iterator[None]:
    """Processes starting together on a new PostgreSQL database (API workers, the projector)
    take turns creating tables: concurrent CREATE ... IF NOT EXISTS can still collide."""
    if not is_postgres(settings.database_url):
        yield
        return
    with psycopg.connect(postgres_conninfo(settings), autocommit=True) as connection:
        key = f"progress-ledger startup {settings.database_schema or 'public'}"
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", (key,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def _create_schema(settings: Settings) -> None:
    with psycopg.connect(postgres_conninfo(settings), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.database_schema}"')
