"""inference's pure logic: letterbox, YOLO decoding, NMS, pairing, the visibility rule, versions and retries."""

from __future__ import annotations

import numpy as np
import pytest
from labelloop import FrameRef, FramesExtracted
from labelloop.model_set import ModelSet, SlotModel
from labelloop.rig import COCO17
from labelloop.visibility import Thresholds, frame_predictions, pair, visibility
from labelloop.yolo import Detection, decode, letterbox, nms
from labelloop_inference.clip_order import PredictedBatch
from labelloop_inference.handlers import MAX_EVENT_BYTES, _events
from labelloop_inference.triton import ServingSet, TritonUnavailableError

from tests.crafted_models import yolo_output
from tests.predictions import frame as crafted_frame

FRAME = FrameRef(uri="s3://test-data/frames/c/000000.jpg", frame_no=0, timestamp_s=0.0, width=320, height=240)


def test_letterbox_fits_the_frame_and_maps_points_back() -> None:
    """A 320x240 frame becomes a 160x160 input scaled by 0.5 with grey bars; input points map back exactly."""
    image = np.full((240, 320, 3), 200, np.uint8)
    tensor, fit = letterbox(image, 160)
    assert tensor.shape == (3, 160, 160)
    assert (fit.scale, fit.pad_x, fit.pad_y) == (0.5, 0.0, 20.0)
    assert tensor.dtype == np.uint8  # scaling to [0, 1] happens inside the model
    assert list(tensor[:, 10, 80]) == [114] * 3  # padding
    assert list(tensor[:, 80, 80]) == [200] * 3  # picture
    np.testing.assert_allclose(fit.to_frame(np.array([[40.0, 50.0]], np.float32)), [[80.0, 60.0]])


@pytest.mark.parametrize(("width", "height"), [(240, 320), (1920, 1080), (100, 100)])
def test_letterbox_round_trips_any_aspect(width: int, height: int) -> None:
    """Frame → input → frame is the identity (within a pixel) for tall, wide and square frames."""
    _, fit = letterbox(np.zeros((height, width, 3), np.uint8), 160)
    point = np.array([[width * 0.3, height * 0.7]], np.float32)
    as_input = point * fit.scale + np.array([fit.pad_x, fit.pad_y], np.float32)
    np.testing.assert_allclose(fit.to_frame(as_input), point, atol=1.0)


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_ones() -> None:
    """Of two boxes overlapping heavily only the more confident survives; a distant box stays."""
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    assert nms(boxes, np.array([0.8, 0.9, 0.5], np.float32), 0.5) == [1, 2]


def test_decode_filters_by_confidence_and_maps_keypoints() -> None:
    """Below-threshold anchors vanish; kept boxes and points come back in frame pixels, clipped to the frame."""
    points = [(40.0, 50.0, 0.9)] * 2
    output = yolo_output([((80, 80, 60, 80), 0.9, points), ((20, 40, 10, 10), 0.1, points)], 2)
    _, fit = letterbox(np.zeros((240, 320, 3), np.uint8), 160)
    [person] = decode(output, fit, (320, 240), keypoints=2, conf_threshold=0.25, iou_threshold=0.6, max_detections=5)
    assert person.box == pytest.approx((100.0, 40.0, 120.0, 160.0))
    np.testing.assert_allclose(person.keypoints, [[80.0, 60.0, 0.9]] * 2, rtol=1e-6)
    edge = yolo_output([((5, 30, 20, 30), 0.9, [])], 0)
    [clipped] = decode(edge, fit, (320, 240), keypoints=0, conf_threshold=0.25, iou_threshold=0.6, max_detections=5)
    assert clipped.box[0] == 0.0


def test_decode_rejects_output_of_another_rig() -> None:
    """An output with the wrong number of rows says what it expected instead of mis-reading keypoints."""
    _, fit = letterbox(np.zeros((240, 320, 3), np.uint8), 160)
    with pytest.raises(ValueError, match=r"expected \(56, anchors\) for 17 keypoints"):
        decode(np.zeros((5 + 3 * 5, 10), np.float32), fit, (320, 240), keypoints=17, conf_threshold=0.2,
               iou_threshold=0.5, max_detections=3)  # fmt: skip


