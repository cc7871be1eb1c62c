"""Progress rules: named, versioned, pure functions from course structure and completions to
numbers. A rule is never edited in place; a changed rule gets a new name and a rebuild."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from domain.course import Unit

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Progress:
    completed_units: int
    total_units: int
    percentage: float
    # Unrounded, for averages over enrollments (a roster's): rounding happens once, after.
    exact_percentage: float


Rule = Callable[[Sequence[Unit], Collection[str]], Progress]


def rounded(exact: Decimal) -> float:
    """The one rounding of every percentage shown: two decimals, half up."""
    return float(exact.quantize(CENT, rounding=ROUND_HALF_UP))


def percentage(done: Decimal, total: Decimal) -> float:
    """Two decimals, rounded half up; a course without units is 0 %, not a division error."""
    return rounded(exact_percentage(done, total))


def exact_percentage(done: Decimal, total: Decimal) -> Decimal:
    return done * HUNDRED / total if total > 0 else Decimal(0)


@lru_cache(maxsize=65_536)
def count_percentage(done: int, total: int) -> float:
    """`percentage` of two counts; a rebuild asks for the same few pairs millions of times."""
    return percentage(Decimal(done), Decimal(total))


def units_v1(units: Sequence[Unit], completed_unit_ids: Collection[str]) -> Progress:
    """Completed units / all units × 100."""
    done, total = sum([unit.unit_id in completed_unit_ids for unit in units]), len(units)
    exact = 100 * done / total if total else 0.0
    return Progress(done, total, count_percentage(done, total), exact)


def required_units_v2(units: Sequence[Unit], completed_unit_ids: Collection[str]) -> Progress:
    """Only required units count; optional ones neither help nor hold back."""
    return units_v1([unit for unit in units if unit.required], completed_unit_ids)


def weighted_v1(units: Sequence[Unit], completed_unit_ids: Collection[str]) -> Progress:
    """Units count by their weight; the unit counts stay plain counts."""
    done = [unit for unit in units if unit.unit_id in completed_unit_ids]
    weight_done = sum((Decimal(str(unit.weight)) for unit in done), Decimal(0))
    weight_total = sum((Decimal(str(unit.weight)) for unit in units), Decimal(0))
    exact = exact_percentage(weight_done, weight_total)
    return Progress(len(done), len(units), rounded(exact), float(exact))


DEFAULT_RULES = "units-v1"

RULES: dict[str, Rule] = {
    "units-v1": units_v1,
    "required-units-v2": required_units_v2,
    "weighted-v1": weighted_v1,
}


def rule_named(name: str) -> Rule:
    try:
        return RULES[name]
    except KeyError:
        known = ", ".join(sorted(RULES))
        raise ValueError(f"unknown rules {name!r}; known rules: {known}") from None
