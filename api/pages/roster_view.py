"""The roster page's query string as a RosterQuery, and the page it reads, with the links to
the pages before and after it. Both ways are keyset: the page before is the query in the
other direction from the first row shown, read and turned back around, so the thousandth
page costs what the first does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from eventstore.database import Database
from projections.progress_documents import CourseProgress, RosterSummary
from projections.roster_queries import (
    InvalidRosterQuery,
    RosterQuery,
    cursor_of,
    roster_page,
)

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
FILTER_FIELDS = ("status", "min_percentage", "max_percentage", "sort", "order", "q", "limit")


@dataclass(frozen=True)
class RosterView:
    items: list[CourseProgress]
    summary: RosterSummary
    projection_position: int
    filters: dict[str, str]
    next_query: str | None
    previous_query: str | None


def percentage_param(params: Mapping[str, str], name: str) -> float | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidRosterQuery(f"{name} must be a number from 0 to 100", field=name) from None


def limit_param(params: Mapping[str, str]) -> int:
    text = (params.get("limit") or "").strip()
    if not text:
        return DEFAULT_PAGE_SIZE
    if not text.isdigit() or int(text) not in PAGE_SIZES:
        sizes = ", ".join(map(str, PAGE_SIZES))
        raise InvalidRosterQuery(f"limit must be one of {sizes}", field="limit")
    return int(text)


def query_of(params: Mapping[str, str], cursor: str | None, backwards: bool) -> RosterQuery:
    order = params.get("order") or "asc"
    if order not in ("asc", "desc"):
        raise InvalidRosterQuery("order must be asc or desc", field="order")
    return RosterQuery(
        status=params.get("status") or None,
        min_percentage=percentage_param(params, "min_percentage"),
        max_percentage=percentage_param(params, "max_percentage"),
        sort=params.get("sort") or "learner_id",
        descending=(order == "desc") != backwards,
        learner_search=(params.get("q") or "").strip() or None,
        after=cursor,
        limit=limit_param(params),
    )


def roster_view(db: Database, course_id: str, params: Mapping[str, str]) -> RosterView:
    """The page `params` ask for: `after` the next cursor of a page, or `before` the previous
    cursor of one (made in the other direction), or neither for the first page."""
    filters = {name: params.get(name) or "" for name in FILTER_FIELDS}
    before = params.get("before") or None
    backwards = before is not None
    query = query_of(params, before if backwards else params.get("after") or None, backwards)
    page = roster_page(db, course_id, query)
    items = list(reversed(page["items"])) if backwards else page["items"]
    forwards = query_of(params, None, backwards=False)
    more_before = page["next"] is not None if backwards else query.after is not None
    more_after = True if backwards else page["next"] is not None

    def link(name: str, cursor: str) -> str:
        kept = {k: v for k, v in filters.items() if v}
        return urlencode({**kept, name: cursor})

    next_query = (
        link("after", cursor_of(items[-1], forwards.sort, forwards.descending))
        if items and more_after
        else None
    )
    previous_query = (
        link("before", cursor_of(items[0], forwards.sort, not forwards.descending))
        if items and more_before
        else None
    )
    return RosterView(
        items=items,
        summary=page["summary"],
        projection_position=page["projection_position"],
        filters=filters,
        next_query=next_query,
        previous_query=previous_query,
    )
