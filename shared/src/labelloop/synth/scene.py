"""Synthetic in-cabin scenes with exact ground truth: who sits where, every joint and whether it shows.

A :class:`Scene` is plain numbers (so clips can interpolate between two of them); :func:`render`
draws it and, in the same pass, an id map saying which part covers each pixel. A joint is
``visible`` when the pixel under it belongs to its own part (or a part it joins), ``occluded``
when a seat, the steering wheel, an arm or the dashboard covers it, and ``outside`` when it falls
off the frame. Everything is deterministic in the seed, so a dataset is reproducible from the
command that made it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from labelloop.rig import IN_CABIN_17

BODY_JOINTS = IN_CABIN_17.keypoints
"""Every joint the generator places and knows the visibility of: the in-cabin rig's points."""

Image = NDArray[np.uint8]
Visibility = Literal["visible", "occluded", "outside"]

# Part ids in the id map: person p's parts are p * _PERSON_STRIDE + part; occluders are above.
_PERSON_STRIDE = 16
_TORSO, _NECK, _HEAD, _LEFT_ARM, _RIGHT_ARM, _LEFT_LEG, _RIGHT_LEG = range(1, 8)
_OCCLUDER = 250

# The parts under a joint that still count as "this joint is showing".
_OWN_PARTS: dict[str, tuple[int, ...]] = {
    "left_eye": (_HEAD,),
    "right_eye": (_HEAD,),
    "left_ear": (_HEAD,),
    "right_ear": (_HEAD,),
    "nose": (_HEAD,),
    "mouth": (_HEAD,),
    "neck": (_NECK, _TORSO, _HEAD),
    "left_shoulder": (_TORSO, _LEFT_ARM, _NECK),
    "right_shoulder": (_TORSO, _RIGHT_ARM, _NECK),
    "left_elbow": (_LEFT_ARM,),
    "right_elbow": (_RIGHT_ARM,),
    "left_wrist": (_LEFT_ARM,),
    "right_wrist": (_RIGHT_ARM,),
    "left_hip": (_TORSO, _LEFT_LEG),
    "right_hip": (_TORSO, _RIGHT_LEG),
    "left_ankle": (_LEFT_LEG,),
    "right_ankle": (_RIGHT_LEG,),
}


@dataclass(frozen=True)
class Pose:
    """One seated person. Lengths are in pixels; angles in radians, image axes (y down).

    The person faces the camera, so their left side is on the image's right.
    """

    cx: float
    shoulder_y: float
    scale: float  # shoulder-to-hip height
    head_tilt: float  # head offset along x, in units of scale
    yaw: float  # -1 (looking to their right) .. 1 (to their left)
    left_upper: float  # arm segment angles; for the left arm measured mirrored, so both arms share ranges
    left_fore: float
    right_upper: float
    right_fore: float
    left_foot: float  # ankle x offset from the hip, in units of scale
    right_foot: float
    leg_length: float  # hip to ankle, in units of scale
    skin: tuple[int, int, int] = (150, 170, 200)
    shirt: tuple[int, int, int] = (90, 60, 40)
    rear_seat: bool = False  # behind a front seat that hides the lower body
    steering_wheel: bool = False


@dataclass(frozen=True)
class Look:
    """Everything about the picture that is not a person: cabin, light and camera."""

    width: int = 320
    height: int = 240
    cabin: tuple[int, int, int] = (60, 60, 60)
    window: tuple[int, int, int] = (200, 190, 170)
    window_box: tuple[float, float, float, float] = (0.0, 0.0, 0.3, 0.35)  # fractions of the frame
    dashboard_top: float = 0.9  # fraction of the height; 1.0 = no dashboard in view
    infrared: bool = False
    gain: float = 1.0
    gamma: float = 1.0
    blur: float = 0.0
    noise: float = 4.0
    texture_seed: int = 0
    # Camera roll in degrees; the picture is zoomed just enough that no empty corner shows.
    roll_deg: float = 0.0


Camera = Literal["standard", "rolled"]
"""Which camera a scene is seen by: ``standard`` (what the shipped models were trained on), or
``rolled``, a new car's camera mounted at a 9-16 degree roll and closer: a domain shift the
shipped models have never seen, for demos and active-learning benchmarks that need one."""


