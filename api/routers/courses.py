"""Course structure: Course → Unit → Module."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from api.actors import acting_of
from api.dependencies import CourseId, ModuleId, Services, UnitId
from api.schemas import (
    CourseChanged,
    CourseIn,
    CourseOut,
    CoursePatch,
    ModuleAddIn,
    UnitAddIn,
    UnitIn,
    UnitPatch,
)
from domain.commands import (
    ChangeCourse,
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


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_course(body: CourseIn, services: Services, request: Request) -> CourseChanged:
    """Create a course with its units and modules, and the percentage that completes it."""
    units = [to_unit(unit) for unit in body.units]
    command = CreateCourse(body.course_id, body.title, units, body.completion_threshold)
    return changed(body.course_id, await services.ledger.decide(command, acting_of(request)))


@router.patch("/{course_id}")
async def change_threshold(
    course_id: CourseId, body: CoursePatch, services: Services, request: Request
) -> CourseChanged:
    """Change the completion threshold; every enrolled learner is recomputed."""
    change = changing_threshold(body.completion_threshold)
    return await change_course(services, request, course_id, change)


@router.get("/{course_id}")
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
    """Change a unit's title, `required` or `weight`; what is left out stays."""
    change = changing_unit(unit_id, body.title, body.required, body.weight)
    return await change_course(services, request, course_id, change)


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
