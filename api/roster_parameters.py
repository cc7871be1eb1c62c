"""A roster's query parameters, as the JSON roster and its CSV both take them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from projections.roster_queries import MAX_PAGE, RosterQuery

Status = Literal["in_progress", "completed", "withdrawn"]
Sort = Literal["learner_id", "percentage", "updated_at"]
Percentage = Annotated[float | None, Query(ge=0, le=100)]


def roster_query(
    status: Annotated[
        Status | None,
        Query(description="Only learners in progress, who completed, or who withdrew"),
    ] = None,
    min_percentage: Percentage = None,
    max_percentage: Percentage = None,
    sort: Annotated[Sort, Query(description="The order of the learners")] = "learner_id",
    descending: Annotated[bool, Query(description="Highest first")] = False,
    learner: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Learners whose id contains this"),
    ] = None,
    after: Annotated[
        str | None,
        Query(max_length=1000, description="The `next` cursor of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> RosterQuery:
    return RosterQuery(
        status=status,
        min_percentage=min_percentage,
        max_percentage=max_percentage,
        sort=sort,
        descending=descending,
        learner_search=learner,
        after=after,
        limit=limit,
    )
