"""COCO keypoints out of label lines, read back by pycocotools: visibility flags kept exactly, sources told."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from labelloop.coco import HEAD_CATEGORY, PERSON_CATEGORY, CocoBuilder
from labelloop.manifest import augmented_manifest_line
from labelloop.rig import COCO17
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.label_lines import label_line
from tests.predictions import frame as crafted_frame


def _exported(tmp_path: Path, sources: tuple[str, ...] = ("auto", "human", "imported")) -> tuple[dict[str, Any], Path]:
    builder = CocoBuilder(COCO17, sources)
    builder.add(label_line("s3://d/frames/c/000001.jpg", human=True), "frames/c/000001.jpg")
    builder.add(label_line("s3://d/frames/c/000002.jpg", human=False), "frames/c/000002.jpg")
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(builder.dataset()))
    return builder.dataset(), path


def test_pycocotools_loads_the_export_and_scores_it_against_itself_perfectly(tmp_path: Path) -> None:
    dataset, path = _exported(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(path))
        detections = truth.loadRes([{**a, "score": 1.0} for a in dataset["annotations"]
                                    if a["category_id"] == PERSON_CATEGORY])  # fmt: skip
        evaluation = COCOeval(truth, detections, iouType="keypoints")
        evaluation.params.catIds = [PERSON_CATEGORY]
        evaluation.params.kpt_oks_sigmas = np.array(COCO17.oks_sigmas)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == 1.0  # AP over OKS 0.50:0.95
    assert truth.loadCats(PERSON_CATEGORY)[0]["keypoints"] == list(COCO17.keypoints)
    assert len(truth.getAnnIds(catIds=[HEAD_CATEGORY])) == 2


def test_every_points_visibility_is_its_coco_flag(tmp_path: Path) -> None:
    """outside → 0 (and x = y = 0), occluded → 1, visible → 2, point by point; num_keypoints counts 1s and 2s."""
    dataset, _ = _exported(tmp_path)
    line = label_line("s3://d/frames/c/000001.jpg", human=True)
    people = [a for a in dataset["annotations"] if a["image_id"] == 1 and a["category_id"] == PERSON_CATEGORY]
    for annotation in people:
        given = [p for p in line["keypoints"]["crowdKeypoint"]["keypoints"]
                 if p["person"] == people.index(annotation)]  # fmt: skip
        flags = annotation["keypoints"][2::3]
        assert flags == [{"outside": 0, "occluded": 1, "visible": 2}[p["visibility"]] for p in given]
        for point, (x, y, v) in zip(given, np.reshape(annotation["keypoints"], (-1, 3)), strict=True):
            assert (x, y) == ((0, 0) if v == 0 else (point["x"], point["y"]))
        assert annotation["num_keypoints"] == sum(1 for v in flags if v)


def test_each_annotation_says_its_source_and_a_source_filter_keeps_only_it(tmp_path: Path) -> None:
    dataset, _ = _exported(tmp_path)
    by_image = {(a["image_id"], a["labelloop_source"]) for a in dataset["annotations"]}
    assert by_image == {(1, "human"), (2, "auto")}
    auto = [a for a in dataset["annotations"] if a["labelloop_source"] == "auto" and a["category_id"] == 1]
    assert [a["score"] for a in auto] == [0.8, 0.8]  # the detection's confidence
    assert auto[0]["bbox"] == [90, 70, 170, 200]  # the model's box, as detected
    assert auto[0]["labelloop_model_versions"] == {"pose_main": "3", "head": "2"}
    human_only, _ = _exported(tmp_path, ("human",))
    assert {a["labelloop_source"] for a in human_only["annotations"]} == {"human"}
    assert len(human_only["images"]) == 2  # every image listed, labelled or not


def test_track_ids_carry_through_the_manifest_line_into_coco_unique_across_clips() -> None:
    """A model line's persons keep their track ids (``track-id`` in the metadata, from
    ``Person.track_id``); COCO numbers each (clip, track) once, as PoseTrack's ``track_id``."""
    frame = crafted_frame(3, points=[(0.9, 0.9)] * 17)
    people = [frame.persons[0].model_copy(update={"track_id": 1}),
              frame.persons[0].model_copy(update={"track_id": None})]  # fmt: skip
    predictions = frame.model_copy(update={"persons": people})
    line = augmented_manifest_line(predictions, human_annotated=False, job_name="m", created=datetime.now(UTC))
    assert [p.get("track-id") for p in line["keypoints-metadata"]["persons"]] == [1, None]

    def tracked(uri: str, ids: list[int]) -> dict[str, Any]:
        line = label_line(uri, human=False)
        for person, track in zip(line["keypoints-metadata"]["persons"], ids, strict=True):
            person["track-id"] = track
        return line

    builder = CocoBuilder(COCO17, ("auto",))
    builder.add(tracked("s3://d/frames/a/000001.jpg", [1, 2]), "a1.jpg")
    builder.add(tracked("s3://d/frames/a/000002.jpg", [2, 1]), "a2.jpg")
    builder.add(tracked("s3://d/frames/b/000001.jpg", [1, 2]), "b1.jpg")
    people_tracks = [a["track_id"] for a in builder.dataset()["annotations"] if a["category_id"] == PERSON_CATEGORY]
    assert people_tracks == [1, 2, 2, 1, 3, 4]
