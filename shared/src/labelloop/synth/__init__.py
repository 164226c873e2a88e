"""Synthetic in-cabin data with known ground truth: training images, test clips, hidden answers."""

from labelloop.rig import IN_CABIN_17, Rig
from labelloop.synth.clips import store_truth, write_clip
from labelloop.synth.scene import (
    BODY_JOINTS,
    Camera,
    Look,
    PersonTruth,
    Pose,
    Rendered,
    Scene,
    interpolate,
    render,
    sample_scene,
)
from labelloop.synth.truth import truth_predictions

__all__ = [
    "BODY_JOINTS",
    "IN_CABIN_17",
    "Camera",
    "Look",
    "PersonTruth",
    "Pose",
    "Rendered",
    "Rig",
    "Scene",
    "interpolate",
    "render",
    "sample_scene",
    "store_truth",
    "write_clip",
    "truth_predictions",
]
