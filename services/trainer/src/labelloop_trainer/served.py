"""The metrics of what inference would serve: a set's models run over the holdout and decoded by
the one path inference takes (:func:`labelloop.visibility.decode_frame`), under each rule a slot
can stand for: visibility from two models or from ``pose_main``'s confidence alone; head boxes
from a detector or from the face points. A set without ``pose_visible`` or ``head`` is measured
under the rule only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime
from labelloop import FrameRef
from labelloop.events import FramePredictions, Person
from labelloop.model_set import HeadRule, ModelName, VisibilityRule
from labelloop.rig import Rig
from labelloop.visibility import Thresholds, decode_frame, iou
from labelloop.yolo import FloatArray, Letterbox, batch

from labelloop_trainer.dataset import Holdout
from labelloop_trainer.precision import average_precision
from labelloop_trainer.yolo_data import LabeledFrame

BATCH = 8
VISIBILITY_OUTPUTS: dict[VisibilityRule, tuple[ModelName, ...]] = {
    "main-confidence": ("pose_main",),
    "two-model": ("pose_main", "pose_visible"),
}
HEAD_OUTPUTS: dict[HeadRule, tuple[ModelName, ...]] = {
    "face-keypoints": ("pose_main",),
    "detector": ("pose_main", "head"),
}
Outputs = dict[ModelName, FloatArray]
Detections = list[tuple[float, str, tuple[float, float, float, float]]]


def metric_name(metric: str, rule: str) -> str:
    """``visibility_accuracy`` under ``two-model`` → ``visibility_accuracy_two_model``."""
    return f"{metric}_{rule.replace('-', '_')}"


@dataclass(frozen=True)
class _Served:
    """One holdout frame through the set: the batch's raw outputs, its place in the batch, its letterbox."""

    frame: LabeledFrame
    outputs: Outputs
    index: int
    fit: Letterbox
    rig: Rig
    _decoded: dict[tuple[ModelName, ...], FramePredictions] = field(default_factory=dict, compare=False, repr=False)

    def decoded(self, models: tuple[ModelName, ...]) -> FramePredictions:
        """The predictions inference would publish from ``models``' outputs alone; decoded once per set
        of outputs (the main-confidence and the face-point rules both read ``pose_main``'s alone)."""
        if models not in self._decoded:
            height, width = self.frame.image.shape[:2]
            ref = FrameRef(uri=f"s3://holdout/{self.frame.name}.jpg", frame_no=self.index, timestamp_s=0.0,
                           width=width, height=height)  # fmt: skip
            outputs: dict[str, FloatArray] = {model: self.outputs[model] for model in models}
            self._decoded[models] = decode_frame(outputs, self.index, self.fit, ref, rig=self.rig,
                                                 thresholds=Thresholds())  # fmt: skip
        return self._decoded[models]


def _run(onnx: Mapping[ModelName, Path], frames: list[LabeledFrame], imgsz: int, rig: Rig) -> Iterator[_Served]:
    """Every frame through every model of the set, a batch at a time."""
    sessions = {
        model: onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for model, path in onnx.items()
    }
    for start in range(0, len(frames), BATCH):
        chunk = frames[start : start + BATCH]
        tensor, fits = batch([frame.image for frame in chunk], imgsz)
        outputs: Outputs = {model: session.run(None, {"images": tensor})[0] for model, session in sessions.items()}
        for index, frame in enumerate(chunk):
            yield _Served(frame, outputs, index, fits[index], rig)


def served_metrics(onnx: Mapping[ModelName, Path], holdout: Holdout, *, imgsz: int) -> dict[str, float]:
    """``visibility_accuracy_<rule>`` and ``head_map50_<rule>`` for every rule the set's models allow."""
    visibility_rules = [rule for rule, needs in VISIBILITY_OUTPUTS.items() if set(needs) <= set(onnx)]
    head_rules = [rule for rule, needs in HEAD_OUTPUTS.items() if set(needs) <= set(onnx)]
    keypoint_frames = {frame.name for frame in holdout.frames["pose_main"]}
    head_frames = {frame.name for frame in holdout.frames["head"]}
    frames = list({frame.name: frame for model in ("pose_main", "head") for frame in holdout.frames[model]}.values())
    right = dict.fromkeys(visibility_rules, 0)
    points = 0
    detections: dict[HeadRule, Detections] = {rule: [] for rule in head_rules}
    for served in _run(onnx, frames, imgsz, holdout.rig):
        name = served.frame.name
        if name in keypoint_frames:
            points += len(holdout.rig) * len(served.frame.persons)
            for rule in visibility_rules:
                predicted = served.decoded(VISIBILITY_OUTPUTS[rule]).persons
                right[rule] += right_visibilities(served.frame, predicted)
        if name in head_frames:
            for head_rule in head_rules:
                detections[head_rule] += [
                    (head.confidence, name, (head.left, head.top, head.width, head.height))
                    for head in served.decoded(HEAD_OUTPUTS[head_rule]).heads
                ]
    truths = {frame.name: frame.heads for frame in holdout.frames["head"]}
    return {
        **{metric_name("visibility_accuracy", rule): right[rule] / points if points else 0.0 for rule in right},
        **{metric_name("head_map50", rule): average_precision(found, truths) for rule, found in detections.items()},
    }


def right_visibilities(frame: LabeledFrame, predicted: list[Person]) -> int:
    """How many of the frame's true points the predicted persons give the right visibility
    (each true person matched to the predicted one its box overlaps most, from IoU 0.5)."""
    right = 0
    for truth in frame.persons:
        overlap, match = max(
            ((iou(truth.box, (p.box.left, p.box.top, p.box.width, p.box.height)), p) for p in predicted),
            key=lambda pair: pair[0],
            default=(0.0, None),
        )
        if match is not None and overlap >= 0.5:
            right += sum(point.visibility == truth.keypoints[point.name][2] for point in match.keypoints)
    return right
