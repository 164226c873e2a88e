"""Track attributes: declared in a rig, said once per track, carried to every frame of it in exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from labelloop.coco import PERSON_CATEGORY
from labelloop.model_set import read_set_folder
from labelloop.rig import COCO17, IN_CABIN_17, Rig, RigError
from labelloop.track_attributes import carry_track_attributes
from labelloop_tools.export import export
from labelloop_trainer.dataset import holdout_source

from tests.label_lines import label_line


def test_a_rig_declares_track_attributes_with_their_values_and_keeps_them_through_its_file_form() -> None:
    assert IN_CABIN_17.track_attribute_values["seat"][0] == "driver"
    assert COCO17.track_attributes == ()
    assert Rig.from_dict(IN_CABIN_17.to_dict()) == IN_CABIN_17
    declared = {**COCO17.to_dict(), "track_attributes": {"glasses": ["no", "yes"]}}
    assert Rig.from_dict(declared).track_attribute_values == {"glasses": ["no", "yes"]}


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"glasses": []}, "distinct, non-empty values"),
        ({"glasses": ["no", "no"]}, "distinct, non-empty values"),
        ({"glasses": "yes"}, "need a list of values"),
        (["glasses"], "must map each attribute"),
    ],
)
def test_a_malformed_track_attribute_declaration_names_its_fault(attributes: Any, reason: str) -> None:
    with pytest.raises(RigError, match=reason):
        Rig.from_dict({**COCO17.to_dict(), "track_attributes": attributes})


def _tracked(uri: str, tracks: list[int], said: list[dict[str, str]] | None = None, human: bool = False) -> Any:
    line = label_line(uri, human=human, persons=len(tracks))
    persons = line["keypoints-metadata"]["persons"] or [{} for _ in tracks]
    for person, track, attributes in zip(persons, tracks, said or [{}] * len(tracks), strict=True):
        person["track-id"] = track
        if attributes:
            person["attributes"] = attributes
    line["keypoints-metadata"]["persons"] = persons
    return line


def test_what_people_said_of_a_track_in_one_frame_reaches_every_frame_of_it_and_no_other_clip() -> None:
    lines = [
        _tracked("s3://d/frames/a/000001.jpg", [1, 2]),  # auto-accepted, before people saw the track
        _tracked("s3://d/frames/a/000003.jpg", [1, 2], [{"seat": "driver"}, {}], human=True),
        _tracked("s3://d/frames/a/000005.jpg", [1, 2], [{"seat": "rear-left"}, {"glasses": "yes"}], human=True),
        _tracked("s3://d/frames/b/000001.jpg", [1]),  # track 1 of another clip
    ]
    before = json.dumps(lines)
    carried = carry_track_attributes(lines)
    assert json.dumps(lines) == before, "the given lines stay as they were"

    def said(line: dict[str, Any]) -> list[Any]:
        return [p.get("attributes") for p in line["keypoints-metadata"]["persons"]]

    assert said(carried[0]) == [{"seat": "rear-left"}, {"glasses": "yes"}]  # the track's latest answer
    assert said(carried[1]) == [{"seat": "driver"}, {"glasses": "yes"}]  # a frame's own answer stays its own
    assert said(carried[3]) == [None]


def test_coco_and_manifest_exports_carry_track_attributes_to_auto_accepted_frames(tmp_path: Path) -> None:
    lines = [_tracked("s3://d/frames/a/000001.jpg", [4]),
             _tracked("s3://d/frames/a/000002.jpg", [4], [{"glasses": "yes"}], human=True)]  # fmt: skip
    export(lines, tmp_path / "coco.json", "coco", COCO17)
    people = [a for a in json.loads((tmp_path / "coco.json").read_text())["annotations"]
              if a["category_id"] == PERSON_CATEGORY]  # fmt: skip
    assert [(a["labelloop_source"], a["attributes"]) for a in people] == [("auto", {"glasses": "yes"}),
                                                                         ("human", {"glasses": "yes"})]  # fmt: skip
    export(lines, tmp_path / "out.manifest", "gt-manifest", COCO17)
    first = json.loads((tmp_path / "out.manifest").read_text().splitlines()[0])
    assert first["keypoints-metadata"]["persons"][0]["attributes"] == {"glasses": "yes"}


def test_a_rig_stored_before_track_attributes_is_still_the_in_cabin_rig_for_its_models_and_holdout() -> None:
    """Track attributes are labelling, not geometry: a set stored without them serves the same models, and
    the trainer still draws its synthetic holdout for it; the shipped set carries them for the portal."""
    stored = Rig.from_dict({k: v for k, v in IN_CABIN_17.to_dict().items() if k != "track_attributes"})
    assert stored == IN_CABIN_17
    assert holdout_source("auto", stored) == "synthetic"
    shipped = read_set_folder(Path(__file__).parents[2] / "models" / "initial")
    assert shipped.rig.track_attribute_values == IN_CABIN_17.track_attribute_values
