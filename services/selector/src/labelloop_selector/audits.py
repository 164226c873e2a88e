"""selector: people's labels of audited frames → the model's accuracy → the threshold in force.

LabelsCompleted of an audited frame (``audit``): the labelled line (people's answer beside the
model's pre-fill, which is exactly what auto-accepting the frame would have stored) is scored per
measure, recorded for the frame's model versions, and the versions' calibration recomputed: with
stated targets, the lowest threshold their audits prove (calibration.py), else the fixed
threshold's estimate. A changed threshold is stored, logged and announced as ThresholdChanged.
Labels of frames that were not audits are not evidence (their scores chose them) and are ignored.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labelloop import LabelsCompleted, PermanentError, RetryableError, ThresholdChanged, deterministic_id, get_logger
from labelloop.events import MeasureEstimate
from labelloop.groundtruth import PREFILL_ATTRIBUTE, JobSpec, judgement
from labelloop.label_quality import frame_measures, labels_of, score
from labelloop.model_set import ModelName
from labelloop.s3_uri import split_s3_uri

from labelloop_selector.calibration import TARGET_MEASURES, Estimate, calibrate, estimate_at, frame_threshold
from labelloop_selector.calibration_store import Calibration
from labelloop_selector.policy import frame_key, version_tag

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labelloop_selector.deps import Deps

log = get_logger()


def audit_values(line: dict[str, Any], spec: JobSpec) -> dict[str, float]:
    """The model's labels of a labelled line scored against people's, per measure of the job's modality."""
    modality = spec.modality
    answer = line.get(spec.label_attribute)
    if not isinstance(answer, dict):
        raise PermanentError(f"the labelled line of {line.get('source-ref')!r} has no {modality} answer")
    model = (line.get(PREFILL_ATTRIBUTE) or {}).get(modality) or {}
    found = score(labels_of({modality: model}), labels_of({modality: answer}))
    return {measure: value for measure, value in frame_measures(found).items() if TARGET_MEASURES[measure] == modality}


def handle_labels_completed(event: LabelsCompleted, deps: Deps) -> None:
    if not event.audit:
        return
    bucket, key = split_s3_uri(event.output_uri)
    line = json.loads(deps.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    judged = judgement(line)
    if not isinstance(judged.get("score"), int | float) or not isinstance(judged.get("model_versions"), dict):
        raise PermanentError(f"audit {event.output_uri} does not say which score and model versions judged it")
    model_versions: dict[ModelName, str] = judged["model_versions"]
    versions = version_tag(model_versions)
    values = audit_values(line, JobSpec(event.modality, event.level))
    deps.calibrations.record_audit(
        frame_key(event.frame.uri, versions), event.modality, versions, float(judged["score"]), values
    )
    recalibrate(deps, versions, model_versions)


def estimates_for(deps: Deps, versions: str) -> tuple[float | None, dict[str, Estimate]]:
    """The threshold the versions' audits support and the estimate of each measure behind it."""
    audits = deps.calibrations.audits(versions)
    settings = deps.settings
    if not settings.targets:  # a fixed threshold: what auto-accepting above it gives, per measure audited
        estimates = {m: estimate_at(found, m, settings.threshold, settings.confidence) for m, found in audits.items()}
        return settings.threshold, estimates
    estimates = {
        measure: calibrate(audits.get(measure, []), measure, target, settings.confidence, settings.min_audits)
        for measure, target in settings.targets.items()
    }
    return frame_threshold(estimates), estimates


def recalibrate(deps: Deps, versions: str, model_versions: Mapping[ModelName, str]) -> Calibration:
    """Recompute and store the versions' calibration; announce the threshold if it changed."""
    stored = deps.calibrations.calibration(versions)
    threshold, estimates = estimates_for(deps, versions)
    saved = deps.calibrations.save(stored, threshold, sorted(estimates.values(), key=lambda e: e.measure),
                                   model_versions)  # fmt: skip
    if saved is None:
        raise RetryableError(f"the calibration of {versions} changed while it was recomputed")
    if saved.revision != stored.revision:
        log.info("selector.threshold_changed", versions=versions, threshold=threshold, previous=stored.threshold,
                 revision=saved.revision, **{e.measure: e.bound for e in estimates.values()})  # fmt: skip
    if saved.revision > saved.announced:  # this change, or one whose announcement a crash cut short
        announce(deps, saved)
    return saved


def announce(deps: Deps, calibration: Calibration) -> None:
    deps.publisher.publish(
        ThresholdChanged(
            event_id=deterministic_id("ThresholdChanged", calibration.versions, calibration.revision),
            correlation_id=calibration.versions,
            model_versions=calibration.model_versions,
            threshold=calibration.threshold,
            previous=calibration.previous,
            revision=calibration.revision,
            confidence=deps.settings.confidence,
            estimates=[MeasureEstimate(**estimate.as_dict()) for estimate in calibration.estimates],
        )
    )
    deps.calibrations.mark_announced(calibration.versions, calibration.revision)
