"""What routes depend on: the services built at start-up, and read-your-writes waiting."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from api.problems import ServiceUnavailable
from api.schemas import ID_PATTERN
from bootstrap import LedgerServices


def services_of(request: Request) -> LedgerServices:
    """The services built at start-up; also for hot routes that solve no dependency."""
    services: LedgerServices = request.app.state.services
    return services


async def get_services(request: Request) -> LedgerServices:
    """async only so FastAPI calls it on the event loop instead of a threadpool hop."""
    return services_of(request)


Services = Annotated[LedgerServices, Depends(get_services)]

LearnerId = Annotated[str, Path(pattern=ID_PATTERN, min_length=1, max_length=200)]
CourseId = Annotated[str, Path(pattern=ID_PATTERN, min_length=1, max_length=200)]
UnitId = Annotated[str, Path(pattern=ID_PATTERN, min_length=1, max_length=200)]
ModuleId = Annotated[str, Path(pattern=ID_PATTERN, min_length=1, max_length=200)]

POLL_INTERVAL = 0.01
# How often a read waiting on this process's projector also asks the database: another
# process on the same database (a second API, `import`, `project`) may have projected it.
DATABASE_CHECK_INTERVAL = 0.05


async def wait_for_position(
    services: Services,
    min_position: Annotated[
        int | None,
        Query(ge=0, description="Wait until the projection has applied this log position"),
    ] = None,
) -> None:
    """Read your writes: wait (bounded) until the projection has applied `min_position`.
    Most reads give none, or one already applied, and cost no threadpool hop; the waiting
    itself runs in one."""
    if not min_position:
        return
    if services.projects_here and services.engine.live_position >= min_position:
        return
    reads = services.reads
    if reads.on_event_loop and await reads.live_position_on_loop() >= min_position:
        return
    await run_in_threadpool(block_until_applied, services, min_position)


def block_until_applied(services: LedgerServices, min_position: int) -> None:
    if services.projects_here and services.engine.live_position >= min_position:
        return
    head = services.ledger.head_position()
    if min_position > head:
        # No write was ever acknowledged there: waiting could only time out.
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "min_position"),
                    "msg": f"is beyond the log's head ({head})",
                    "type": "value_error",
                }
            ]
        )
    timeout = services.settings.read_wait_timeout
    if services.projects_here:
        deadline = time.monotonic() + timeout
        interval = POLL_INTERVAL  # this process's projector usually announces it sooner
        while True:
            remaining = deadline - time.monotonic()
            if services.engine.wait_for(min_position, min(remaining, interval)):
                return
            if services.reads.live_position() >= min_position:
                return
            if remaining <= interval:
                break
            interval = DATABASE_CHECK_INTERVAL
    else:
        deadline = time.monotonic() + timeout
        while services.reads.live_position() < min_position:
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL)
        else:
            return
    raise ServiceUnavailable(
        f"the projection has not reached position {min_position} within {timeout:g}s",
        field="min_position",
    )


ReadYourWrites = Depends(wait_for_position)