@dataclass(frozen=True)
class Scene:
    look: Look
    persons: tuple[Pose, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PersonTruth:
    """Ground truth for one person: every joint with its visibility, the body box and the head box."""

    keypoints: dict[str, tuple[float, float, Visibility]]
    box: tuple[float, float, float, float]  # left, top, width, height (clipped to the frame)
    head: tuple[float, float, float, float] | None  # None when the head is out of frame


@dataclass(frozen=True)
class Rendered:
    image: Image  # BGR
    persons: tuple[PersonTruth, ...]


# ----------------------------------------------------------------------------------------------
# Sampling


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


def _colour(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    return (int(rng.integers(low, high)), int(rng.integers(low, high)), int(rng.integers(low, high)))


_SKIN_TONES = ((185, 200, 230), (150, 170, 205), (110, 140, 180), (70, 95, 140), (50, 70, 100))


def sample_pose(rng: np.random.Generator, look: Look, *, seat: float, rear_seat: bool, wheel: bool) -> Pose:
    """A plausible seated person centred near ``seat`` (a fraction of the width)."""
    scale = look.height * (_uniform(rng, 0.28, 0.38) if rear_seat else _uniform(rng, 0.42, 0.62))
    arm_modes = ("lap", "wheel" if wheel else "lap", "phone", "window", "crossed")
    weights = np.array([0.3, 0.35, 0.12, 0.1, 0.13])

    def arm() -> tuple[float, float]:
        mode = arm_modes[int(rng.choice(len(arm_modes), p=weights / weights.sum()))]
        if mode == "wheel":
            return _uniform(rng, 1.2, 1.9), _uniform(rng, -0.9, -0.1)
        if mode == "phone":
            return _uniform(rng, 1.3, 1.9), _uniform(rng, -1.9, -1.3)
        if mode == "window":
            return _uniform(rng, 2.2, 2.9), _uniform(rng, -2.6, -1.6)
        if mode == "crossed":  # the forearm crosses the body and hides the other side's hip
            return _uniform(rng, 1.3, 1.6), _uniform(rng, -0.15, 0.25)
        return _uniform(rng, 1.4, 1.8), _uniform(rng, 0.1, 0.8)

    left_upper, left_fore = arm()
    right_upper, right_fore = arm()
    return Pose(
        cx=look.width * (seat + _uniform(rng, -0.06, 0.06)),
        # Placed by the top of the head, which an in-cabin camera keeps in view.
        shoulder_y=look.height * (_uniform(rng, 0.12, 0.3) if rear_seat else _uniform(rng, 0.01, 0.12)) + 0.82 * scale,
        scale=scale,
        head_tilt=_uniform(rng, -0.12, 0.12),
        yaw=_uniform(rng, -1.0, 1.0),
        left_upper=left_upper,
        left_fore=left_fore,
        right_upper=right_upper,
        right_fore=right_fore,
        left_foot=_uniform(rng, -0.1, 0.4),
        right_foot=_uniform(rng, -0.1, 0.4),
        leg_length=_uniform(rng, 1.1, 1.7),
        skin=_SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))],
        shirt=_colour(rng, 20, 230),
        rear_seat=rear_seat,
        steering_wheel=wheel,
    )


def sample_look(rng: np.random.Generator, *, width: int = 320, height: int = 240, camera: Camera = "standard") -> Look:
    """Cabin colours, a window, the dashboard line, and the camera's light and noise."""
    window_x = _uniform(rng, 0.0, 0.7)
    night = rng.random() < 0.25
    look = Look(
        width=width,
        height=height,
        cabin=_colour(rng, 20, 110),
        window=_colour(rng, 40, 120) if night else _colour(rng, 150, 250),
        window_box=(window_x, 0.0, window_x + _uniform(rng, 0.15, 0.35), _uniform(rng, 0.2, 0.45)),
        dashboard_top=_uniform(rng, 0.8, 1.0) if rng.random() < 0.7 else 1.0,
        infrared=bool(rng.random() < 0.35),
        gain=_uniform(rng, 0.35, 0.7) if night else _uniform(rng, 0.75, 1.3),
        gamma=_uniform(rng, 0.7, 1.4),
        blur=_uniform(rng, 0.0, 1.6) if rng.random() < 0.5 else 0.0,
        noise=_uniform(rng, 0.0, 14.0),
        texture_seed=int(rng.integers(2**31)),
    )
    if camera == "rolled":  # drawn last, so standard scenes stay what they always were
        look = replace(look, roll_deg=float(rng.choice((-1.0, 1.0))) * _uniform(rng, 9.0, 16.0))
    return look


