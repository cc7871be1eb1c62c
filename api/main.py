"""The ASGI application, built by a factory; settings are read when it starts, not on import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.bootstrap import bootstrap
from api.problems import install_problem_handlers
from api.routers import batch, courses, enrollments, health, progress
from api.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = bootstrap(settings or Settings())
        if services.settings.embedded_projection:
            services.start_projection()
            services.ledger.on_recorded.append(lambda _: services.waker.wake())
        app.state.services = services
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="progress-ledger",
        version="0.1.0",
        description="An event-sourced ledger of learner progress.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for router in (courses.router, enrollments.router, progress.router, health.router):
        app.include_router(router)
    app.include_router(batch.router)
    return app


app = create_app()
