"""Keypoint rigs: which body points a model predicts, in which order, and how they mirror.

The generator knows where every joint in :data:`BODY_JOINTS` is; a :class:`Rig` picks the ones a
team labels. The in-cabin 17-point rig is the default; another rig is any subset of the known
joints (validated), so models, manifests and the portal all follow one declaration.
"""

from __future__ import annotations

from dataclasses import dataclass

BODY_JOINTS = (
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "nose",
    "mouth",
    "neck",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_ankle",
    "right_ankle",
)


def _mirror(name: str) -> str:
    """``left_eye`` ↔ ``right_eye``; central points (nose, neck) mirror to themselves."""
    if name.startswith("left_"):
        return "right_" + name.removeprefix("left_")
    if name.startswith("right_"):
        return "left_" + name.removeprefix("right_")
    return name


@dataclass(frozen=True)
class Rig:
    """An ordered set of keypoint names; the order is the model's output order."""

    name: str
    keypoints: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = sorted(set(self.keypoints) - set(BODY_JOINTS))
        if unknown:
            raise ValueError(f"rig {self.name!r} names unknown joints {unknown}; known: {', '.join(BODY_JOINTS)}")
        if len(set(self.keypoints)) != len(self.keypoints):
            raise ValueError(f"rig {self.name!r} lists a joint twice")
        missing_mirrors = sorted({_mirror(k) for k in self.keypoints} - set(self.keypoints))
        if missing_mirrors:
            # A horizontal-flip augmentation would otherwise swap a point with one the model lacks.
            raise ValueError(f"rig {self.name!r} needs the mirror joints {missing_mirrors} too")

    @property
    def flip_index(self) -> list[int]:
        """For each point, the index of its mirror image (Ultralytics' ``flip_idx``)."""
        return [self.keypoints.index(_mirror(name)) for name in self.keypoints]

    def __len__(self) -> int:
        return len(self.keypoints)


IN_CABIN_17 = Rig("in-cabin-17", BODY_JOINTS)
"""Eyes, ears, nose, mouth, neck, shoulders, elbows, wrists, hips, ankles."""

SKELETON = (
    ("left_eye", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
    ("nose", "mouth"),
    ("mouth", "neck"),
    ("neck", "left_shoulder"),
    ("neck", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_ankle"),
    ("right_hip", "right_ankle"),
)
"""Edges drawn between points (portal, plots), for whichever of them a rig has."""
