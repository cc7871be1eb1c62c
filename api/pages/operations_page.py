"""`/operations`: the projection's generations with lag and events/s, a running rebuild's
progress (its JSON polled by /static/operations.js), the parked events, each webhook's
deliveries; and the two admin actions, start a rebuild and retry the parked events, each a
form with the CSRF token."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.dependencies import Services
from api.pages.page_access import AdminAction, Reader
from api.pages.rendering import render
from api.routers.projections import list_projections, parked_out
from bootstrap import LedgerServices
from domain.errors import LedgerError
from projections.rules import RULES
from webhooks.subscriptions import Subscriptions

router = APIRouter(prefix="/operations", include_in_schema=False)


def operations_status(services: LedgerServices) -> dict[str, Any]:
    """What the page shows, and what its script polls: the API's own documents."""
    live = services.generations.live()
    return {
        "projections": list_projections(services).model_dump(mode="json"),
        "parked": [p.model_dump(mode="json") for p in parked_out(services, live.number)],
        "live_generation": live.number,
        "webhooks": [
            {**asdict(w), "id": w.subscription_id} for w in Subscriptions(services.db).health()
        ],
    }


@router.get("", response_class=HTMLResponse)
async def operations(
    request: Request,
    session: Reader,
    services: Services,
    notice: Literal["", "rebuild-started", "retried"] = "",
    count: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    status = await run_in_threadpool(operations_status, services)
    context = {"status": status, "rules": sorted(RULES), "notice": notice, "count": count}
    return render(request, "operations.html", context, session)


@router.get("/status.json")
async def operations_json(_: Reader, services: Services) -> JSONResponse:
    status = await run_in_threadpool(operations_status, services)
    return JSONResponse(status, headers={"Cache-Control": "no-store"})


def back_to_operations(notice: str, count: int) -> RedirectResponse:
    # 303: the browser follows with a GET, so a reload does not post the form again.
    return RedirectResponse(f"/operations?notice={notice}&count={count}", status_code=303)


@router.post("/rebuilds")
async def start_rebuild(
    request: Request, fields: AdminAction, session: Reader, services: Services
) -> Any:
    rules = fields.get("rules", "")
    if rules not in RULES:
        return await refused(request, session, services, 400, f"unknown rules {rules!r}")
    try:
        generation = await run_in_threadpool(services.rebuilds.start, rules)
    except LedgerError as error:
        return await refused(request, session, services, 409, error.message)
    return back_to_operations("rebuild-started", generation.number)


@router.post("/parked/retry")
async def retry_parked(_: AdminAction, services: Services) -> RedirectResponse:
    live = services.generations.live()
    applied, _still = await run_in_threadpool(services.engine.retry, live.number)
    return back_to_operations("retried", applied)


async def refused(
    request: Request, session: Any, services: LedgerServices, status_code: int, detail: str
) -> HTMLResponse:
    status = await run_in_threadpool(operations_status, services)
    context = {"status": status, "rules": sorted(RULES), "error": detail}
    return render(request, "operations.html", context, session, status_code=status_code)
