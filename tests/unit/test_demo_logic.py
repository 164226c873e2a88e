"""The demo's books and its label scoring: pure logic on crafted manifest lines."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from labelloop.label_quality import Labels, Score, labels_of, score
from labelloop.rig import COCO17
from labelloop_tools.demo.ledger import FrameRecord
from labelloop_tools.demo.loop import DemoResult, RoundRecord, Sample
from labelloop_tools.demo.plan import DemoPlan
from labelloop_tools.demo.report import effort, plot_progress, points_html
from labelloop_tools.demo.showcase import COLOURS, HEAD_COLOUR, PERSON_COLOUR, draw_labels

MODALITIES = ("head", "keypoints")


def line(heads: list[tuple[int, int, int, int]], persons: list[dict[str, tuple[float, float, str]]]) -> dict[str, Any]:
    return {
        "source-ref": "s3://demo-data/frames/c/000000.jpg",
        "head": {"annotations": [{"left": x, "top": y, "width": w, "height": h} for x, y, w, h in heads]},
        "keypoints": {"crowdKeypoint": {"keypoints": [
            {"label": name, "x": x, "y": y, "visibility": v, "person": index}
            for index, person in enumerate(persons) for name, (x, y, v) in person.items()
        ]}},
    }  # fmt: skip


PERSON = {"nose": (100.0, 50.0, "visible"), "neck": (100.0, 90.0, "visible"), "left_hip": (120.0, 200.0, "occluded"),
          "left_ankle": (0.0, 0.0, "outside")}  # fmt: skip


def test_labels_equal_to_the_truth_score_perfectly() -> None:
    truth = labels_of(line([(80, 20, 40, 50)], [PERSON]))
    summary = score(truth, truth).summary()
    assert summary == {"head_precision": 1.0, "head_recall": 1.0, "person_recall": 1.0, "keypoint_pck": 1.0,
                       "visibility_accuracy": 1.0}  # fmt: skip


def test_a_misplaced_point_a_wrong_visibility_and_a_missed_head_each_count() -> None:
    truth = labels_of(line([(80, 20, 40, 50), (200, 20, 40, 50)], [PERSON]))
    wrong = dict(PERSON, nose=(160.0, 50.0, "visible"), neck=(100.0, 90.0, "occluded"))
    given = labels_of(line([(82, 21, 40, 50)], [wrong]))
    result = score(given, truth)
    assert (result.heads_true, result.heads_given, result.heads_matched) == (2, 1, 1)
    assert (result.points_true, result.points_close) == (3, 2)  # the outside ankle is not a located point
    assert (result.visibility_total, result.visibility_right) == (4, 3)
    # which point was wrong; the outside ankle is no point to place
    assert result.point_pck() == {"nose": 0.0, "neck": 1.0, "left_hip": 1.0}


def test_people_are_matched_by_their_points_not_by_their_order() -> None:
    other = {name: (x + 150.0, y, v) for name, (x, y, v) in PERSON.items()}
    truth = labels_of(line([], [PERSON, other]))
    given = labels_of(line([], [other, PERSON]))
    assert score(given, truth).summary()["keypoint_pck"] == 1.0


def test_nothing_given_for_a_person_is_a_miss_and_scores_add_up() -> None:
    truth = labels_of(line([], [PERSON]))
    missed = score(Labels([], []), truth)
    assert (missed.persons_matched, missed.points_close, missed.points_true) == (0, 0, 3)
    total = missed + score(truth, truth)
    assert total.summary()["keypoint_pck"] == 0.5
    assert total.point_pck() == {"nose": 0.5, "neck": 0.5, "left_hip": 0.5}  # per point, added up too
    assert Score().summary()["head_recall"] is None  # no data is not 0%


def record(**fields: Any) -> FrameRecord:
    return FrameRecord("s3://demo-data/frames/c/000001.jpg", "c", 1, "clips/c.mp4", **fields)


def test_a_frame_fate_follows_what_the_services_wrote() -> None:
    auto = [{"source-ref": "x"}]
    labeled: dict[str, dict[str, Any]] = {"head": {}, "keypoints": {}}
    assert record().outcome(MODALITIES) == "undecided"
    assert record(auto_lines=auto).outcome(MODALITIES) == "auto"
    assert record(requested=Counter(head=1, keypoints=1)).outcome(MODALITIES) == "labeling"
    assert record(requested=Counter(head=1, keypoints=1), human={"head": {}}).outcome(MODALITIES) == "labeling"
    assert record(requested=Counter(head=1, keypoints=1), human=labeled).outcome(MODALITIES) == "human"
    audited = record(auto_lines=auto, requested=Counter(head=1, keypoints=1), human=labeled)
    assert audited.outcome(MODALITIES) == "control"
    assert record(deferred=True).outcome(MODALITIES) == "deferred"


def test_effort_counts_what_people_changed_of_the_prefill_and_what_the_page_measured() -> None:
    """Of people's points, those the model's pre-fill had placed within PCK@0.1 count as kept; a person the
    pre-fill missed is one added, one it invented is one deleted; the page's own measures are summarised."""
    person = [{"label": n, "x": 100.0 + 10 * i, "y": 100.0 + 10 * i, "visibility": "visible", "person": 0}
              for i, n in enumerate(("nose", "left_eye", "right_eye", "neck"))]  # fmt: skip
    moved = [dict(p) for p in person]
    moved[0]["x"] += 30  # people moved the nose 30 px: beyond PCK@0.1 of a 42 px person
    ghost = {"label": "nose", "x": 600.0, "y": 400.0, "visibility": "visible", "person": 1}
    added = [{**p, "x": p["x"] + 300, "person": 1} for p in person]
    prefill = {"keypoints": {"crowdKeypoint": {"keypoints": [*person, ghost]}}}
    page = {"keypoints-metadata": {"effort": {"seconds": 40, "points-moved": 1, "persons-added": 1}}}
    answer = {"keypoints": {"crowdKeypoint": {"keypoints": [*moved, *added]}}, **page}
    labeled = record(requested=Counter(keypoints=1), human={"keypoints": answer}, prefill=prefill)
    result = effort([labeled, record(auto_lines=[{"source-ref": "x"}])], ("keypoints",))
    assert result["frames"] == 1
    assert result["points_kept_share"] == 3 / 8  # 3 of the first person's 4 kept; the added person's 4 were not there
    assert (result["persons_added"], result["persons_deleted"]) == (1, 1)
    assert result["page"] == {"tasks": 1, "median_seconds": 40, "median_points_moved": 1, "median_boxes_changed": 0,
                              "median_persons_added": 1, "median_persons_deleted": 0,
                              "median_visibility_changes": 0}  # fmt: skip


