"""Course structure: Course → Unit → Module."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.dependencies import CourseId, ModuleId, Services, UnitId
from api.schemas import CourseChanged, CourseIn, CourseOut, ModuleAddIn, UnitAddIn, UnitIn
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


@router.post("", status_code=status.HTTP_201_CREATED)
def create_course(body: CourseIn, services: Services) -> CourseChanged:
    """Create a course with its units and modules."""
    recorded = services.ledger.create_course(
        body.course_id, body.title, [to_unit(unit) for unit in body.units]
    )
    return changed(body.course_id, recorded)


@router.get("/{course_id}")
def get_course(course_id: CourseId, services: Services) -> CourseOut:
    """The course's current structure."""
    return course_out(services.ledger.get_course(course_id))


@router.post("/{course_id}/units", status_code=status.HTTP_201_CREATED)
def add_unit(course_id: CourseId, body: UnitAddIn, services: Services) -> CourseChanged:
    """Add a unit, at the end or at `position`; every enrolled learner's total changes."""
    return changed(course_id, services.ledger.add_unit(course_id, to_unit(body), body.position))


@router.delete("/{course_id}/units/{unit_id}")
def remove_unit(course_id: CourseId, unit_id: UnitId, services: Services) -> CourseChanged:
    """Remove a unit; it leaves both the completed and the total counts."""
    return changed(course_id, services.ledger.remove_unit(course_id, unit_id))


@router.post("/{course_id}/units/{unit_id}/modules", status_code=status.HTTP_201_CREATED)
def add_module(
    course_id: CourseId, unit_id: UnitId, body: ModuleAddIn, services: Services
) -> CourseChanged:
    """Add a module to a unit."""
    module = Module(body.module_id, body.title)
    return changed(course_id, services.ledger.add_module(course_id, unit_id, module, body.position))


@router.delete("/{course_id}/units/{unit_id}/modules/{module_id}")
def remove_module(
    course_id: CourseId, unit_id: UnitId, module_id: ModuleId, services: Services
) -> CourseChanged:
    """Remove a module from a unit."""
    return changed(course_id, services.ledger.remove_module(course_id, unit_id, module_id))
