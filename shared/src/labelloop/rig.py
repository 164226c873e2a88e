"""Keypoint rigs as data: which body points a model predicts, in which order, how they mirror,
how they are drawn, which of them bound the head, and how precisely people can place each.

Two rigs are built in, declared in ``rigs/*.toml`` beside this module: ``coco17`` (COCO's 17
keypoints, what Ultralytics' pose models predict) and ``in-cabin-17`` (the synthetic cabin's
points: no knees, but mouth and neck). A team declares its own in a JSON or TOML file of the same
shape (:func:`load_rig`; the fields of :meth:`Rig.to_dict`).
Inference decoding, the visibility rule, training (``kpt_shape``, ``flip_idx``), evaluation
(OKS sigmas) and the manifests all take the rig of the serving model set from here.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SIGMA = 0.05
"""OKS sigma of a point a rig gives none for (between COCO's eye, 0.025, and hip, 0.107)."""


class RigError(ValueError):
    """A rig declaration that cannot be used, with the reason."""


@dataclass(frozen=True)
class Rig:
    """An ordered set of keypoint names; the order is the model's output order."""

    name: str
    keypoints: tuple[str, ...]
    mirror_pairs: tuple[tuple[str, str], ...] = ()
    """Points a horizontal flip swaps (left/right); a point in no pair mirrors to itself."""
    skeleton: tuple[tuple[str, str], ...] = ()
    """Edges drawn between points (portal, report)."""
    head_points: tuple[str, ...] = ()
    """The face points whose spread bounds the head box when no head detector serves."""
    sigmas: tuple[float, ...] = ()
    """Per-point OKS sigma (COCO's convention); empty: :data:`DEFAULT_SIGMA` for each."""
    track_attributes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)
    """What people say once per person of a clip (their track), each with its allowed values: seat,
    child seat, glasses. Labelled once per track in the portal, carried to every frame of it in exports.
    Not part of a rig's identity: a model predicts the points, not these, so two rigs that differ only
    here serve the same models (a set stored before they existed is still the in-cabin rig)."""

    def __post_init__(self) -> None:
        known = set(self.keypoints)
        if not self.keypoints:
            raise RigError(f"rig {self.name!r} has no keypoints")
        if len(known) != len(self.keypoints):
            raise RigError(f"rig {self.name!r} lists a keypoint twice")
        mirrored = [name for pair in self.mirror_pairs for name in pair]
        if len(set(mirrored)) != len(mirrored):
            raise RigError(f"rig {self.name!r}: a keypoint is in two mirror pairs")
        named = {*mirrored, *(name for edge in self.skeleton for name in edge), *self.head_points}
        if unknown := sorted(named - known):
            raise RigError(f"rig {self.name!r} refers to keypoints it does not have: {unknown}")
        if self.sigmas and len(self.sigmas) != len(self.keypoints):
            raise RigError(f"rig {self.name!r} gives {len(self.sigmas)} sigmas for {len(self.keypoints)} keypoints")
        if any(sigma <= 0 for sigma in self.sigmas):
            raise RigError(f"rig {self.name!r}: sigmas must be positive")
        attributes = [name for name, _ in self.track_attributes]
        if len(set(attributes)) != len(attributes):
            raise RigError(f"rig {self.name!r} declares a track attribute twice")
        for name, values in self.track_attributes:
            if not values or len(set(values)) != len(values) or "" in values:
                raise RigError(f"rig {self.name!r}: track attribute {name!r} needs distinct, non-empty values")

    def __len__(self) -> int:
        return len(self.keypoints)

    def mirror(self, name: str) -> str:
        """The point a horizontal flip turns ``name`` into."""
        for left, right in self.mirror_pairs:
            if name == left:
                return right
            if name == right:
                return left
        return name

    @property
    def flip_index(self) -> list[int]:
        """For each point, the index of its mirror image (Ultralytics' ``flip_idx``)."""
        return [self.keypoints.index(self.mirror(name)) for name in self.keypoints]

    @property
    def oks_sigmas(self) -> tuple[float, ...]:
        return self.sigmas or (DEFAULT_SIGMA,) * len(self.keypoints)

    def to_dict(self) -> dict[str, Any]:
        """The declaration, as a team's rig file holds it."""
        return {
            "name": self.name,
            "keypoints": list(self.keypoints),
            "mirror_pairs": [list(pair) for pair in self.mirror_pairs],
            "skeleton": [list(edge) for edge in self.skeleton],
            "head_points": list(self.head_points),
            "sigmas": list(self.sigmas),
            "track_attributes": {name: list(values) for name, values in self.track_attributes},
        }

    @property
    def track_attribute_values(self) -> dict[str, list[str]]:
        """``{attribute: allowed values}``, as events and the portal carry them."""
        return {name: list(values) for name, values in self.track_attributes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rig:
        """A rig from its declaration; :class:`RigError` naming what is wrong."""
        fields = {"name", "keypoints", "mirror_pairs", "skeleton", "head_points", "sigmas", "track_attributes"}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise RigError(f"unknown rig fields {unknown}")
        try:
            return cls(
                name=str(data["name"]),
                keypoints=tuple(str(name) for name in data["keypoints"]),
                mirror_pairs=tuple(_pair(pair) for pair in data.get("mirror_pairs", ())),
                skeleton=tuple(_pair(edge) for edge in data.get("skeleton", ())),
                head_points=tuple(str(name) for name in data.get("head_points", ())),
                sigmas=tuple(float(sigma) for sigma in data.get("sigmas", ())),
                track_attributes=_attributes(data.get("track_attributes", {})),
            )
        except KeyError as missing:
            raise RigError(f"a rig declaration needs {missing}") from missing
        except (TypeError, ValueError) as error:
            if isinstance(error, RigError):
                raise
            raise RigError(f"malformed rig declaration: {error}") from error


def _attributes(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, Mapping):
        raise RigError(f"track_attributes must map each attribute to its values, not {value!r}")
    if bad := [name for name, values in value.items() if isinstance(values, str) or not isinstance(values, list)]:
        raise RigError(f"track attributes {bad} need a list of values")
    return tuple((str(name), tuple(str(v) for v in values)) for name, values in value.items())


def _pair(value: Any) -> tuple[str, str]:
    if isinstance(value, str) or len(value) != 2:
        raise RigError(f"{value!r} is not a pair of keypoint names")
    return str(value[0]), str(value[1])


BUILT_IN_DIR = Path(__file__).with_name("rigs")
"""The built-in rigs' declarations, in the same TOML format a team writes its own in."""


def _read_declaration(path: Path) -> Rig:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise RigError(f"cannot read rig file {path}: {error}") from error
    if not isinstance(data, dict):
        raise RigError(f"rig file {path} does not hold one rig declaration")
    return Rig.from_dict(data)


BUILT_IN_RIGS = {rig.name: rig for rig in map(_read_declaration, sorted(BUILT_IN_DIR.glob("*.toml")))}
COCO17 = BUILT_IN_RIGS["coco17"]
"""COCO's 17 keypoints in COCO's order: what ``yolo11n-pose`` predicts (``rigs/coco17.toml``)."""
IN_CABIN_17 = BUILT_IN_RIGS["in-cabin-17"]
"""The synthetic cabin's points (eyes, ears, nose, mouth, neck, shoulders, elbows, wrists, hips,
ankles): the demo's rig, which its generator knows the truth of (``rigs/in-cabin-17.toml``)."""


def load_rig(spec: str | Path) -> Rig:
    """A built-in rig by name, or a team's rig from a ``.json`` / ``.toml`` file."""
    if isinstance(spec, str) and spec in BUILT_IN_RIGS:
        return BUILT_IN_RIGS[spec]
    path = Path(spec)
    if not path.is_file():
        raise RigError(f"{spec!r} is neither a built-in rig ({', '.join(BUILT_IN_RIGS)}) nor a rig file")
    return _read_declaration(path)