@pytest.mark.parametrize(
    ("main", "vis", "expected"),
    [
        (0.9, 0.9, "visible"),
        (0.9, 0.6, "occluded"),
        (0.61, 0.1, "occluded"),
        (0.6, 0.99, "outside"),
        (0.1, 0.9, "outside"),
    ],
)
def test_visibility_rule(main: float, vis: float, expected: str) -> None:
    """main > T_main and visible > T_vis → visible; main only → occluded; else outside (strict inequalities)."""
    assert visibility(main, vis, Thresholds()) == expected


def test_visibility_thresholds_are_configurable() -> None:
    """Lower thresholds turn the same confidences into visible points."""
    assert visibility(0.5, 0.5, Thresholds(main=0.4, visible=0.4)) == "visible"


def _person(left: float, confidence: float = 0.9, keypoint_conf: float = 0.9) -> Detection:
    return Detection(box=(left, 0.0, 50.0, 100.0), confidence=confidence,
                     keypoints=np.array([[left + 10, 20, keypoint_conf]] * 17, np.float32))  # fmt: skip


def test_pairing_matches_each_person_to_its_own_visible_detection() -> None:
    """Two people side by side each get the pose_visible detection over their own box; a lone one gets none."""
    main = [_person(0), _person(200), _person(400)]
    visible = [_person(205), _person(2)]
    matched = pair(main, visible, 0.5)
    assert matched == [visible[1], visible[0], None]


def test_unpaired_person_has_no_visible_points() -> None:
    """Without a pose_visible partner every confident point is occluded, never visible."""
    names = tuple(f"p{i}" for i in range(17))
    predictions = frame_predictions(FRAME, main=[_person(0)], visible=[], heads=[], keypoint_names=names,
                                    thresholds=Thresholds())  # fmt: skip
    assert {k.visibility for k in predictions.persons[0].keypoints} == {"occluded"}


def test_disagreement_is_the_pose_models_mean_point_distance_over_the_box_diagonal() -> None:
    """Both models' points 3-4-5 apart on a 60x80 box (diagonal 100) → 0.05; none without a partner."""
    names = tuple(f"p{i}" for i in range(17))
    main = Detection(box=(0.0, 0.0, 60.0, 80.0), confidence=0.9,
                     keypoints=np.array([[10.0 + i, 20.0, 0.9] for i in range(17)], np.float32))  # fmt: skip
    moved = Detection(box=(1.0, 1.0, 60.0, 80.0), confidence=0.9,
                      keypoints=main.keypoints + np.array([3.0, 4.0, 0.0], np.float32))  # fmt: skip
    alone = _person(300)
    predictions = frame_predictions(FRAME, main=[main, alone], visible=[moved], heads=[], keypoint_names=names,
                                    thresholds=Thresholds())  # fmt: skip
    assert [person.disagreement for person in predictions.persons] == [pytest.approx(0.05), None]


def test_main_confidence_rule_without_a_pose_visible_model() -> None:
    """With pose_main alone its confidence decides: > T_vis visible, > single_model_main occluded, else
    outside; no committee disagreement is claimed."""
    names = ("a", "b", "c")
    person = Detection(box=(0.0, 0.0, 50.0, 100.0), confidence=0.9,
                       keypoints=np.array([[5, 5, 0.9], [6, 6, 0.45], [7, 7, 0.1]], np.float32))  # fmt: skip
    predictions = frame_predictions(FRAME, main=[person], visible=None, heads=[], keypoint_names=names,
                                    thresholds=Thresholds())  # fmt: skip
    [seen] = predictions.persons
    assert [k.visibility for k in seen.keypoints] == ["visible", "occluded", "outside"]
    assert [k.visible_confidence for k in seen.keypoints] == [k.main_confidence for k in seen.keypoints]
    assert seen.disagreement is None


