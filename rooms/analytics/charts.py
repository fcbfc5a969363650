"""Charts as server-rendered SVG: the geometry here (no Django), the markup in the templates.

No script draws them and the Content-Security-Policy allows no inline style: shapes carry their
geometry in attributes and their look in classes of static/css/site.css. Every chart has a data
table beside it (for screen readers, and for anyone who wants the numbers).
"""

from dataclasses import dataclass

WIDTH = 600
HEIGHT = 180
PAD_LEFT = 36
PAD_RIGHT = 8
PAD_TOP = 10
PAD_BOTTOM = 22


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    points: list[tuple[float, float]]
    top: int  # the value at the top of the chart
    baseline: float  # y of zero
    top_y: float  # y of `top`
    left: float
    right: float

    @property
    def points_attr(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)

    @property
    def area_attr(self) -> str:
        """The line closed down to the baseline, for a filled area under it."""
        if not self.points:
            return ""
        first, last = self.points[0], self.points[-1]
        return f"{first[0]:.1f},{self.baseline:.1f} {self.points_attr} {last[0]:.1f},{self.baseline:.1f}"


def _top(values: list[int]) -> int:
    return max(1, max(values, default=0))


def line_chart(
    values: list[int], *, width: int = WIDTH, height: int = HEIGHT, padded: bool = True
) -> LineChart:
    """A line through `values`, evenly spaced left to right, 0 at the bottom and the largest value
    at the top."""
    left, right = (PAD_LEFT, width - PAD_RIGHT) if padded else (1, width - 1)
    top_y, bottom_y = (PAD_TOP, height - PAD_BOTTOM) if padded else (2, height - 2)
    top = _top(values)
    step = (right - left) / (len(values) - 1) if len(values) > 1 else 0
    points = [(left + i * step, bottom_y - (v / top) * (bottom_y - top_y)) for i, v in enumerate(values)]
    return LineChart(width, height, points, top, bottom_y, top_y, left, right)


def value_at(chart: LineChart, y: float) -> float:
    """The value a point at height `y` stands for (the inverse of line_chart's scale)."""
    return (chart.baseline - y) / (chart.baseline - chart.top_y) * chart.top


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str


def bar_chart(items: list[tuple[str, int]], *, width: int = WIDTH, height: int = HEIGHT) -> list[Bar]:
    """One bar per (label, value), side by side."""
    if not items:
        return []
    top = _top([v for _, v in items])
    left, right = PAD_LEFT, width - PAD_RIGHT
    bottom, space = height - PAD_BOTTOM, height - PAD_BOTTOM - PAD_TOP
    slot = (right - left) / len(items)
    bar_width = max(2.0, slot * 0.7)
    bars = []
    for i, (label, value) in enumerate(items):
        h = value / top * space
        bars.append(Bar(left + i * slot + (slot - bar_width) / 2, bottom - h, bar_width, h, value, label))
    return bars
