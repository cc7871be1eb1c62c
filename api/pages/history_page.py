"""`/learners/{learner_id}/courses/{course_id}`: a learner's history in a course, replayed
from the events by the audit's timeline (as the history route does), as a list of moments
with who acted and why, and a step chart of the percentage over time."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.dependencies import CourseId, LearnerId, Services
from api.pages.page_access import Reader
from api.pages.rendering import render
from api.pages.step_chart import step_chart
from api.routers.history import event_log
from bootstrap import LedgerServices
from domain.errors import NotFoundError
from projections.audit import Timeline, timeline

router = APIRouter(include_in_schema=False)


def learner_timeline(services: LedgerServices, learner_id: str, course_id: str) -> Timeline:
    enrollment_id = services.ledger.enrollment_id(learner_id, course_id)
    if enrollment_id is None:
        raise NotFoundError(
            f"learner {learner_id!r} is not enrolled in course {course_id!r}", field="learner_id"
        )
    return timeline(event_log(services), enrollment_id, services.generations.live().rules)


@router.get("/learners/{learner_id}/courses/{course_id}", response_class=HTMLResponse)
async def learner_history(
    request: Request,
    learner_id: LearnerId,
    course_id: CourseId,
    session: Reader,
    services: Services,
) -> HTMLResponse:
    try:
        replayed = await run_in_threadpool(learner_timeline, services, learner_id, course_id)
    except NotFoundError as error:
        context = {"status": 404, "detail": error.message}
        return render(request, "refused.html", context, session, status_code=404)
    chart = step_chart([(m.recorded_at, m.progress.percentage) for m in replayed.moments])
    return render(
        request,
        "history.html",
        {
            "learner_id": learner_id,
            "course_id": course_id,
            "timeline": replayed,
            "moments": list(reversed(replayed.moments)),
            "chart": chart,
        },
        session,
    )
