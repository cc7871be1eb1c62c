"""The ASGI application, built by a factory; settings are read when it starts, not on import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.access import (
    AccessGate,
    Keyring,
    docs_paths,
    install_access,
    requires,
    requires_for_every_method,
)
from api.guards import BodyGuard
from api.head_requests import HeadAsGet
from api.idempotency import IdempotencyKeys
from api.offline_docs import install_offline_docs
from api.openapi_extras import document_idempotency_key
from api.pages import FORM_PATHS, install_pages
from api.pages.sessions import PageSessions
from api.problems import install_problem_handlers
from api.request_log import RequestLog
from api.request_metrics import RequestMetrics
from api.routers import (
    batch,
    courses,
    enrollments,
    health,
    history,
    learners,
    listings,
    metrics,
    progress,
    projections,
    webhooks,
    xapi_resources,
)
from bootstrap import Settings, bootstrap
from projections.collector import tune_garbage_collector

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = bootstrap(settings or Settings())
        if services.settings.embedded_projection:
            services.start_projection()
            services.ledger.on_recorded.append(lambda _: services.waker.wake())
        if services.settings.deliver_webhooks:
            services.start_delivery()
        app.state.services = services
        app.state.keyring = Keyring.from_settings(services.settings)
        app.state.page_sessions = PageSessions.from_settings(
            services.settings.session_secret, app.state.keyring
        )
        await services.open_reads()
        services.start_metrics()
        tune_garbage_collector()
        try:
            yield
        finally:
            await services.close_reads()
            services.close()

    app = FastAPI(
        title="progress-ledger",
        version="0.1.0",
        description="An event-sourced ledger of learner progress.",
        lifespan=lifespan,
        # Clients name their methods by these: `create_course`, not `create_course_v1_…_post`.
        generate_unique_id_function=lambda route: route.name,
    )
    install_problem_handlers(app)
    install_access(app)
    document_idempotency_key(app)
    install_offline_docs(app)
    # Reads need `read`; every other method needs the scope named here. Progress first: the
    # router tries routes in order, and the hottest read is matched without trying the rest.
    app.include_router(progress.router, dependencies=[requires("read")])
    app.include_router(listings.router, dependencies=[requires("read")])
    app.include_router(courses.router, dependencies=[requires("admin")])
    app.include_router(enrollments.router, dependencies=[requires("write")])
    app.include_router(batch.router, dependencies=[requires("write")])
    app.include_router(history.router, dependencies=[requires("read")])
    app.include_router(projections.router, dependencies=[requires("admin")])
    app.include_router(learners.router, dependencies=[requires_for_every_method("admin")])
    app.include_router(webhooks.router, dependencies=[requires_for_every_method("admin")])
    app.include_router(xapi_resources.router, dependencies=[requires("write")])
    app.include_router(
        xapi_resources.unmatched_router, dependencies=[requires_for_every_method("admin")]
    )
    app.include_router(xapi_resources.about_router)
    app.include_router(health.router)
    app.include_router(metrics.router)  # its own rule: `read`, unless LEDGER_METRICS_OPEN
    install_pages(app)  # pages check their own session: read scope, admin and CSRF to act
    # Outermost last: log → metrics → who may ask → body limits → Idempotency-Key → HEAD as
    # GET → routes.
    app.add_middleware(HeadAsGet)
    app.add_middleware(IdempotencyKeys)
    app.add_middleware(
        BodyGuard,
        bulk_paths=frozenset({batch.BATCH_PATH, xapi_resources.STATEMENTS_PATH}),
        form_paths=FORM_PATHS,
    )
    app.add_middleware(AccessGate, docs_paths=docs_paths(app))
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestLog)
    return app


app = create_app()
