"""The sign-in page (a key, once; then the session cookie) and signing out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.pages.page_access import (
    CSRF_FIELD,
    SIGN_IN_PATH,
    PageRefused,
    current_session,
    form_fields,
    page_sessions,
    safe_next,
)
from api.pages.rendering import render, set_session_cookie
from api.pages.sessions import COOKIE_NAME

router = APIRouter(include_in_schema=False)


@router.get(SIGN_IN_PATH, response_class=HTMLResponse)
def sign_in_form(
    request: Request, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> Response:
    if page_sessions(request).is_open:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return render(request, "sign_in.html", {"next_path": safe_next(next_path)}, None)


@router.post(SIGN_IN_PATH)
async def sign_in(
    request: Request, fields: Annotated[dict[str, str], Depends(form_fields)]
) -> Response:
    next_path = safe_next(fields.get("next"))
    session = page_sessions(request).sign_in(fields.get("key", ""))
    if session is None:
        context = {"next_path": next_path, "error": "That key is not known."}
        return render(request, "sign_in.html", context, None, status_code=401)
    answer = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, answer, session)
    return answer


@router.post("/sign-out")
async def sign_out(
    request: Request, fields: Annotated[dict[str, str], Depends(form_fields)]
) -> Response:
    session = current_session(request)
    if session is None or not session.csrf_matches(fields.get(CSRF_FIELD)):
        raise PageRefused(403, "the form's CSRF token is missing or not this session's")
    answer = RedirectResponse(SIGN_IN_PATH, status_code=303)
    answer.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return answer
