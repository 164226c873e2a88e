"""``labelloop selector``: per set of model versions, the threshold in force and the audits behind it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from labelloop_selector.for_tools import CalibrationStore, Estimate
from rich.table import Table

from labelloop_tools.cli._target import Target


@dataclass(frozen=True)
class CalibrationRow:
    versions: str  # head=2,pose_main=2,pose_visible=2
    threshold: float | None  # None: none proven, every frame goes to people (and is audited)
    revision: int  # threshold changes so far
    measure: str | None  # None: no audit scored yet
    target: float | None  # None: no target stated, the fixed threshold's estimate
    audits: int  # audits at or above the threshold
    mean: float | None
    bound: float | None  # lower confidence bound of the accuracy above the threshold

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def calibration_rows(target: Target) -> list[CalibrationRow]:
    """Newest model versions first; one row per measure."""
    store = CalibrationStore(target.clients.dynamodb, target.names.physical("selector-state"), fixed_threshold=None)
    rows = []
    for calibration in store.calibrations():
        estimates: list[Estimate | None] = [*calibration.estimates] or [None]
        for estimate in estimates:
            rows.append(CalibrationRow(
                calibration.versions, calibration.threshold, calibration.revision,
                estimate.measure if estimate else None, estimate.target if estimate else None,
                estimate.audits if estimate else 0, estimate.mean if estimate else None,
                estimate.bound if estimate else None,
            ))  # fmt: skip
    return rows


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def calibration_table(rows: list[CalibrationRow], stack: str) -> Table:
    """A bound short of its target in red; no threshold proven in yellow."""
    table = Table(title=f"selector thresholds of stack {stack}")
    for column in ("model versions", "threshold", "changes", "measure", "target", "audits", "mean", "bound"):
        table.add_column(column, justify="left" if column in {"model versions", "measure"} else "right")
    for row in rows:
        threshold = "[yellow]none proven: all to people[/]" if row.threshold is None else _number(row.threshold)
        met = row.target is None or (row.bound is not None and row.bound >= row.target)
        bound = _number(row.bound) if met else f"[red]{_number(row.bound)}[/]"
        table.add_row(row.versions, threshold, str(row.revision), row.measure or "-", _number(row.target),
                      str(row.audits), _number(row.mean), bound)  # fmt: skip
    return table
