"""The synthetic cabin generator and the YOLO label rules: deterministic, consistent ground truth."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from labelloop.rig import COCO17, IN_CABIN_17
from labelloop.synth import BODY_JOINTS, interpolate, render, sample_scene
from labelloop_trainer.yolo_data import LabeledFrame, LabeledPerson, label_lines, write_dataset


def test_scenes_are_deterministic_in_the_seed() -> None:
    """The same seed renders the same pixels and truth; another seed does not."""
    first, again, other = render(sample_scene(7)), render(sample_scene(7)), render(sample_scene(8))
    assert np.array_equal(first.image, again.image)
    assert first.persons == again.persons
    assert not np.array_equal(first.image, other.image)


def test_truth_covers_every_joint_with_all_three_visibilities_across_scenes() -> None:
    """Every person has all joints; across scenes points are visible, occluded and outside, and
    outside means off the frame while the others are on it."""
    seen = set()
    for seed in range(60):
        scene = render(sample_scene(seed))
        height, width = scene.image.shape[:2]
        for person in scene.persons:
            assert set(person.keypoints) == set(BODY_JOINTS)
            for x, y, visibility in person.keypoints.values():
                seen.add(visibility)
                on_frame = 0 <= x < width and 0 <= y < height
                assert on_frame == (visibility != "outside")
            left, top, box_w, box_h = person.box
            assert min(left, top) >= 0
            assert left + box_w <= width
            assert top + box_h <= height
    assert seen == {"visible", "occluded", "outside"}


def test_a_turned_head_hides_the_far_ear() -> None:
    """Looking to their left (yaw > 0.35) hides a person's left ear behind the head."""
    scene = sample_scene(3)
    turned = replace(scene.persons[-1], yaw=0.9)
    truth = render(replace(scene, persons=(turned,))).persons[0]
    assert truth.keypoints["left_ear"][2] == "occluded"


def test_interpolation_moves_smoothly_between_poses() -> None:
    """Halfway between two poses every numeric field is the mean; colours stay those of the first."""
    a, b = sample_scene(1).persons[0], sample_scene(2).persons[0]
    mid = interpolate(a, b, 0.5)
    assert mid.cx == pytest.approx((a.cx + b.cx) / 2)
    assert mid.skin == a.skin


def _frame() -> LabeledFrame:
    points = dict.fromkeys(IN_CABIN_17.keypoints, (10.0, 20.0, "visible"))
    points["left_wrist"] = (30.0, 40.0, "occluded")
    points["right_ankle"] = (-5.0, 300.0, "outside")
    person = LabeledPerson(box=(0.0, 0.0, 100.0, 200.0), keypoints=points)  # type: ignore[arg-type]
    return LabeledFrame(name="f", image=np.zeros((240, 320, 3), np.uint8), persons=(person,),
                        heads=((20.0, 10.0, 40.0, 50.0),))  # fmt: skip


def _flags(line: str) -> dict[str, int]:
    values = line.split()[5:]
    return {name: int(values[3 * i + 2]) for i, name in enumerate(IN_CABIN_17.keypoints)}


def test_pose_main_learns_occluded_points_and_pose_visible_does_not() -> None:
    """Occluded points are targets (flag 1) for pose_main only; outside points are never targets."""
    [main] = label_lines(_frame(), "pose_main", IN_CABIN_17)
    [visible] = label_lines(_frame(), "pose_visible", IN_CABIN_17)
    assert (_flags(main)["left_wrist"], _flags(visible)["left_wrist"]) == (1, 0)
    assert (_flags(main)["right_ankle"], _flags(visible)["right_ankle"]) == (0, 0)
    assert (_flags(main)["nose"], _flags(visible)["nose"]) == (2, 2)
    assert main.split()[:5] == ["0", "0.156250", "0.416667", "0.312500", "0.833333"]


def test_head_labels_are_normalised_boxes() -> None:
    """The head model's labels are class 0 boxes, centre and size relative to the frame."""
    assert label_lines(_frame(), "head", IN_CABIN_17) == ["0 0.125000 0.145833 0.125000 0.208333"]


def test_dataset_yaml_carries_the_rigs_shape_flip_and_sigmas(tmp_path: Path) -> None:
    """Training and evaluation read the serving set's rig: kpt_shape, flip_idx and OKS sigmas come from it."""
    config = yaml.safe_load(write_dataset(tmp_path, {"val": []}, "pose_main", COCO17).read_text())
    assert config["kpt_shape"] == [17, 3]
    assert config["flip_idx"] == COCO17.flip_index
    assert config["kpt_oks_sigmas"] == list(COCO17.oks_sigmas)
    assert config["kpt_names"] == {0: list(COCO17.keypoints)}
    cabin = yaml.safe_load(write_dataset(tmp_path / "cabin", {"val": []}, "pose_main", IN_CABIN_17).read_text())
    assert cabin["kpt_oks_sigmas"][IN_CABIN_17.keypoints.index("mouth")] == pytest.approx(0.026)
    assert "kpt_shape" not in yaml.safe_load(write_dataset(tmp_path / "head", {"val": []}, "head", COCO17).read_text())
