"""Who may see a page and who may act: the page session (sessions.py), read scope for
every page, admin scope and the session's CSRF token for every action."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request

from api.pages.sessions import COOKIE_NAME, PageSession, PageSessions

SIGN_IN_PATH = "/sign-in"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageRefused(Exception):
    """Rendered as an HTML page with this status (403: a scope or the CSRF token)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def page_sessions(request: Request) -> PageSessions:
    sessions: PageSessions = request.app.state.page_sessions
    return sessions


def current_session(request: Request) -> PageSession | None:
    """The request's session; with no keys, an open one (new, and set by the page, if the
    visitor has none yet)."""
    sessions = page_sessions(request)
    session = sessions.read(request.cookies.get(COOKIE_NAME))
    if session is None and sessions.is_open:
        session = sessions.open_session()
        request.state.new_page_session = session
    return session


def sign_in_url(next_path: str) -> str:
    return f"{SIGN_IN_PATH}?next={quote(next_path, safe='/')}"


def safe_next(next_path: str | None) -> str:
    """Only a path of this site: never `//host` or `https://host` (an open redirect)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return "/"
    if "\\" in next_path or any(ord(c) < 0x20 for c in next_path):
        return "/"
    return next_path


async def reader(request: Request) -> PageSession:
    session = current_session(request)
    if session is None:
        query = request.url.query
        raise SignInRequired(request.url.path + (f"?{query}" if query else ""))
    if not session.may("read"):
        raise PageRefused(403, f"the key {session.key_name!r} lacks the 'read' scope")
    return session


Reader = Annotated[PageSession, Depends(reader)]


async def form_fields(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, first value of each field (the body
    guard has bounded its size)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body).items()}


async def admin_action(request: Request) -> dict[str, str]:
    """An action's form fields, once its session has the admin scope and sent its token."""
    session = current_session(request)
    if session is None:
        raise PageRefused(403, "sign in first: actions need a session")
    fields = await form_fields(request)
    if not session.csrf_matches(fields.get(CSRF_FIELD)):
        raise PageRefused(403, "the form's CSRF token is missing or not this session's")
    if not session.may("admin"):
        raise PageRefused(403, f"the key {session.key_name!r} lacks the 'admin' scope")
    return fields


AdminAction = Annotated[dict[str, str], Depends(admin_action)]
