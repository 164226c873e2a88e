"""Labels to Label Studio's regions and back: the labeling config, pre-annotations, and persons read from an
annotation (pure logic; the round trip through a real Label Studio is tests/integration/test_label_studio.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from labelloop.portal_api import PortalJob
from labelloop.rig import COCO17
from labelloop_portal.label_studio import answer_label, answer_of
from labelloop_portal.label_studio_regions import labeling_config, persons_from_results, prediction_results
from labelloop_portal.persons import persons_of

W, H = 640, 480


def _task_line(points: list[tuple[str, float, float, str]]) -> dict[str, Any]:
    """A keypoint task's input line: the model's labels as pre-fill and, as a level-2 input carries it, the
    level-1 answer (the same points here)."""
    label = {
        "keypoints": {"crowdKeypoint": {"inputImageProperties": {"width": W, "height": H}, "keypoints": [
            {"label": n, "x": x, "y": y, "visibility": v, "person": 0} for n, x, y, v in points]}},
        "keypoints-metadata": {"persons": [{"box": {"left": 100, "top": 40, "width": 200, "height": 400}}]},
    }  # fmt: skip
    frame = {"width": W, "height": H, "keypoint_names": list(COCO17.keypoints)}
    return {"source-ref": "s3://b/f.jpg", "labelloop-frame": frame, "labelloop-prefill": label, **label}


def _person(left: float, points: list[tuple[str, float, float, str]]) -> dict[str, Any]:
    return {"box": {"left": left, "top": 40.0, "width": 200.0, "height": 400.0},
            "points": [{"label": n, "x": x, "y": y, "visibility": v} for n, x, y, v in points]}  # fmt: skip


def test_the_keypoint_config_has_the_person_box_every_rig_point_in_order_and_a_visibility_choice_per_region() -> None:
    view = ET.fromstring(labeling_config("keypoints", COCO17.keypoints))  # noqa: S314 (our own generated XML)
    assert [label.get("value") for label in view.find("KeyPointLabels").iter("Label")] == list(COCO17.keypoints)  # type: ignore[union-attr]
    assert [label.get("value") for label in view.find("RectangleLabels").iter("Label")] == ["person"]  # type: ignore[union-attr]
    choices = view.find("Choices")
    assert choices is not None
    assert choices.get("perRegion") == "true"
    assert [c.get("value") for c in choices.iter("Choice")] == ["visible", "occluded"]
    head = ET.fromstring(labeling_config("head", COCO17.keypoints))  # noqa: S314 (our own generated XML)
    assert head.find("KeyPointLabels") is None
    assert [label.get("value") for label in head.find("RectangleLabels").iter("Label")] == ["head"]  # type: ignore[union-attr]


def test_a_point_name_that_needs_escaping_stays_one_xml_attribute() -> None:
    view = ET.fromstring(labeling_config("keypoints", ['chin "low"', "a<b"]))  # noqa: S314 (our own generated XML)
    assert [label.get("value") for label in view.iter("Label")][1:] == ['chin "low"', "a<b"]


def test_persons_survive_the_round_trip_through_regions_with_their_visibility() -> None:
    persons = [
        _person(100, [("nose", 150.0, 80.0, "visible"), ("left_eye", 160.0, 70.0, "occluded")]),
        _person(400, [("nose", 480.0, 90.0, "occluded")]),
    ]
    results = prediction_results(persons, "keypoints", W, H)
    assert {r["type"] for r in results} == {"rectanglelabels", "keypointlabels", "choices"}
    assert all(0 <= r["value"]["x"] <= 100 and 0 <= r["value"]["y"] <= 100 for r in results)
    back = persons_from_results(results, "keypoints")
    assert back == [
        {"box": persons[0]["box"], "points": persons[0]["points"], "number": 0},
        {"box": persons[1]["box"], "points": persons[1]["points"], "number": 1},
    ]


def test_a_point_someone_added_joins_the_person_whose_box_holds_it_and_a_moved_one_keeps_its_person() -> None:
    persons = [_person(100, [("nose", 150.0, 80.0, "visible")]), _person(400, [("nose", 480.0, 90.0, "visible")])]
    results = prediction_results(persons, "keypoints", W, H)
    moved = next(r for r in results if r["id"] == "p1-nose" and r["type"] == "keypointlabels")
    moved["value"]["x"] = 10.0  # dragged far out of its person's box: still that person's, by its region id
    added = {"id": "Xy12ab", "type": "keypointlabels", "original_width": W, "original_height": H,
             "value": {"x": 70.0, "y": 50.0, "width": 0.6, "keypointlabels": ["left_wrist"]}}  # fmt: skip
    back = persons_from_results([*results, added], "keypoints")
    assert [p["label"] for p in back[1]["points"]] == ["nose", "left_wrist"]  # 448 px, 240 px: inside box 1
    assert back[1]["points"][0]["x"] == 64.0
    assert back[1]["points"][1]["visibility"] == "visible"  # no choice made: visible


def test_points_without_any_box_become_one_new_person_and_a_deleted_person_is_gone() -> None:
    persons = [_person(100, [("nose", 150.0, 80.0, "visible")]), _person(400, [("nose", 480.0, 90.0, "visible")])]
    results = [r for r in prediction_results(persons, "keypoints", W, H) if not r["id"].startswith("p0-")]
    assert len(persons_from_results(results, "keypoints")) == 1
    loose = [{"id": f"n{i}", "type": "keypointlabels", "original_width": W, "original_height": H,
              "value": {"x": 10.0 * i, "y": 10.0, "keypointlabels": ["nose" if i == 1 else "left_eye"]}}
             for i in (1, 2)]  # fmt: skip
    [person] = persons_from_results(loose, "keypoints")
    assert person["box"] is None
    assert [p["label"] for p in person["points"]] == ["nose", "left_eye"]


def test_head_boxes_round_trip_and_points_are_ignored_for_a_head_job() -> None:
    heads = [{"box": {"left": 300.0, "top": 80.0, "width": 60.0, "height": 70.0}, "points": []}]
    results = prediction_results(heads, "head", W, H)
    assert [r["from_name"] for r in results] == ["head"]
    assert persons_from_results(results, "head") == heads


def test_the_latest_annotation_that_was_not_skipped_is_the_answer() -> None:
    task = {"annotations": [
        {"id": 1, "updated_at": "2026-12-04T06:00:00Z", "was_cancelled": False, "result": [1]},
        {"id": 2, "updated_at": "2026-12-04T06:05:00Z", "was_cancelled": False, "result": [2]},
        {"id": 3, "updated_at": "2026-12-04T06:09:00Z", "was_cancelled": True, "result": []},
    ]}  # fmt: skip
    assert answer_of(task) == task["annotations"][1]
    assert answer_of({"annotations": [task["annotations"][2]]}) is None
    assert answer_of({"annotations": []}) is None


@pytest.mark.parametrize("level", [1, 2])
def test_an_annotation_becomes_the_jobs_output_label_in_ground_truths_shape(level: int) -> None:
    line = _task_line([("nose", 150.0, 80.0, "visible"), ("left_eye", 160.0, 70.0, "occluded")])
    job = PortalJob(name="j", modality="keypoints", level=level, label_attribute="keypoints" if level == 1 else
                    "keypoints-adjusted", input_topic_arn="", output_topic_arn="", output_s3_uri="s3://b/p",
                    task_lifetime_s=60, task_time_limit_s=60, max_concurrent_tasks=1, created_at=0,
                    last_activity_at=0)  # fmt: skip
    start = persons_of(line if level == 2 else line["labelloop-prefill"], "keypoints", "keypoints")
    results = prediction_results(start, "keypoints", W, H)
    for region in results:
        if region["type"] == "choices" and region["id"] == "p0-left_eye":
            region["value"]["choices"] = ["visible"]
    label = answer_label(job, line, {"result": results, "lead_time": 12.34}, now=0.0)
    points = label[job.label_attribute]["crowdKeypoint"]["keypoints"]
    assert [(p["label"], p["x"], p["y"], p["visibility"], p["person"]) for p in points] == [
        ("nose", 150.0, 80.0, "visible", 0),
        ("left_eye", 160.0, 70.0, "visible", 0),
    ]
    metadata = label[f"{job.label_attribute}-metadata"]
    assert metadata["effort"]["seconds"] == 12.3
    assert metadata["persons"] == [{"box": {"left": 100, "top": 40, "width": 200, "height": 400}}]


def test_a_label_studio_answer_keeps_each_pre_annotated_persons_track_even_after_one_is_deleted() -> None:
    line = _task_line([("nose", 150.0, 80.0, "visible")])
    prefill = line["labelloop-prefill"]
    prefill["keypoints"]["crowdKeypoint"]["keypoints"].append(
        {"label": "nose", "x": 480.0, "y": 90.0, "visibility": "visible", "person": 1}
    )
    prefill["keypoints-metadata"]["persons"] = [
        {"box": {"left": 100, "top": 40, "width": 200, "height": 400}, "track-id": 3},
        {"box": {"left": 400, "top": 40, "width": 200, "height": 400}, "track-id": 5, "attributes": {"glasses": "yes"}},
    ]  # fmt: skip
    job = PortalJob(name="j", modality="keypoints", level=1, label_attribute="keypoints", input_topic_arn="",
                    output_topic_arn="", output_s3_uri="s3://b/p", task_lifetime_s=60, task_time_limit_s=60,
                    max_concurrent_tasks=1, created_at=0, last_activity_at=0)  # fmt: skip
    results = prediction_results(persons_of(prefill, "keypoints", "keypoints"), "keypoints", W, H)
    kept = [r for r in results if not r["id"].startswith("p0-")]  # the labeller deleted person 0
    added = {"id": "new-box", "type": "rectanglelabels", "original_width": W, "original_height": H,
             "value": {"x": 1.0, "y": 1.0, "width": 5.0, "height": 5.0, "rectanglelabels": ["person"]}}  # fmt: skip
    label = answer_label(job, line, {"result": [*kept, added]}, now=0.0)
    persons = label["keypoints-metadata"]["persons"]
    assert [(p.get("track-id"), p.get("attributes")) for p in persons] == [(5, {"glasses": "yes"}), (None, None)]
