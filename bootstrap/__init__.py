"""The composition root: Settings, read once from LEDGER_* variables, and `bootstrap`, which
builds the ledger, the projection and the reads from them. Entry points (api/, cli/)
call it; nothing below imports it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bootstrap.ledger_metrics import POOL_SAMPLE_SECONDS, LedgerMetrics
from bootstrap.metrics_directory import multiprocess_directory
from eventstore.advisory_lock import AdvisoryLock, NoLock, ProjectorLock, lock_key
from eventstore.async_reads import AsyncReadPool
from eventstore.database import Database, database_for
from eventstore.environment import (
    StoreOptions,
    is_postgres,
    library_environment,
    postgres_conninfo,
)
from eventstore.idempotency_keys import AnswerWriter, IdempotencyStore, add_stream_column
from eventstore.learner_keys import LearnerKeys
from eventstore.pool_use import PoolUse, pool_use
from eventstore.startup import create_schema, startup_lock
from eventstore.wakers import PostgresWaker, SqliteWaker, Waker
from ledger.application import ProgressLedger
from projections.engine import ProjectionEngine
from projections.generations import Generations
from projections.outbox import create_outbox_tables
from projections.parking import ParkedEvents
from projections.progress_reads import ProgressReads
from projections.rebuilds import Rebuilder, RebuildJobs
from projections.stall import ProgressWatch
from webhooks.deliverer import Deliverer, DeliveryOptions


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./progress-ledger.sqlite3",
        description="sqlite:///PATH (embedded) or postgresql://USER@HOST:PORT/DB",
    )
    database_schema: str = Field("", description="PostgreSQL schema; empty means public")
    embedded_projection: bool = Field(
        True, description="Project inside the API process; false when `project` runs apart"
    )
    read_wait_timeout: float = Field(
        5.0, ge=0, description="How long a read waits for its min_position, in seconds"
    )
    projection_batch_size: int = Field(20_000, ge=1, le=100_000)
    projection_stall_seconds: float = Field(
        30.0,
        gt=0,
        description="/readyz says `stalled` when the projection is behind and has not moved "
        "for this long",
    )
    rules: str = Field("units-v1", description="Rules of the first projection generation")
    database_connect_timeout: float = Field(
        3.0, gt=0, description="Seconds to wait for a database connection before failing"
    )
    database_pool_size: int = Field(8, ge=1)
    workers: int = Field(
        1, ge=1, description="Server processes for `serve` (PostgreSQL only when more than one)"
    )
    # Reliability and security (issue 5).
    api_keys: str = Field(
        "", description="API key hash lines NAME:SCOPES:SHA256HEX, separated by ';' or newlines"
    )
    api_keys_file: str = Field("", description="A file of API key hash lines, one a line")
    public_docs: bool = Field(
        False, description="Serve /openapi.json, /docs and /redoc without a key when keys are set"
    )
    max_body_bytes: int = Field(1_048_576, ge=1, description="Largest request body accepted")
    max_batch_body_bytes: int = Field(
        16 * 1_048_576, ge=1, description="Largest body of a bulk request (10,000 items)"
    )
    session_secret: str = Field(
        "",
        description="Signs the pages' session cookies; empty: a random secret per process "
        "(sessions end when it stops)",
    )
    group_commit: bool = Field(
        True,
        description="Commit concurrent commands together: one insert, one fsync (false: an "
        "insert per request)",
    )
    # See it (issue 13): metrics.
    metrics_open: bool = Field(
        False, description="Serve /metrics without a key when keys are set (a trusted scraper)"
    )

    # Webhooks out (issue 12).
    deliver_webhooks: bool = Field(
        True, description="`serve` delivers webhooks in its process (`deliver` runs apart)"
    )
    webhook_retry_seconds: float = Field(
        86_400.0, gt=0, description="How long a delivery is retried before it is given up"
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="One attempt's timeout")
    webhook_backoff_seconds: float = Field(
        1.0, gt=0, description="The first retry's mean wait; doubled each attempt, with jitter"
    )
    webhook_concurrency: int = Field(
        8, ge=1, description="Subscriptions one process delivers to at once"
    )

    def delivery_options(self) -> DeliveryOptions:
        return DeliveryOptions(
            retry_seconds=self.webhook_retry_seconds,
            timeout_seconds=self.webhook_timeout_seconds,
            backoff_seconds=self.webhook_backoff_seconds,
            concurrency=self.webhook_concurrency,
        )

    # xAPI intake (issue 12).
    xapi_learner_identifier: Literal["account", "mbox", "openid"] = Field(
        "account",
        description="Which identifier of a statement's actor names the learner: account "
        "(its name), mbox (the address) or openid",
    )
    xapi_enroll: bool = Field(
        False, description="Enroll a learner on their first xAPI statement that counts"
    )

    def store_options(self) -> StoreOptions:
        return StoreOptions(
            database_url=self.database_url,
            database_schema=self.database_schema,
            database_connect_timeout=self.database_connect_timeout,
            database_pool_size=self.database_pool_size,
        )


@dataclass
class LedgerServices:
    settings: Settings
    ledger: ProgressLedger
    db: Database
    keys: LearnerKeys
    generations: Generations
    engine: ProjectionEngine
    # Every progress document; on PostgreSQL the hottest also on the event loop (its asyncio
    # pool is opened and closed by the app).
    reads: ProgressReads
    waker: Waker
    rebuilds: RebuildJobs
    _stop: threading.Event = field(default_factory=threading.Event)
    _projector: threading.Thread | None = None
    projector_lock: ProjectorLock = field(default_factory=NoLock)
    # When the live projection last moved, as /readyz sees it.
    progress_watch: ProgressWatch = field(default_factory=ProgressWatch)
    # Answers to Idempotency-Key requests, stored in batches after they were sent.
    answers: AnswerWriter = field(init=False)
    # What this process counts for /metrics (the committer's commands among them).
    metrics: LedgerMetrics = field(default_factory=LedgerMetrics)
    # The webhook delivery worker, when this process runs one.
    deliverer: Deliverer | None = None

    def __post_init__(self) -> None:
        self.answers = AnswerWriter(IdempotencyStore(self.db))

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

    def start_delivery(self) -> Deliverer:
        """Delivers webhooks on background threads of this process."""
        self.deliverer = Deliverer(self.db, self.settings.delivery_options())
        self.deliverer.start()
        return self.deliverer

    @property
    def projects_here(self) -> bool:
        return self._projector is not None

    async def open_reads(self) -> None:
        await self.reads.open()

    def pool_use(self) -> list[PoolUse]:
        return pool_use(self.db, self.reads.pool)

    def start_metrics(self) -> None:
        """A server among several workers samples its pools for the others' scrapes."""
        self.metrics.sample_pools_every(POOL_SAMPLE_SECONDS, self.pool_use)

    async def close_reads(self) -> None:
        await self.reads.close()

    def close(self) -> None:
        self._stop.set()
        self.metrics.close()
        if self.deliverer is not None:
            self.deliverer.close()
        self.rebuilds.stop()
        self.waker.close()
        if self._projector is not None:
            self._projector.join(timeout=10)
        self.projector_lock.close()
        self.answers.close()
        self.ledger.close()


