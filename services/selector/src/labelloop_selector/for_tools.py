"""What the selector makes public for ``labelloop_tools`` (``labelloop selector``, the demo's
report) and nothing else: tools import a service only through such a module, so the service stays
free to rearrange the rest."""

from __future__ import annotations

from labelloop_selector.calibration import Estimate
from labelloop_selector.calibration_store import Calibration, CalibrationStore
from labelloop_selector.policy import version_tag

__all__ = ["Calibration", "CalibrationStore", "Estimate", "version_tag"]
