"""Rendering a page: one Jinja2 environment (autoescaping), and the session cookie set on
the response that first gives a visitor their session."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.pages.page_access import CSRF_FIELD
from api.pages.sessions import COOKIE_NAME, MAX_AGE_SECONDS, PageSession

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:g}%"


def segment(value: str) -> str:
    """One path segment, every reserved character escaped (`course-v1:Org+Run` fits)."""
    return quote(value, safe="")


templates.env.filters["when"] = when
templates.env.filters["segment"] = segment
templates.env.filters["percent"] = percent


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    session: PageSession | None,
    status_code: int = 200,
) -> HTMLResponse:
    page = templates.TemplateResponse(
        request,
        template,
        {**context, "session": session, "csrf_field": CSRF_FIELD},
        status_code=status_code,
    )
    page.headers["Cache-Control"] = "no-store"
    fresh: PageSession | None = getattr(request.state, "new_page_session", None)
    if fresh is not None:
        set_session_cookie(request, page, fresh)
    return page


def set_session_cookie(request: Request, response: Any, session: PageSession) -> None:
    response.set_cookie(
        COOKIE_NAME,
        request.app.state.page_sessions.cookie_value(session),
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
