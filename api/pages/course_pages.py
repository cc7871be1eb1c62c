"""`/`: every course with its counts; `/courses/{course_id}`: its roster (filtered, sorted,
searched, keyset-paged both ways), a histogram of percentages and each unit's share of
learners who completed it, in course order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.dependencies import CourseId, Services
from api.pages.chart_cache import CHARTS_MAX_AGE, ChartCache
from api.pages.page_access import Reader
from api.pages.rendering import render
from api.pages.roster_view import RosterView, roster_view
from api.schemas import ID_PATTERN
from bootstrap import LedgerServices
from projections.course_charts import CourseChartReads
from projections.course_listing import course_list
from projections.roster_queries import InvalidRosterQuery

router = APIRouter(include_in_schema=False)
COURSES_PAGE_LIMIT = 100


def chart_cache(request: Request, services: LedgerServices) -> ChartCache:
    """Built once per app: its statements are written at construction."""
    cache: ChartCache | None = getattr(request.app.state, "course_chart_cache", None)
    if cache is None:
        cache = ChartCache(CourseChartReads(services.db))
        request.app.state.course_chart_cache = cache
    return cache


@router.get("/", response_class=HTMLResponse)
def course_list_page(
    request: Request,
    session: Reader,
    services: Services,
    after: Annotated[str, Query(pattern=f"^$|{ID_PATTERN}", max_length=200)] = "",
) -> HTMLResponse:
    """The API's course list (GET /v1/courses), 100 courses a page."""
    listed = course_list(services.db, after or None, COURSES_PAGE_LIMIT)
    context = {"courses": listed["items"], "next_after": listed["next"], "after": after}
    return render(request, "courses.html", context, session)


@router.get("/courses/{course_id}", response_class=HTMLResponse)
def course_page(
    request: Request, course_id: CourseId, session: Reader, services: Services
) -> HTMLResponse:
    position = services.reads.live_position()
    kept = chart_cache(request, services).charts(course_id, position)
    charts = kept.charts
    if charts is None:
        return render(
            request,
            "refused.html",
            {"status": 404, "detail": f"course {course_id!r} does not exist"},
            session,
            status_code=404,
        )
    context: dict[str, Any] = {
        "course_id": course_id,
        "charts": charts,
        "charts_counted_at": kept.counted_at,
        "charts_max_age": CHARTS_MAX_AGE,
    }
    try:
        view: RosterView = roster_view(services.db, course_id, request.query_params)
    except InvalidRosterQuery as error:
        context["error"] = error
        context["error_field"] = error.field
        view = roster_view(services.db, course_id, {})
        return render(request, "roster.html", {**context, "view": view}, session, 400)
    return render(request, "roster.html", {**context, "view": view}, session)
