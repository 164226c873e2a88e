"""The seed's visibility rule, and how the two pose models' outputs are paired to apply it.

``pose_main`` was trained on every labeled point (visible or occluded) and ``pose_visible`` on
visible points only, so per point (the **two-model** rule):

* main confidence > T_main and visible confidence > T_vis → ``visible``;
* main confidence > T_main only → ``occluded`` (the model knows where it is but cannot see it);
* otherwise → ``outside`` (of the view), as is any point placed beyond the frame's edges.

A model set without a fine-tuned ``pose_visible`` (the real COCO-17 set as shipped) uses the
**main-confidence** rule: ``pose_visible`` is taken to be a copy of ``pose_main``, so one
confidence feeds both tests, with T_main replaced by the lower ``single_model_main`` (default
0.3). YOLO-pose's keypoint confidence says "labelled here" rather than "seen", and in COCO
occluded points are the minority that get middling confidences, so: > 0.6 visible, (0.3, 0.6]
occluded, else outside. A set without a ``head`` model derives head boxes from the face points
(:mod:`labelloop.head_rule`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelloop.events import Box, FramePredictions, FrameRef, Keypoint, Person, Visibility
from labelloop.head_rule import head_from_keypoints
from labelloop.rig import Rig
from labelloop.yolo import Detection, FloatArray, Letterbox, decode


@dataclass(frozen=True)
class Thresholds:
    main: float = 0.6
    visible: float = 0.6
    pairing_iou: float = 0.5  # a pose_visible person counts as the same person above this box IoU
    single_model_main: float = 0.3
    """T_main of the main-confidence rule (no pose_visible model): a point exists above this."""

    def single_model(self) -> Thresholds:
        """The thresholds of the main-confidence rule."""
        return Thresholds(self.single_model_main, self.visible, self.pairing_iou, self.single_model_main)


def visibility(main_confidence: float, visible_confidence: float, thresholds: Thresholds) -> Visibility:
    """The rule for one point."""
    if main_confidence > thresholds.main:
        return "visible" if visible_confidence > thresholds.visible else "occluded"
    return "outside"


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    width = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    height = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    overlap = width * height
    union = a[2] * a[3] + b[2] * b[3] - overlap
    return overlap / union if union > 0 else 0.0


def pair(main: list[Detection], visible: list[Detection], min_iou: float) -> list[Detection | None]:
    """For each ``pose_main`` person, the ``pose_visible`` person covering the same box (or None).

    Greedy by IoU, each visible person used at most once: two people side by side in a cabin must
    not both borrow one person's visibility.
    """
    pairs = sorted(((iou(m.box, v.box), i, j) for i, m in enumerate(main) for j, v in enumerate(visible)), reverse=True)
    matched: list[Detection | None] = [None] * len(main)
    used: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if matched[i] is None and j not in used:
            matched[i] = visible[j]
            used.add(j)
    return matched


def frame_predictions(
    frame: FrameRef,
    *,
    main: list[Detection],
    visible: list[Detection] | None,
    heads: list[Detection],
    keypoint_names: tuple[str, ...],
    thresholds: Thresholds,
) -> FramePredictions:
    """One frame's contract value from the three models' decoded detections; ``visible`` None:
    no pose_visible model, the main-confidence rule applies."""
    persons = []
    partners: list[Detection | None] = (
        pair(main, visible, thresholds.pairing_iou) if visible is not None else list(main)
    )
    if visible is None:
        thresholds = thresholds.single_model()
    for person, partner in zip(main, partners, strict=True):
        visible_conf = partner.keypoints[:, 2] if partner is not None else np.zeros(len(keypoint_names), np.float32)
        points = []
        for name, (x, y, main_raw), visible_raw in zip(keypoint_names, person.keypoints, visible_conf, strict=True):
            # The rule sees the confidences exactly as published, so every consumer can re-derive it
            # (float32 0.6 is 0.6000000238, which would otherwise pass "> 0.6").
            main_conf, vis_conf = _published(main_raw), _published(visible_raw)
            points.append(
                Keypoint(
                    name=name,
                    x=round(float(x), 2),
                    y=round(float(y), 2),
                    main_confidence=main_conf,
                    visible_confidence=vis_conf,
                    # A point placed beyond the frame is outside the view, however sure the model is.
                    visibility=visibility(main_conf, vis_conf, thresholds)
                    if 0 <= x <= frame.width and 0 <= y <= frame.height
                    else "outside",
                )
            )
        committee = disagreement(person, partner) if visible is not None else None
        persons.append(Person(box=_box(person, "person"), keypoints=points, disagreement=committee))
    return FramePredictions(frame=frame, heads=[_box(head, "head") for head in heads], persons=persons)


def disagreement(main: Detection, partner: Detection | None) -> float | None:
    """How differently the two pose models place one person's points: their mean distance over the
    box diagonal (4 decimals). Query by committee: frames where it is high are the ones whose
    points the models are unsure *where* to put, which confidences alone do not show."""
    if partner is None:
        return None
    _, _, width, height = main.box
    offsets = main.keypoints[:, :2] - partner.keypoints[:, :2]
    mean = float(np.hypot(offsets[:, 0], offsets[:, 1]).mean()) if len(offsets) else 0.0
    return round(mean / max(math.hypot(width, height), 1.0), 4)


def _published(confidence: float | np.floating[Any]) -> float:
    """A confidence as it appears in events: 4 decimals, within [0, 1]."""
    return min(1.0, max(0.0, round(float(confidence), 4)))


def _box(detection: Detection, label: str) -> Box:
    left, top, width, height = detection.box
    return Box(
        left=round(left, 2),
        top=round(top, 2),
        width=round(width, 2),
        height=round(height, 2),
        confidence=_published(detection.confidence),
        label=label,
    )


@dataclass(frozen=True)
class DecodeOptions:
    conf_threshold: float = 0.25
    iou_threshold: float = 0.6
    max_detections: int = 6


def decode_frame(
    outputs: Mapping[str, FloatArray],
    index: int,
    fit: Letterbox,
    frame: FrameRef,
    *,
    rig: Rig,
    thresholds: Thresholds,
    options: DecodeOptions = DecodeOptions(),
) -> FramePredictions:
    """Frame ``index`` of a batch's raw outputs (``pose_main``, and ``pose_visible`` and ``head``
    when the set has them) → its predictions. The one path from network output to contract:
    inference, the trainer's evaluation and the benchmarks all take it. Without ``pose_visible``
    the main-confidence rule applies; without ``head``, head boxes come from the face points.
    ValueError when an output does not fit the rig."""

    def detections(model: str, keypoints: int) -> list[Detection]:
        return decode(outputs[model][index], fit, (frame.width, frame.height), keypoints=keypoints,
                      conf_threshold=options.conf_threshold, iou_threshold=options.iou_threshold,
                      max_detections=options.max_detections)  # fmt: skip

    main = detections("pose_main", len(rig))
    if "head" in outputs:
        heads = detections("head", 0)
    else:
        derived = (head_from_keypoints(person, rig, min_confidence=thresholds.single_model_main) for person in main)
        clipped = (_clipped(head, frame) for head in derived if head is not None)
        heads = [head for head in clipped if head.box[2] > 0 and head.box[3] > 0]  # wholly off the frame: none
    return frame_predictions(
        frame,
        main=main,
        visible=detections("pose_visible", len(rig)) if "pose_visible" in outputs else None,
        heads=heads,
        keypoint_names=rig.keypoints,
        thresholds=thresholds,
    )


def _clipped(head: Detection, frame: FrameRef) -> Detection:
    """A derived head box cut to the frame (a head at the top edge extends above it)."""
    left, top, width, height = head.box
    x1, y1 = max(0.0, left), max(0.0, top)
    x2, y2 = min(float(frame.width), left + width), min(float(frame.height), top + height)
    return Detection(box=(x1, y1, max(0.0, x2 - x1), max(0.0, y2 - y1)), confidence=head.confidence,
                     keypoints=head.keypoints)  # fmt: skip
