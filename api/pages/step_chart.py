"""A step chart of a learner's percentage over time, as the points of an inline SVG path:
the percentage holds until the next event moves it, so each step is flat then vertical."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT = 640, 200
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 12, 10, 24


@dataclass(frozen=True)
class StepChart:
    path: str  # the SVG path's `d`
    points: list[tuple[float, float]]  # one dot per event, where its percentage starts
    y_ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    width: int = WIDTH
    height: int = HEIGHT


def step_chart(steps: list[tuple[datetime, float]]) -> StepChart:
    """`steps`: (when, percentage after it), in order; the last step runs to the right edge."""
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def y(percentage: float) -> float:
        return round(MARGIN_TOP + plot_height * (1 - percentage / 100), 1)

    y_ticks = [(y(p), f"{p}%") for p in (0, 25, 50, 75, 100)]
    if not steps:
        return StepChart("", [], y_ticks, [])
    start = steps[0][0].timestamp()
    span = max(steps[-1][0].timestamp() - start, 1e-6)
    # The last step gets a tenth of the width, so a final jump is visible.
    scale = plot_width / (span * 1.1) if len(steps) > 1 else 0.0

    def x(moment: datetime) -> float:
        return round(MARGIN_LEFT + (moment.timestamp() - start) * scale, 1)

    points = [(x(moment), y(percentage)) for moment, percentage in steps]
    commands = [f"M {points[0][0]} {points[0][1]}"]
    for next_x, next_y in points[1:]:
        commands.append(f"H {next_x} V {next_y}")
    commands.append(f"H {MARGIN_LEFT + plot_width}")
    first, last = steps[0][0], steps[-1][0]
    x_labels = [(points[0][0], first.strftime("%Y-%m-%d %H:%M"))]
    if len(steps) > 1:
        x_labels.append((points[-1][0], last.strftime("%Y-%m-%d %H:%M")))
    return StepChart(" ".join(commands), points, y_ticks, x_labels)
