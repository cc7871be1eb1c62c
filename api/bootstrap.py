"""The composition root: builds the ledger, the projection and the queries from Settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psycopg

from api.environment import is_postgres, library_environment, postgres_conninfo
from api.settings import Settings
from domain.group_commit import GroupCommitLedger
from domain.ledger import ProgressLedger
from projections.database import Database, database_for
from projections.engine import ProjectionEngine
from projections.queries import ProgressQueries
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
    _stop: threading.Event = field(default_factory=threading.Event)
    _projector: threading.Thread | None = None

    def start_projection(self) -> None:
        """Runs the live projection on a background thread of this process."""
        self._projector = threading.Thread(
            target=self.engine.follow_live,
            args=(self._stop, self.waker),
            name="projection",
            daemon=True,
        )
        self._projector.start()

    @property
    def projects_here(self) -> bool:
        return self._projector is not None

    def close(self) -> None:
        self._stop.set()
        self.waker.close()
        if self._projector is not None:
            self._projector.join(timeout=10)
        self.ledger.close()


def bootstrap(settings: Settings) -> LedgerServices:
    env = library_environment(settings)
    if is_postgres(settings.database_url) and settings.database_schema:
        _create_schema(settings)
    ledger = (GroupCommitLedger if settings.group_commit else ProgressLedger)(env=env)
    db = database_for(ledger.factory.datastore)  # type: ignore[attr-defined]
    store = ProgressStore(db)
    store.create_schema(default_rules=settings.rules)
    engine = ProjectionEngine(
        ledger.recorder, ledger.mapper, store, batch_size=settings.projection_batch_size
    )
    waker: Waker
    if is_postgres(settings.database_url):
        channel = f"{ledger.name.lower()}_events"
        waker = PostgresWaker(postgres_conninfo(settings), channel)
    else:
        waker = LocalWaker()
    return LedgerServices(
        settings=settings,
        ledger=ledger,
        db=db,
        store=store,
        engine=engine,
        queries=ProgressQueries(db),
        waker=waker,
    )


def _create_schema(settings: Settings) -> None:
    with psycopg.connect(postgres_conninfo(settings), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.database_schema}"')
