"""Projection generations: what each one is, and rebuilds under new rules without downtime."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api.audit_schemas import (
    DiffOut,
    GenerationOut,
    ParkedEventOut,
    ParkedOut,
    ProjectionsOut,
    RebuildIn,
    RetryOut,
    SnapshotChangeOut,
)
from api.dependencies import Services
from bootstrap import LedgerServices
from projections.generations import Generation
from projections.rebuilds import diff_generations

router = APIRouter(prefix="/v1/projections", tags=["projections"])

GenerationNumber = Annotated[int, Path(ge=1, description="The rebuild's generation number")]


def generation_out(services: LedgerServices, generation: Generation, head: int) -> GenerationOut:
    return GenerationOut(
        generation=generation.number,
        projection="course_progress",
        rules=generation.rules,
        status=generation.status,
        position=generation.position,
        head=head,
        lag=max(0, head - generation.position),
        events_per_second=events_per_second(services, generation),
        created_at=generation.created_at,
        switched_at=generation.switched_at,
        error=services.rebuilds.error(generation.number),
    )


def events_per_second(services: LedgerServices, generation: Generation) -> float | None:
    """Measured by the rebuild thread when it runs here; otherwise the average since the
    generation was created (a rebuild run by the CLI)."""
    if generation.status != "building":
        return None
    measured = services.rebuilds.events_per_second(generation.number)
    if measured is not None:
        return round(measured, 1)
    if generation.created_at is None:
        return None
    elapsed = (datetime.now(UTC) - generation.created_at).total_seconds()
    return round(generation.position / elapsed, 1) if elapsed > 0 else None


@router.get("")
def list_projections(services: Services) -> ProjectionsOut:
    """Every generation of the progress projection: rules, status, position and lag."""
    head = services.ledger.head_position()
    return ProjectionsOut(
        head=head,
        generations=[generation_out(services, g, head) for g in services.generations.all()],
    )


def parked_out(services: LedgerServices, generation: int) -> list[ParkedEventOut]:
    return [
        ParkedEventOut(
            generation=p.generation,
            position=p.position,
            stream=p.stream,
            kind=p.kind,
            error=p.error,
            parked_at=p.parked_at,
        )
        for p in services.engine.parked.of_generation(generation)
    ]


@router.get("/parked")
def list_parked(services: Services) -> ParkedOut:
    """The live generation's parked events in log order: those it could not apply, and the
    later events of their streams, held behind them."""
    live = services.generations.live()
    return ParkedOut(generation=live.number, parked=parked_out(services, live.number))


@router.post("/parked:retry")
def retry_parked(services: Services) -> RetryOut:
    """Re-applies the live generation's parked events in order (after a fix: an upcaster,
    say); those that apply are released, the others stay parked with their new error."""
    live = services.generations.live()
    applied, _ = services.engine.retry(live.number)
    return RetryOut(
        generation=live.number, applied=applied, parked=parked_out(services, live.number)
    )


@router.post("/course_progress/rebuilds", status_code=status.HTTP_202_ACCEPTED)
def start_rebuild(body: RebuildIn, services: Services) -> GenerationOut:
    """Rebuild under `rules` beside the live generation, then switch (unless `dry_run`).

    Resumes the building generation under the same rules if there is one."""
    generation = services.rebuilds.start(body.rules, switch=not body.dry_run)
    return generation_out(services, generation, services.ledger.head_position())


@router.get("/course_progress/rebuilds/{generation}")
def get_rebuild(generation: GenerationNumber, services: Services) -> GenerationOut:
    """How far a rebuild has got."""
    found = services.rebuilds.rebuilder.generation(generation)
    return generation_out(services, found, services.ledger.head_position())


@router.delete("/course_progress/rebuilds/{generation}")
def cancel_rebuild(generation: GenerationNumber, services: Services) -> GenerationOut:
    """Cancel a building generation; its tables stay until `progress-ledger projections drop`."""
    cancelled = services.rebuilds.rebuilder.cancel(generation)
    return generation_out(services, cancelled, services.ledger.head_position())


@router.get("/course_progress/rebuilds/{generation}/diff")
def rebuild_diff(
    generation: GenerationNumber,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str | None, Query(description="The `next` cursor of the previous page")
    ] = None,
) -> DiffOut:
    """What switching to this generation would change: how many snapshots, and the learners
    whose percentage or completion moves, with old and new values."""
    candidate = services.rebuilds.rebuilder.generation(generation)
    live = services.generations.live()
    diff = diff_generations(services.db, live.number, candidate.number)
    keyed = sorted((f"{c.learner_id}/{c.course_id}", c) for c in diff.learners)
    learners = [c for key, c in keyed if after is None or key > after]
    page = learners[:limit]
    return DiffOut(
        generation=candidate.number,
        rules=candidate.rules,
        against=live.number,
        against_rules=live.rules,
        position=candidate.position,
        against_position=live.position,
        changed=diff.changed,
        learners=[
            SnapshotChangeOut(
                learner_id=c.learner_id,
                course_id=c.course_id,
                old_percentage=c.old_percentage,
                new_percentage=c.new_percentage,
                old_completed=c.old_completed,
                new_completed=c.new_completed,
            )
            for c in page
        ],
        next=f"{page[-1].learner_id}/{page[-1].course_id}" if len(learners) > limit else None,
    )