def sample_scene(seed: int, *, width: int = 320, height: int = 240, camera: Camera = "standard") -> Scene:
    """A random cabin with a driver and, sometimes, a front passenger and a rear passenger."""
    rng = np.random.default_rng(seed)
    look = sample_look(rng, width=width, height=height, camera=camera)
    driver_side = 0.3 if rng.random() < 0.5 else 0.7
    persons = [sample_pose(rng, look, seat=driver_side, rear_seat=False, wheel=bool(rng.random() < 0.7))]
    if rng.random() < 0.35:
        persons.append(sample_pose(rng, look, seat=1.0 - driver_side, rear_seat=False, wheel=False))
    if rng.random() < 0.25:
        persons.insert(0, sample_pose(rng, look, seat=_uniform(rng, 0.4, 0.6), rear_seat=True, wheel=False))
    return Scene(look=look, persons=tuple(persons))


def interpolate(a: Pose, b: Pose, t: float) -> Pose:
    """The pose a fraction ``t`` of the way from ``a`` to ``b`` (clips move smoothly)."""
    changes = {
        f.name: getattr(a, f.name) * (1.0 - t) + getattr(b, f.name) * t
        for f in fields(Pose)
        if isinstance(getattr(a, f.name), float)
    }
    return replace(a, **changes)


# ----------------------------------------------------------------------------------------------
# Geometry


def _joints(pose: Pose) -> dict[str, tuple[float, float]]:
    s = pose.scale
    half_shoulders, half_hips = 0.45 * s, 0.33 * s
    neck = (pose.cx, pose.shoulder_y - 0.1 * s)
    head = (pose.cx + pose.head_tilt * s, pose.shoulder_y - 0.52 * s)
    rx, ry = 0.24 * s, 0.3 * s
    yaw = pose.yaw
    points = {
        "neck": neck,
        "right_shoulder": (pose.cx - half_shoulders, pose.shoulder_y),
        "left_shoulder": (pose.cx + half_shoulders, pose.shoulder_y),
        "right_hip": (pose.cx - half_hips, pose.shoulder_y + 0.95 * s),
        "left_hip": (pose.cx + half_hips, pose.shoulder_y + 0.95 * s),
        "nose": (head[0] + 0.55 * rx * yaw, head[1] + 0.1 * ry),
        "mouth": (head[0] + 0.45 * rx * yaw, head[1] + 0.5 * ry),
        "right_eye": (head[0] - 0.4 * rx + 0.45 * rx * yaw, head[1] - 0.15 * ry),
        "left_eye": (head[0] + 0.4 * rx + 0.45 * rx * yaw, head[1] - 0.15 * ry),
        "right_ear": (head[0] - 0.95 * rx + 0.3 * rx * yaw, head[1]),
        "left_ear": (head[0] + 0.95 * rx + 0.3 * rx * yaw, head[1]),
    }
    for side, sign, upper, fore in (
        ("right", -1.0, pose.right_upper, pose.right_fore),
        ("left", 1.0, pose.left_upper, pose.left_fore),
    ):
        # Angles are sampled for the image-left arm; the other arm mirrors them about the body axis.
        shoulder = points[f"{side}_shoulder"]
        elbow = (shoulder[0] - sign * 0.55 * s * math.cos(upper), shoulder[1] + 0.55 * s * math.sin(upper))
        wrist = (elbow[0] + sign * -0.5 * s * math.cos(fore), elbow[1] + 0.5 * s * math.sin(fore))
        points[f"{side}_elbow"], points[f"{side}_wrist"] = elbow, wrist
        hip = points[f"{side}_hip"]
        foot = pose.left_foot if side == "left" else pose.right_foot
        points[f"{side}_ankle"] = (hip[0] + sign * foot * s, hip[1] + pose.leg_length * s)
    points["_head"] = head
    points["_head_radii"] = (rx, ry)
    return points