def bootstrap(settings: Settings) -> LedgerServices:
    env = library_environment(settings.store_options())
    metrics = LedgerMetrics(multiprocess_directory())
    with startup_lock(settings.store_options()):
        if is_postgres(settings.database_url) and settings.database_schema:
            create_schema(settings.store_options())
        ledger = ProgressLedger(env=env, group_commit=settings.group_commit, metrics=metrics)
        db = database_for(ledger.factory.datastore)  # type: ignore[attr-defined]
        keys = LearnerKeys(db)
        keys.create_schema()
        add_stream_column(db)
        ledger.use_keys(keys)
        generations = Generations(db)
        generations.create_schema(default_rules=settings.rules)
        ParkedEvents(db).create_schema()
        create_outbox_tables(db)
    engine = ProjectionEngine(
        ledger.recorder, ledger.mapper, generations, batch_size=settings.projection_batch_size
    )
    waker: Waker
    if is_postgres(settings.database_url):
        channel = f"{ledger.name.lower()}_events"
        waker = PostgresWaker(postgres_conninfo(settings.store_options()), channel)
    else:
        waker = SqliteWaker(env["SQLITE_DBNAME"])
    projector_lock: ProjectorLock = NoLock()
    reads_on_loop = None
    if is_postgres(settings.database_url):
        key = lock_key(settings.database_schema or "public")
        projector_lock = AdvisoryLock(postgres_conninfo(settings.store_options()), key)
        reads_on_loop = AsyncReadPool(
            postgres_conninfo(settings.store_options()),
            pool_size=settings.database_pool_size,
            timeout=settings.database_connect_timeout,
        )
    return LedgerServices(
        settings=settings,
        projector_lock=projector_lock,
        ledger=ledger,
        db=db,
        keys=keys,
        generations=generations,
        engine=engine,
        reads=ProgressReads(db, reads_on_loop),
        waker=waker,
        rebuilds=RebuildJobs(Rebuilder(engine, on_switched=waker.wake)),
        metrics=metrics,
    )
