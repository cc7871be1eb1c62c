"""Course structure: Course → Unit → Module."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from api.actors import acting_of
from api.dependencies import CourseId, ModuleId, Services, UnitId
from api.schemas import (
    CourseChanged,
    CourseIn,
    CourseOut,
    CoursePatch,
    ModuleAddIn,
    ModulePatch,
    UnitAddIn,
    UnitIn,
    UnitPatch,
)
from domain.commands import (
    ChangeCourse,
    Command,
    CourseChange,
    CreateCourse,
    adding_module,
    adding_unit,
    changing_threshold,
    changing_unit,
    removing_module,
    removing_unit,
)
from domain.course import Course, Module, Unit
from domain.errors import InvalidStructureError
from domain.xapi_commands import LinkActivity
from ledger.application import Recorded

router = APIRouter(prefix="/v1/courses", tags=["courses"])


def to_unit(unit: UnitIn) -> Unit:
    return Unit(
        unit_id=unit.unit_id,
        title=unit.title,
        required=unit.required,
        weight=unit.weight,
        modules=tuple(Module(m.module_id, m.title) for m in unit.modules),
    )


def changed(course_id: str, recorded: Recorded) -> CourseChanged:
    return CourseChanged(course_id=course_id, version=recorded.version, position=recorded.position)


def course_out(course: Course) -> CourseOut:
    return CourseOut.model_validate(course.as_spec())


async def change_course(
    services: Services, request: Request, course_id: str, change: CourseChange
) -> CourseChanged:
    recorded = await services.ledger.decide(ChangeCourse(course_id, change), acting_of(request))
    return changed(course_id, recorded)


def links_of(body: CourseIn) -> list[LinkActivity]:
    """The xAPI activity IRIs a new course, its units and modules carry."""
    links = [] if body.activity_id is None else [LinkActivity(body.activity_id, body.course_id)]
    for unit in body.units:
        if unit.activity_id is not None:
            links.append(LinkActivity(unit.activity_id, body.course_id, unit.unit_id))
        links.extend(
            LinkActivity(module.activity_id, body.course_id, unit.unit_id, module.module_id)
            for module in unit.modules
            if module.activity_id is not None
        )
    return links


async def change_and_link(
    services: Services,
    request: Request,
    course_id: str,
    change: CourseChange | None,
    link: LinkActivity | None,
) -> CourseChanged:
    """A course change and an activity link, written together or not at all."""
    commands: list[Command] = [] if change is None else [ChangeCourse(course_id, change)]
    if link is not None:
        commands.append(link)
    if not commands:
        raise InvalidStructureError("the body changes nothing", field="body")
    recorded = await services.ledger.decide_whole(commands, acting_of(request))
    version = (
        recorded[0].version
        if change is not None
        else (await run_in_threadpool(services.ledger.get_course, course_id)).version
    )
    return CourseChanged(course_id=course_id, version=version, position=recorded[-1].position)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_course(body: CourseIn, services: Services, request: Request) -> CourseChanged:
    """Create a course with its units and modules, and the percentage that completes it
    (with the xAPI activity IRIs they carry: written together, or not at all)."""
    units = [to_unit(unit) for unit in body.units]
    command = CreateCourse(body.course_id, body.title, units, body.completion_threshold)
    links = links_of(body)
    if not links:
        return changed(body.course_id, await services.ledger.decide(command, acting_of(request)))
    recorded = await services.ledger.decide_whole([command, *links], acting_of(request))
    return CourseChanged(
        course_id=body.course_id, version=recorded[0].version, position=recorded[-1].position
    )


@router.patch("/{course_id}")
async def change_threshold(
    course_id: CourseId, body: CoursePatch, services: Services, request: Request
) -> CourseChanged:
    """Change the completion threshold (every enrolled learner is recomputed), and/or link
    the course to an xAPI activity IRI (a statement about it completes every unit)."""
    threshold = body.completion_threshold
    change = None if threshold is None else changing_threshold(threshold)
    link = None if body.activity_id is None else LinkActivity(body.activity_id, course_id)
    return await change_and_link(services, request, course_id, change, link)


@router.get("/{course_id}", response_model_exclude_none=True)
def get_course(course_id: CourseId, services: Services) -> CourseOut:
    """The course's current structure."""
    return course_out(services.ledger.get_course(course_id))


@router.post("/{course_id}/units", status_code=status.HTTP_201_CREATED)
async def add_unit(
    course_id: CourseId, body: UnitAddIn, services: Services, request: Request
) -> CourseChanged:
    """Add a unit, at the end or at `position`; every enrolled learner's total changes."""
    change = adding_unit(to_unit(body), body.position)
    return await change_course(services, request, course_id, change)


@router.patch("/{course_id}/units/{unit_id}")
async def change_unit(
    course_id: CourseId, unit_id: UnitId, body: UnitPatch, services: Services, request: Request
) -> CourseChanged:
    """Change a unit's title, `required` or `weight`, or link it to an xAPI activity IRI;
    what is left out stays."""
    change = None
    if body.activity_id is None or (body.title, body.required, body.weight) != (None, None, None):
        change = changing_unit(unit_id, body.title, body.required, body.weight)
    link = None if body.activity_id is None else LinkActivity(body.activity_id, course_id, unit_id)
    return await change_and_link(services, request, course_id, change, link)


@router.delete("/{course_id}/units/{unit_id}")
async def remove_unit(
    course_id: CourseId, unit_id: UnitId, services: Services, request: Request
) -> CourseChanged:
    """Remove a unit; it leaves both the completed and the total counts."""
    change = removing_unit(unit_id)
    return await change_course(services, request, course_id, change)


@router.post("/{course_id}/units/{unit_id}/modules", status_code=status.HTTP_201_CREATED)
async def add_module(
    course_id: CourseId, unit_id: UnitId, body: ModuleAddIn, services: Services, request: Request
) -> CourseChanged:
    """Add a module to a unit."""
    change = adding_module(unit_id, Module(body.module_id, body.title), body.position)
    return await change_course(services, request, course_id, change)


@router.delete("/{course_id}/units/{unit_id}/modules/{module_id}")
async def remove_module(
    course_id: CourseId,
    unit_id: UnitId,
    module_id: ModuleId,
    services: Services,
    request: Request,
) -> CourseChanged:
    """Remove a module from a unit."""
    change = removing_module(unit_id, module_id)
    return await change_course(services, request, course_id, change)


@router.patch("/{course_id}/units/{unit_id}/modules/{module_id}")
async def change_module(
    course_id: CourseId,
    unit_id: UnitId,
    module_id: ModuleId,
    body: ModulePatch,
    services: Services,
    request: Request,
) -> CourseChanged:
    """Link a module to an xAPI activity IRI (a statement about it completes the module)."""
    link = LinkActivity(body.activity_id, course_id, unit_id, module_id)
    return await change_and_link(services, request, course_id, None, link)
