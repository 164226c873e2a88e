"""Rigs as data: the built-in declarations, a team's own file, and the errors a bad one gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from labelloop.rig import BUILT_IN_RIGS, COCO17, DEFAULT_SIGMA, IN_CABIN_17, Rig, RigError, load_rig


def test_coco17_matches_cocos_order_flip_and_sigmas() -> None:
    """coco17 is COCO's order, flip_idx and sigmas, as Ultralytics' coco-pose.yaml and cocoeval.py have them."""
    assert COCO17.keypoints[:5] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    assert COCO17.flip_index == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert COCO17.oks_sigmas[0] == pytest.approx(0.026)
    assert COCO17.oks_sigmas[-1] == pytest.approx(0.089)
    assert len(COCO17.skeleton) == 19


def test_in_cabin_rig_flip_and_head_points() -> None:
    """The in-cabin rig mirrors eyes and ears and keeps central points in place."""
    assert IN_CABIN_17.flip_index[:6] == [1, 0, 3, 2, 4, 5]
    assert set(IN_CABIN_17.head_points) >= {"nose", "left_eye", "right_ear"}


@pytest.mark.parametrize("rig", list(BUILT_IN_RIGS.values()), ids=list(BUILT_IN_RIGS))
def test_declaration_round_trips(rig: Rig) -> None:
    """A rig written as its declaration reads back equal."""
    assert Rig.from_dict(json.loads(json.dumps(rig.to_dict()))) == rig


def test_team_rig_from_toml_file(tmp_path: Path) -> None:
    """A team's own rig loads from TOML; sigmas it leaves out get the default."""
    path = tmp_path / "forklift.toml"
    path.write_text(
        'name = "driver-5"\nkeypoints = ["nose", "left_hand", "right_hand", "left_eye", "right_eye"]\n'
        'mirror_pairs = [["left_hand", "right_hand"], ["left_eye", "right_eye"]]\n'
        'skeleton = [["nose", "left_hand"]]\nhead_points = ["nose", "left_eye", "right_eye"]\n'
    )
    rig = load_rig(path)
    assert rig.name == "driver-5"
    assert rig.flip_index == [0, 2, 1, 4, 3]
    assert rig.oks_sigmas == (DEFAULT_SIGMA,) * 5
    assert load_rig("coco17") is COCO17


@pytest.mark.parametrize(
    ("declaration", "reason"),
    [
        ({"name": "x", "keypoints": ["a", "a"]}, "twice"),
        ({"name": "x", "keypoints": ["a"], "skeleton": [["a", "b"]]}, "does not have"),
        ({"name": "x", "keypoints": ["a", "b"], "mirror_pairs": [["a", "b"], ["b", "a"]]}, "two mirror pairs"),
        ({"name": "x", "keypoints": ["a", "b"], "sigmas": [0.1]}, "1 sigmas for 2"),
        ({"name": "x", "keypoints": ["a"], "mirror_pairs": ["ab"]}, "not a pair"),
        ({"name": "x"}, "needs 'keypoints'"),
        ({"name": "x", "keypoints": ["a"], "colour": "red"}, "unknown rig fields"),
    ],
)
def test_bad_declarations_are_refused_with_the_reason(declaration: dict[str, object], reason: str) -> None:
    """A malformed rig is a RigError that names what is wrong."""
    with pytest.raises(RigError, match=reason):
        Rig.from_dict(declaration)


def test_unreadable_rig_file_is_a_rig_error(tmp_path: Path) -> None:
    """A missing or broken file names itself."""
    with pytest.raises(RigError, match="neither a built-in rig"):
        load_rig(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(RigError, match="cannot read rig file"):
        load_rig(broken)
