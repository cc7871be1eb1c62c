"""`/`: every course with its counts; `/courses/{course_id}`: its roster (filtered, sorted,
searched, keyset-paged both ways), a histogram of percentages and each unit's share of
learners who completed it, in course order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.dependencies import CourseId, Services
from api.pages.page_access import Reader
from api.pages.rendering import render
from api.pages.roster_view import RosterView, roster_view
from api.schemas import ID_PATTERN
from bootstrap import LedgerServices
from projections.course_charts import COURSES_PAGE_LIMIT, CourseChartReads
from projections.roster_queries import InvalidRosterQuery

router = APIRouter(include_in_schema=False)


def chart_reads(request: Request, services: LedgerServices) -> CourseChartReads:
    """Built once per app: its statements are written at construction."""
    reads: CourseChartReads | None = getattr(request.app.state, "course_chart_reads", None)
    if reads is None:
        reads = CourseChartReads(services.db)
        request.app.state.course_chart_reads = reads
    return reads


@router.get("/", response_class=HTMLResponse)
def course_list(
    request: Request,
    session: Reader,
    services: Services,
    after: Annotated[str, Query(pattern=f"^$|{ID_PATTERN}", max_length=200)] = "",
) -> HTMLResponse:
    courses = chart_reads(request, services).courses(after, COURSES_PAGE_LIMIT + 1)
    page = courses[:COURSES_PAGE_LIMIT]
    next_after = page[-1].course_id if len(courses) > COURSES_PAGE_LIMIT else None
    return render(
        request,
        "courses.html",
        {"courses": page, "next_after": next_after, "after": after},
        session,
    )


@router.get("/courses/{course_id}", response_class=HTMLResponse)
def course_page(
    request: Request, course_id: CourseId, session: Reader, services: Services
) -> HTMLResponse:
    charts = chart_reads(request, services).charts(course_id)
    if charts is None:
        return render(
            request,
            "refused.html",
            {"status": 404, "detail": f"course {course_id!r} does not exist"},
            session,
            status_code=404,
        )
    context: dict[str, Any] = {"course_id": course_id, "charts": charts}
    try:
        view: RosterView = roster_view(services.db, course_id, request.query_params)
    except InvalidRosterQuery as error:
        context["error"] = error
        context["error_field"] = error.field
        view = roster_view(services.db, course_id, {})
        return render(request, "roster.html", {**context, "view": view}, session, 400)
    return render(request, "roster.html", {**context, "view": view}, session)