def test_points_beyond_the_frame_are_outside_however_confident() -> None:
    """A keypoint the model places past the frame's edge is outside the view, not visible or occluded."""
    person = Detection(box=(0.0, 0.0, 50.0, 100.0), confidence=0.9,
                       keypoints=np.array([[5, 5, 0.9], [5, 241, 0.9], [-1, 5, 0.9]], np.float32))  # fmt: skip
    predictions = frame_predictions(FRAME, main=[person], visible=None, heads=[], keypoint_names=("a", "b", "c"),
                                    thresholds=Thresholds())  # fmt: skip
    assert [k.visibility for k in predictions.persons[0].keypoints] == ["visible", "outside", "outside"]


class _FakeServer:
    def __init__(self) -> None:
        self.ready: dict[str, list[int]] = {"pose_main": [1], "head": [1]}

    def ready_versions(self, model: str) -> list[int]:
        return self.ready[model]

    def infer(self, batch: object, versions: object) -> dict[str, object]:
        raise NotImplementedError


class _FakeRegistry:
    def __init__(self) -> None:
        self.declared: tuple[int, ModelSet] | None = (1, _set(pose_main=1, head=1))

    def serving_set(self) -> tuple[int, ModelSet] | None:
        return self.declared


def _set(**versions: int) -> ModelSet:
    return ModelSet(name="s", rig=COCO17, imgsz=640,
                    models={name: SlotModel(version=v, source="shipped") for name, v in versions.items()})  # fmt: skip


def test_serving_set_is_the_registrys_and_refreshes_on_schedule() -> None:
    """The set the registry names is cached for refresh_s, then re-read; invalidate() forces the next read."""
    server, registry, now = _FakeServer(), _FakeRegistry(), [0.0]
    serving = ServingSet(server, registry, refresh_s=30, monotonic=lambda: now[0])  # type: ignore[arg-type]
    assert serving.current().versions() == {"pose_main": "1", "head": "1"}
    server.ready["pose_main"] = [1, 2]
    registry.declared = (2, _set(pose_main=2, head=1))  # an import into pose_main keeps head at 1
    now[0] = 10
    assert serving.current().version == 1
    now[0] = 31
    assert serving.current().versions() == {"pose_main": "2", "head": "1"}
    registry.declared = (1, _set(pose_main=1, head=1))  # rolled back
    serving.invalidate()
    assert serving.current().version == 1


def test_serving_set_fails_retryably_until_triton_has_its_versions() -> None:
    """A set whose model Triton has not loaded, or no set at all, is a retryable condition, not a crash."""
    server, registry = _FakeServer(), _FakeRegistry()
    server.ready["head"] = []
    with pytest.raises(TritonUnavailableError, match="not loaded head v1"):
        ServingSet(server, registry, refresh_s=30).current()  # type: ignore[arg-type]
    registry.declared = None
    with pytest.raises(TritonUnavailableError, match="no model set is installed"):
        ServingSet(server, registry, refresh_s=30).current()  # type: ignore[arg-type]


def test_large_prediction_sets_are_split_into_events_under_the_sns_limit() -> None:
    """A batch whose predictions exceed the size limit becomes several events with distinct stable ids."""
    seventeen = [(0.95, 0.95)] * 17
    crowded = [
        f.model_copy(update={"persons": f.persons * 12})
        for f in (crafted_frame(n, points=seventeen) for n in range(16))
    ]
    upstream = FramesExtracted(
        correlation_id="c", clip_id="c", source_uri="s3://test-uploads/clips/c.mp4", frames=[f.frame for f in crowded],
        batch_index=0, batch_count=1, total_frames=16, manifest_uri="s3://test-data/frames/c/manifest.jsonl",
    )  # fmt: skip
    versions = {"pose_main": "1", "pose_visible": "1", "head": "1"}
    batch = PredictedBatch(event=upstream, predictions=crowded, model_versions=versions)
    events = _events(batch)
    assert len(events) > 1
    assert all(len(e.model_dump_json()) <= MAX_EVENT_BYTES for e in events)
    assert [p.frame.frame_no for e in events for p in e.predictions] == list(range(16))
    assert [e.event_id for e in events] == [e.event_id for e in _events(batch)]
    assert len({e.event_id for e in events}) == len(events)
