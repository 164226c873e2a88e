"""Head boxes from face keypoints: the rule that serves until a head detector beats it."""

from __future__ import annotations

import numpy as np
import pytest
from labelloop import FrameRef
from labelloop.head_rule import head_from_keypoints
from labelloop.rig import COCO17
from labelloop.visibility import Thresholds, decode_frame
from labelloop.yolo import Detection, letterbox

from tests.crafted_models import yolo_output


def _person(points: dict[str, tuple[float, float, float]], confidence: float = 0.8) -> Detection:
    keypoints = np.array([points.get(name, (0.0, 0.0, 0.0)) for name in COCO17.keypoints], np.float32)
    return Detection(box=(0.0, 0.0, 200.0, 400.0), confidence=confidence, keypoints=keypoints)


FRONTAL = {
    "nose": (100.0, 60.0, 0.9),
    "left_eye": (110.0, 50.0, 0.9),
    "right_eye": (90.0, 50.0, 0.9),
    "left_ear": (125.0, 55.0, 0.8),
    "right_ear": (75.0, 55.0, 0.8),
    "left_shoulder": (150.0, 130.0, 0.9),
    "right_shoulder": (50.0, 130.0, 0.9),
}


def test_frontal_face_gives_a_head_around_the_face() -> None:
    """Ears 50 px apart, shoulders 100: breadth 50 (ear span), height 65, centred on the face points."""
    head = head_from_keypoints(_person(FRONTAL), COCO17, min_confidence=0.3)
    assert head is not None
    left, top, width, height = head.box
    assert width == pytest.approx(50.0)
    assert height == pytest.approx(65.0)
    assert left + width / 2 == pytest.approx(100.0)
    assert top < 50.0 < top + height  # the eyes lie inside, a little above the middle
    assert top + height < 130.0  # and the head ends above the shoulders
    assert head.confidence == pytest.approx(0.8 * (0.9 * 3 + 0.8 * 2) / 5)


def test_profile_face_is_not_a_sliver() -> None:
    """A face seen edge-on has its points on a line: the shoulders keep the head a head's breadth wide."""
    profile = {"nose": (100.0, 60.0, 0.9), "left_eye": (96.0, 52.0, 0.9), "left_ear": (80.0, 55.0, 0.9),
               "left_shoulder": (120.0, 130.0, 0.9), "right_shoulder": (40.0, 130.0, 0.9)}  # fmt: skip
    head = head_from_keypoints(_person(profile), COCO17, min_confidence=0.3)
    assert head is not None
    assert head.box[2] == pytest.approx(80.0 * 0.4)


def test_face_turned_away_uses_the_shoulders() -> None:
    """No face point confident: a head 0.45 shoulder spans wide, above the shoulders, at half the confidence."""
    away = {name: (*FRONTAL[name][:2], 0.1) for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")}
    away |= {"left_shoulder": (150.0, 130.0, 0.9), "right_shoulder": (50.0, 130.0, 0.9)}
    head = head_from_keypoints(_person(away), COCO17, min_confidence=0.3)
    assert head is not None
    left, top, width, height = head.box
    assert width == pytest.approx(45.0)
    assert left + width / 2 == pytest.approx(100.0)
    assert top + height / 2 == pytest.approx(80.0)
    assert head.confidence == pytest.approx(0.8 * 0.5 * 0.9)


def test_a_side_view_keeps_a_head_sized_box() -> None:
    """Two face points close together and shoulders on one line (seen from the side): the person's
    height keeps the head at least 0.08 of it."""
    side = {"nose": (100.0, 60.0, 0.9), "left_ear": (96.0, 58.0, 0.9),
            "left_shoulder": (100.0, 130.0, 0.9), "right_shoulder": (104.0, 131.0, 0.9)}  # fmt: skip
    head = head_from_keypoints(_person(side), COCO17, min_confidence=0.3)
    assert head is not None
    assert head.box[2] == pytest.approx(0.08 * 400.0)


def test_no_face_and_no_shoulders_means_no_head() -> None:
    """A person seen only from the hips down gets no head box rather than a guess."""
    legs = {"left_knee": (100.0, 300.0, 0.9), "right_knee": (120.0, 300.0, 0.9)}
    assert head_from_keypoints(_person(legs), COCO17, min_confidence=0.3) is None


def test_decoding_a_set_without_head_model_derives_heads_clipped_to_the_frame() -> None:
    """decode_frame with only pose_main output: one derived head per person, inside the frame."""
    frame = FrameRef(uri="s3://test-data/frames/c/000000.jpg", frame_no=0, timestamp_s=0.0, width=640, height=640)
    near_top = {name: (x, y - 55.0, c) for name, (x, y, c) in FRONTAL.items()}
    points = [near_top.get(name, (0.0, 0.0, 0.0)) for name in COCO17.keypoints]
    output = yolo_output([((100, 200, 200, 400), 0.9, points)], len(COCO17))
    _, fit = letterbox(np.zeros((640, 640, 3), np.uint8), 640)
    predictions = decode_frame({"pose_main": output[None]}, 0, fit, frame, rig=COCO17, thresholds=Thresholds())
    [head] = predictions.heads
    assert head.top == 0.0
    assert head.height < 65.0
    assert head.label == "head"
