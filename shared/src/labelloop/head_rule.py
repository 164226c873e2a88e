"""Head boxes without a head model: derived from a person's face keypoints.

A pose model places the nose, eyes and ears; a head box is the region around them. Measured
proportions of adult heads (ear to ear ≈ head breadth; eye to eye ≈ 0.42 of it; head height ≈
1.3 x breadth; the eyes sit a little above the head's middle) turn the face points into a box:

* two or more face points: centre on the face points, breadth the widest of the ear span, twice
  the eye span (2.2x), the face points' own spread, 0.4 x the shoulder span (a face seen
  edge-on has its points on a line) and 0.08 x the person box's height (a person seen from the
  side has its shoulders on a line too: a standing adult is about 7.5 heads tall);
* fewer (the face turned away): a head of 0.45 x the shoulder span, its centre half a shoulder
  span above the shoulders' midpoint;
* neither: no head box.

The box's confidence is the person's, times the mean confidence of the points used (0.5 for the
shoulder estimate), so the selector sends doubtful ones to people. Once people have corrected
enough head boxes, a trained ``head`` detector replaces this rule (only if it beats it on the holdout).
"""

from __future__ import annotations

import numpy as np

from labelloop.rig import Rig
from labelloop.yolo import Detection, FloatArray

HEAD_HEIGHT_PER_BREADTH = 1.3
EYE_SPAN_PER_BREADTH = 1 / 2.2
SHOULDER_SPAN_PER_BREADTH = 1 / 0.4
TURNED_AWAY_BREADTH = 0.45  # of the shoulder span
TURNED_AWAY_RISE = 0.5  # of the shoulder span, from the shoulders' midpoint to the head's centre
EYES_ABOVE_CENTRE = 0.05  # of the head height: the centre lies this much below the eyes
SHOULDER_ESTIMATE_CONFIDENCE = 0.5
MIN_BREADTH_PER_PERSON_HEIGHT = 0.08


def head_from_keypoints(person: Detection, rig: Rig, *, min_confidence: float) -> Detection | None:
    """The head box of ``person`` (frame pixels) from its keypoints, or None when it has neither
    face nor shoulders. Points at or below ``min_confidence`` are ignored."""
    points = {
        name: (float(x), float(y), float(conf))
        for name, (x, y, conf) in zip(rig.keypoints, person.keypoints, strict=True)
        if conf > min_confidence
    }
    face = {name: points[name] for name in rig.head_points if name in points}
    shoulders = _span(points, "left_shoulder", "right_shoulder")
    if len(face) >= 2:
        return _face_box(person, face, points, shoulders)
    if shoulders is not None:
        return _turned_away_box(person, points, shoulders)
    return None


def _span(points: dict[str, tuple[float, float, float]], a: str, b: str) -> float | None:
    if a in points and b in points:
        return float(((points[a][0] - points[b][0]) ** 2 + (points[a][1] - points[b][1]) ** 2) ** 0.5)
    return None


def _face_box(
    person: Detection,
    face: dict[str, tuple[float, float, float]],
    points: dict[str, tuple[float, float, float]],
    shoulders: float | None,
) -> Detection:
    xs, ys = [p[0] for p in face.values()], [p[1] for p in face.values()]
    spread = max(max(xs) - min(xs), max(ys) - min(ys))
    candidates = [spread]
    if (ears := _span(points, "left_ear", "right_ear")) is not None:
        candidates.append(ears)
    if (eyes := _span(points, "left_eye", "right_eye")) is not None:
        candidates.append(eyes / EYE_SPAN_PER_BREADTH)
    if shoulders is not None:
        candidates.append(shoulders / SHOULDER_SPAN_PER_BREADTH)
    candidates.append(MIN_BREADTH_PER_PERSON_HEIGHT * person.box[3])
    breadth = max(candidates)
    height = breadth * HEAD_HEIGHT_PER_BREADTH
    eye_ys = [points[name][1] for name in ("left_eye", "right_eye") if name in points]
    centre_y = (sum(eye_ys) / len(eye_ys) if eye_ys else sum(ys) / len(ys)) + EYES_ABOVE_CENTRE * height
    centre_x = sum(xs) / len(xs)
    confidence = person.confidence * sum(p[2] for p in face.values()) / len(face)
    return _detection(centre_x, centre_y, breadth, height, confidence)


def _turned_away_box(person: Detection, points: dict[str, tuple[float, float, float]], shoulders: float) -> Detection:
    left, right = points["left_shoulder"], points["right_shoulder"]
    breadth = TURNED_AWAY_BREADTH * shoulders
    centre_x, shoulder_y = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
    confidence = person.confidence * SHOULDER_ESTIMATE_CONFIDENCE * min(left[2], right[2])
    return _detection(centre_x, shoulder_y - TURNED_AWAY_RISE * shoulders, breadth,
                      breadth * HEAD_HEIGHT_PER_BREADTH, confidence)  # fmt: skip


def _detection(centre_x: float, centre_y: float, width: float, height: float, confidence: float) -> Detection:
    empty: FloatArray = np.zeros((0, 3), np.float32)
    return Detection(box=(centre_x - width / 2, centre_y - height / 2, width, height), confidence=confidence,
                     keypoints=empty)  # fmt: skip