def _ear_hidden_by_head(name: str, yaw: float) -> bool:
    """Turning the head hides the far ear (and, turned far, the far eye) behind the head itself."""
    if name == "left_ear":
        return yaw > 0.35
    if name == "right_ear":
        return yaw < -0.35
    if name == "left_eye":
        return yaw > 0.85
    if name == "right_eye":
        return yaw < -0.85
    return False


# ----------------------------------------------------------------------------------------------
# Drawing


class _Canvas:
    """Draws each shape on the picture and, with its part id, on the id map."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self.ids = np.zeros(image.shape[:2], np.uint8)
        self.rolled = False

    def line(
        self, a: tuple[float, float], b: tuple[float, float], colour: tuple[int, int, int], width: float, part: int
    ) -> None:
        pa, pb, w = _px(a), _px(b), max(1, round(width))
        cv2.line(self.image, pa, pb, colour, w, cv2.LINE_AA)
        cv2.line(self.ids, pa, pb, (part,), w)

    def ellipse(
        self,
        centre: tuple[float, float],
        radii: tuple[float, float],
        colour: tuple[int, int, int],
        part: int,
        thickness: int = -1,
    ) -> None:
        c, r = _px(centre), (max(1, round(radii[0])), max(1, round(radii[1])))
        cv2.ellipse(self.image, c, r, 0, 0, 360, colour, thickness, cv2.LINE_AA)
        cv2.ellipse(self.ids, c, r, 0, 0, 360, (part,), thickness)

    def polygon(self, points: list[tuple[float, float]], colour: tuple[int, int, int], part: int) -> None:
        pts = np.array([_px(p) for p in points], np.int32)
        cv2.fillPoly(self.image, [pts], colour, cv2.LINE_AA)
        cv2.fillPoly(self.ids, [pts], (part,))

    def rectangle(
        self, left_top: tuple[float, float], right_bottom: tuple[float, float], colour: tuple[int, int, int], part: int
    ) -> None:
        a, b = _px(left_top), _px(right_bottom)
        cv2.rectangle(self.image, a, b, colour, -1)
        cv2.rectangle(self.ids, a, b, (part,), -1)


def _px(point: tuple[float, float]) -> tuple[int, int]:
    return round(point[0]), round(point[1])


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return (min(255, int(colour[0] * factor)), min(255, int(colour[1] * factor)), min(255, int(colour[2] * factor)))


def _draw_cabin(canvas: _Canvas, look: Look) -> None:
    w, h = look.width, look.height
    rng = np.random.default_rng(look.texture_seed)
    ramp = np.linspace(0.7, 1.2, h, dtype=np.float32)[:, None, None]
    canvas.image[:] = np.clip(np.array(look.cabin, np.float32) * ramp, 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = look.window_box
    canvas.rectangle((x0 * w, y0 * h), (x1 * w, y1 * h), look.window, 0)
    for _ in range(int(rng.integers(3, 9))):  # trees and buildings through the glass, trim lines in the cabin
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        cv2.line(
            canvas.image,
            _px((x, y)),
            _px((x + rng.uniform(-60, 60), y + rng.uniform(-40, 40))),
            _shade(look.cabin, float(rng.uniform(0.5, 1.6))),
            int(rng.integers(1, 5)),
            cv2.LINE_AA,
        )


def _draw_person(canvas: _Canvas, pose: Pose, joints: dict[str, tuple[float, float]], index: int) -> None:
    base = index * _PERSON_STRIDE
    s = pose.scale
    seat_colour = _shade(pose.shirt, 0.35)
    # The seat and headrest are behind the person: drawn first, they occlude nothing of theirs.
    canvas.rectangle(
        (pose.cx - 0.62 * s, pose.shoulder_y - 0.35 * s),
        (pose.cx + 0.62 * s, pose.shoulder_y + 1.3 * s),
        seat_colour,
        0,
    )
    canvas.rectangle(
        (pose.cx - 0.28 * s, pose.shoulder_y - 0.85 * s),
        (pose.cx + 0.28 * s, pose.shoulder_y - 0.45 * s),
        seat_colour,
        0,
    )
    trousers = _shade(pose.shirt, 0.55)
    for side, part in (("right", _RIGHT_LEG), ("left", _LEFT_LEG)):
        hip, ankle = joints[f"{side}_hip"], joints[f"{side}_ankle"]
        knee = ((hip[0] + ankle[0]) / 2, hip[1] + 0.35 * s)
        canvas.line(hip, knee, trousers, 0.2 * s, base + part)
        canvas.line(knee, ankle, trousers, 0.16 * s, base + part)
        canvas.ellipse(ankle, (0.09 * s, 0.05 * s), (30, 30, 30), base + part)
    torso = [joints["right_shoulder"], joints["left_shoulder"], joints["left_hip"], joints["right_hip"]]
    canvas.polygon(torso, pose.shirt, base + _TORSO)
    canvas.line(joints["neck"], (pose.cx, pose.shoulder_y + 0.05 * s), pose.skin, 0.16 * s, base + _NECK)
    head, radii = joints["_head"], joints["_head_radii"]
    canvas.ellipse(head, radii, pose.skin, base + _HEAD)
    hair = (20, 30, 45) if pose.skin[0] > 90 else (15, 15, 15)
    canvas.ellipse((head[0], head[1] - 0.55 * radii[1]), (radii[0] * 1.02, radii[1] * 0.5), hair, base + _HEAD)
    face_size = max(1.0, 0.05 * s)
    for name in ("left_eye", "right_eye"):
        if not _ear_hidden_by_head(name, pose.yaw):
            canvas.ellipse(joints[name], (face_size * 1.3, face_size * 0.8), (25, 25, 25), base + _HEAD)
    canvas.line(
        joints["nose"],
        (joints["nose"][0], joints["nose"][1] - 0.08 * s),
        _shade(pose.skin, 0.7),
        face_size,
        base + _HEAD,
    )
    mouth = joints["mouth"]
    canvas.line(
        (mouth[0] - 0.07 * s, mouth[1]), (mouth[0] + 0.07 * s, mouth[1]), (40, 40, 120), face_size, base + _HEAD
    )
    for name in ("left_ear", "right_ear"):
        if not _ear_hidden_by_head(name, pose.yaw):
            canvas.ellipse(joints[name], (face_size * 1.1, face_size * 2.0), _shade(pose.skin, 0.85), base + _HEAD)
    if pose.steering_wheel:
        centre = (pose.cx + 0.05 * s, pose.shoulder_y + 0.75 * s)
        canvas.ellipse(centre, (0.62 * s, 0.28 * s), (25, 25, 25), _OCCLUDER, thickness=max(2, round(0.08 * s)))
    sleeve = _shade(pose.shirt, 0.85)
    for side, part in (("right", _RIGHT_ARM), ("left", _LEFT_ARM)):
        shoulder, elbow, wrist = joints[f"{side}_shoulder"], joints[f"{side}_elbow"], joints[f"{side}_wrist"]
        canvas.line(shoulder, elbow, sleeve, 0.16 * s, base + part)
        canvas.line(elbow, wrist, pose.skin, 0.12 * s, base + part)
        canvas.ellipse(wrist, (0.07 * s, 0.07 * s), pose.skin, base + part)


def _draw_front_seat(canvas: _Canvas, pose: Pose) -> None:
    """A rear passenger sits behind a front seat that covers them from the chest down."""
    s = pose.scale
    colour = (45, 45, 50)
    canvas.rectangle(
        (pose.cx - 0.9 * s, pose.shoulder_y + 0.55 * s), (pose.cx + 0.9 * s, canvas.image.shape[0]), colour, _OCCLUDER
    )


def _camera(image: Image, look: Look) -> Image:
    """Light, infrared and sensor effects; applied after drawing, so they never move ground truth."""
    rng = np.random.default_rng(look.texture_seed + 1)
    work = image.astype(np.float32) / 255.0
    if look.infrared:
        work = np.repeat(work.mean(axis=2, keepdims=True), 3, axis=2)
    work = np.clip(work * look.gain, 0.0, 1.0) ** look.gamma
    if look.blur > 0.2:
        work = np.asarray(cv2.GaussianBlur(work, (0, 0), look.blur), np.float32)
    if look.noise > 0:
        grain = rng.normal(0.0, look.noise / 255.0, work.shape[:2]).astype(np.float32)[..., None]
        work = work + grain
    return np.clip(work * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _visibility(name: str, point: tuple[float, float], ids: NDArray[np.uint8], index: int, yaw: float) -> Visibility:
    height, width = ids.shape
    x, y = round(point[0]), round(point[1])
    if not (0 <= point[0] < width and 0 <= point[1] < height):
        return "outside"
    if _ear_hidden_by_head(name, yaw):
        return "occluded"
    own = {index * _PERSON_STRIDE + part for part in _OWN_PARTS[name]}
    return "visible" if int(ids[min(y, height - 1), min(x, width - 1)]) in own else "occluded"


def _clip_box(
    left: float, top: float, right: float, bottom: float, look: Look
) -> tuple[float, float, float, float] | None:
    left, top = max(0.0, left), max(0.0, top)
    right, bottom = min(float(look.width), right), min(float(look.height), bottom)
    if right - left < 2 or bottom - top < 2:
        return None
    return (left, top, right - left, bottom - top)


def _roll(canvas: _Canvas, joints: dict[str, tuple[float, float]], look: Look) -> dict[str, tuple[float, float]]:
    """Roll the drawn picture and id map about the centre (once per canvas); move the joints with it.

    The zoom fills the frame (no empty corners). The head's radii grow by the zoom; its box is
    then the upright box around the rotated ellipse.
    """
    angle = math.radians(look.roll_deg)
    zoom = abs(math.cos(angle)) + max(look.width, look.height) / min(look.width, look.height) * abs(math.sin(angle))
    matrix = cv2.getRotationMatrix2D((look.width / 2, look.height / 2), look.roll_deg, zoom)
    if not canvas.rolled:
        size = (look.width, look.height)
        canvas.image = np.asarray(cv2.warpAffine(canvas.image, matrix, size, flags=cv2.INTER_LINEAR), np.uint8)
        canvas.ids = np.asarray(cv2.warpAffine(canvas.ids, matrix, size, flags=cv2.INTER_NEAREST), np.uint8)
        canvas.rolled = True
    moved = {
        name: (
            float(matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]),
            float(matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]),
        )
        for name, (x, y) in joints.items()
        if name != "_head_radii"
    }
    rx, ry = joints["_head_radii"]
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    moved["_head_radii"] = (zoom * math.hypot(rx * cos, ry * sin), zoom * math.hypot(rx * sin, ry * cos))
    return moved


def render(scene: Scene) -> Rendered:
    """The picture and its ground truth. Persons are listed back to front, as they were drawn."""
    look = scene.look
    canvas = _Canvas(np.zeros((look.height, look.width, 3), np.uint8))
    _draw_cabin(canvas, look)
    all_joints = [_joints(pose) for pose in scene.persons]
    for index, (pose, joints) in enumerate(zip(scene.persons, all_joints, strict=True), start=1):
        _draw_person(canvas, pose, joints, index)
        if pose.rear_seat:
            _draw_front_seat(canvas, pose)
    if look.dashboard_top < 1.0:
        canvas.rectangle(
            (0, look.dashboard_top * look.height), (look.width, look.height), _shade(look.cabin, 0.5), _OCCLUDER
        )
    if look.roll_deg:
        all_joints = [_roll(canvas, joints, look) for joints in all_joints]
    truths = []
    for index, (pose, joints) in enumerate(zip(scene.persons, all_joints, strict=True), start=1):
        keypoints = {
            name: (*joints[name], _visibility(name, joints[name], canvas.ids, index, pose.yaw)) for name in BODY_JOINTS
        }
        head, (rx, ry) = joints["_head"], joints["_head_radii"]
        xs = [p[0] for n, p in joints.items() if not n.startswith("_")] + [head[0] - rx, head[0] + rx]
        ys = [p[1] for n, p in joints.items() if not n.startswith("_")] + [head[1] - ry]
        box = _clip_box(min(xs), min(ys), max(xs), max(ys), look)
        if box is None:
            continue
        head_box = _clip_box(head[0] - rx, head[1] - ry, head[0] + rx, head[1] + ry, look)
        truths.append(PersonTruth(keypoints=keypoints, box=box, head=head_box))
    return Rendered(image=_camera(canvas.image, look), persons=tuple(truths))
