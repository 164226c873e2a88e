"""Label propagation's pure parts: carrying a correction by the model's motion, which frames are looked
in, which persons are replaced, what an answer holds."""

from __future__ import annotations

import pytest
from labelloop.frame_layout import clip_frame, neighbour_uri
from labelloop_gt_bridge.handlers import prefill
from labelloop_portal.propagation import TrackCorrection, carried, corrections_in, nearest_frames, propagated

from tests.predictions import frame


def _correction(frame_no: int = 4, track: int = 7) -> TrackCorrection:
    return TrackCorrection(
        clip_id="walk", track=track, frame_no=frame_no, source_ref="s3://data/frames/walk/000004.jpg",
        model_box={"left": 100, "top": 50, "width": 100, "height": 200},
        box={"left": 90, "top": 40, "width": 110, "height": 220},
        points=[{"label": "nose", "x": 150, "y": 60, "visibility": "visible"},
                {"label": "left_eye", "x": 120, "y": 250, "visibility": "occluded"}],
    )  # fmt: skip


def test_a_correction_keeps_its_place_in_the_models_box_as_the_box_moves_and_grows() -> None:
    # The model's box moved 30 px right, 10 px down and doubled its width: so does everything people placed.
    now = {"left": 130, "top": 60, "width": 200, "height": 200}
    moved = carried(_correction(), now)
    nose, eye = moved["points"]
    assert (nose["x"], nose["y"], nose["visibility"]) == (230, 70, "visible")  # 130 + 50 * 2, 60 + 10
    assert (eye["x"], eye["y"], eye["visibility"]) == (170, 260, "occluded")  # visibility as people set it
    assert moved["box"] == {"left": 110, "top": 50, "width": 220, "height": 220}


def test_a_correction_without_the_models_box_moves_by_the_persons_own_box() -> None:
    correction = _correction()
    correction = TrackCorrection(**{**correction.__dict__, "model_box": None})
    moved = carried(correction, {"left": 100, "top": 40, "width": 110, "height": 220})
    assert moved["points"][0]["x"] == 160  # 100 + (150 - 90)


def test_frames_are_looked_in_nearest_first_the_earlier_first_at_the_same_distance() -> None:
    assert nearest_frames(5, 2) == [4, 6, 3, 7]
    assert nearest_frames(0, 2) == [1, 2]
    assert nearest_frames(3, 0) == []


def test_only_tracked_persons_with_a_correction_start_from_it() -> None:
    box = {"left": 100, "top": 50, "width": 100, "height": 200}
    persons = [
        {"box": box, "points": [], "track": 7},
        {"box": box, "points": [{"label": "nose", "x": 1, "y": 1, "visibility": "visible"}], "track": 8},
        {"box": box, "points": [], "track": None},
        {"box": None, "points": [], "track": 9},
    ]
    started = propagated(persons, {7: _correction(track=7), 9: _correction(track=9)})
    assert (started[0]["from_frame"], started[0]["points"][0]["x"]) == (4, 150)
    assert started[1:] == persons[1:]  # no correction; no track; no model box to carry it to


def test_an_answer_holds_one_correction_per_person_who_kept_a_track() -> None:
    predictions = frame(3, clip="walk")
    predictions = predictions.model_copy(
        update={"persons": [predictions.persons[0].model_copy(update={"track_id": 7})]}
    )
    model = prefill(predictions, 0.0)
    answer = {
        "keypoints": {"crowdKeypoint": {"keypoints": [
            {"label": "nose", "x": 10, "y": 20, "visibility": "visible", "person": 0},
            {"label": "nose", "x": 50, "y": 60, "visibility": "visible", "person": 1},
        ]}},
        "keypoints-metadata": {"persons": [{"box": {"left": 1, "top": 2, "width": 3, "height": 4}, "track-id": 7}, {}]},
    }  # fmt: skip
    line = {"source-ref": predictions.frame.uri, "labelloop-frame": {"clip_id": "walk", "frame_no": 3},
            "labelloop-prefill": model, **answer}  # fmt: skip
    [correction] = corrections_in(line, "keypoints")  # the person added by hand has no track
    assert (correction.clip_id, correction.track, correction.frame_no) == ("walk", 7, 3)
    assert correction.model_box == {"left": 180, "top": 60, "width": 260, "height": 400}
    assert correction.points == [{"label": "nose", "x": 10, "y": 20, "visibility": "visible"}]
    assert corrections_in({**line, "labelloop-frame": {}}, "keypoints") == []  # an image, not a clip's frame


@pytest.mark.parametrize(
    ("uri", "other", "expected"),
    [
        ("s3://d/frames/walk/000004.jpg", 3, "s3://d/frames/walk/000003.jpg"),
        ("s3://d/frames/walk/000004.jpg", -1, None),
        ("s3://d/images/cam 1/a.jpg", 3, None),
        ("s3://d/frames/walk/cover.jpg", 3, None),
    ],
)
def test_a_clips_neighbouring_frame_is_found_in_ingests_layout_only(uri: str, other: int, expected: str | None) -> None:
    assert neighbour_uri(uri, other) == expected
    assert clip_frame("frames/walk/000012.jpg") == ("walk", 12)


def test_only_the_points_people_changed_are_carried_the_rest_follow_the_models_guess_of_the_new_frame() -> None:
    guessed_then = [
        {"label": "nose", "x": 150, "y": 60, "visibility": "visible"},  # people left it: right
        {"label": "left_eye", "x": 180, "y": 200, "visibility": "visible"},
    ]  # moved and re-marked
    correction = TrackCorrection(**{**_correction().__dict__, "model_points": guessed_then})
    assert correction.corrected() == {"left_eye"}
    now = {"left": 130, "top": 60, "width": 100, "height": 200}  # moved 30 right, 10 down
    guessed_now = [{"label": "nose", "x": 177, "y": 71, "visibility": "visible"},
                   {"label": "left_eye", "x": 210, "y": 210, "visibility": "visible"}]  # fmt: skip
    points = {p["label"]: p for p in carried(correction, now, guessed_now)["points"]}
    assert (points["nose"]["x"], points["nose"]["y"]) == (177, 71)  # the model's own guess of the new frame
    eye = points["left_eye"]
    assert (eye["x"], eye["y"], eye["visibility"]) == (150, 260, "occluded")
    assert carried(correction, now)["points"][0]["x"] == 180  # without the new guess: everything carried
