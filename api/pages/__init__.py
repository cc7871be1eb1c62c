"""Server-rendered pages for instructors and operators (Jinja2), built from the same read
functions as the API; their script and style are served by the app (nothing from a CDN)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.pages import course_pages, history_page, operations_page, sign_in_page
from api.pages.page_access import (
    SIGN_IN_PATH,
    PageRefused,
    SignInRequired,
    current_session,
    sign_in_url,
)
from api.pages.rendering import HERE, render

STATIC_PATH = "/static"
# The paths whose POST bodies are HTML forms (the body guard takes them url-encoded).
FORM_PATHS = frozenset(
    {
        SIGN_IN_PATH,
        "/sign-out",
        "/operations/rebuilds",
        "/operations/parked/retry",
    }
)


def install_pages(app: FastAPI) -> None:
    for router in (
        sign_in_page.router,
        course_pages.router,
        history_page.router,
        operations_page.router,
    ):
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(SignInRequired)
    def to_sign_in(_: Request, error: SignInRequired) -> RedirectResponse:
        return RedirectResponse(sign_in_url(error.next_path), status_code=303)

    @app.exception_handler(PageRefused)
    def refused(request: Request, error: PageRefused) -> HTMLResponse:
        context = {"status": error.status, "detail": error.detail}
        session = current_session(request)
        return render(request, "refused.html", context, session, status_code=error.status)