def test_a_frame_judged_or_sent_twice_is_flagged() -> None:
    assert not record(auto_lines=[{}], requested=Counter(head=1, keypoints=1)).duplicated
    assert record(auto_lines=[{}, {}]).duplicated
    assert record(requested=Counter(head=2, keypoints=1)).duplicated


def test_the_demo_turns_off_what_would_leave_frames_without_a_final_fate() -> None:
    env = DemoPlan().stack_env()
    assert env["LABELLOOP_SELECTOR_NEAR_DUPLICATE_DISTANCE"] == "0"
    assert env["LABELLOOP_SELECTOR_MAX_HUMAN_PER_CLIP"] == env["LABELLOOP_SELECTOR_MAX_HUMAN_PER_HOUR"] == "0"
    assert env["LABELLOOP_TRAINER_HOLDOUT_CAMERA"] == DemoPlan().camera
    assert DemoPlan.quick().rounds < DemoPlan().rounds
    assert env["LABELLOOP_SELECTOR_TARGET_KEYPOINT_PCK"] == "0.0"  # no stated quality: the fixed threshold
    stated = DemoPlan().with_overrides(target_keypoint_pck=0.95).stack_env()
    assert stated["LABELLOOP_SELECTOR_TARGET_KEYPOINT_PCK"] == "0.95"


def test_real_photo_drawing_shows_bones_by_visibility_and_boxes() -> None:
    """The report's drawing: a bone between two visible points is green, one to an occluded point orange,
    outside points are not drawn, person and head boxes are outlined."""
    points = [
        {"label": "left_shoulder", "x": 20, "y": 50, "visibility": "visible", "person": 0},
        {"label": "right_shoulder", "x": 80, "y": 50, "visibility": "visible", "person": 0},
        {"label": "left_elbow", "x": 20, "y": 90, "visibility": "occluded", "person": 0},
        {"label": "left_wrist", "x": 60, "y": 150, "visibility": "outside", "person": 0},
    ]
    line = {
        "keypoints": {"crowdKeypoint": {"keypoints": points}},
        "keypoints-metadata": {"persons": [{"box": {"left": 5, "top": 5, "width": 150, "height": 150}}]},
        "head": {"annotations": [{"left": 30, "top": 10, "width": 40, "height": 30}]},
    }
    drawn = draw_labels(np.zeros((200, 200, 3), np.uint8), line, COCO17)
    assert tuple(drawn[50, 50]) == COLOURS["visible"]
    assert tuple(drawn[70, 20]) == COLOURS["occluded"]
    assert tuple(drawn[120, 40]) == (0, 0, 0)  # elbow → wrist: the wrist is outside, no bone
    assert tuple(drawn[100, 5]) == PERSON_COLOUR
    assert tuple(drawn[25, 30]) == HEAD_COLOUR


def test_the_progress_plot_of_a_demo_stopped_in_its_first_round_is_still_drawn() -> None:
    """A demo stopped before any round ended (a training round that did not finish in time) still writes
    its report: the plot shows how far the frames came, with no round to shade."""
    samples = [Sample(t=t, uploaded_clips=3, extracted=8 * t, judged=6 * t, labeled=2 * t) for t in range(4)]
    assert plot_progress(DemoResult(plan=DemoPlan.quick(), samples=samples, seconds=3.0)).axes
    record = RoundRecord(round=1, uploads=["a"], frames=24, outcomes={}, human_frames_total=10, serving_after=1,
                         newest_version=1, started_s=0.0, settled_s=1.0, trained_s=2.0, random_arm={})  # fmt: skip
    assert plot_progress(DemoResult(plan=DemoPlan.quick(), rounds=[record], samples=samples, seconds=3.0)).axes


def test_the_report_names_the_points_each_source_gets_wrong() -> None:
    truth = labels_of(line([], [PERSON]))
    given = labels_of(line([], [dict(PERSON, nose=(160.0, 50.0, "visible"))]))
    page = points_html({"auto_accepted": score(given, truth).point_pck(), "people": score(truth, truth).point_pck()})
    assert "<td>nose</td><td>0.0%</td><td>100.0%</td>" in page
    assert "<td>neck</td><td>100.0%</td><td>100.0%</td>" in page
    assert points_html({"auto_accepted": {}}) == ""  # nothing scored, no table
