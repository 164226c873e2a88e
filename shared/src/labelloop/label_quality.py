"""One set of labels scored against another: head boxes, keypoints and their visibility.

Both sides go through the same reader, :func:`labels_of` on an augmented-manifest line, so
auto-labels, people's labels and a hidden truth are compared like for like: the demo scores
labels against its synthetic truth, the selector scores the model's labels of an audited frame
against what people put there. People are matched greedily by the mean distance of the joints
both sides located.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from labelloop.visibility import iou

Point = tuple[float, float, str]
PCK_FRACTION = 0.1  # a point is right within 10% of the person's size
HEAD_IOU = 0.5


@dataclass(frozen=True)
class Labels:
    heads: list[tuple[float, float, float, float]]  # left, top, width, height
    persons: list[dict[str, Point]]


def labels_of(line: dict[str, Any]) -> Labels:
    heads = [
        (float(a["left"]), float(a["top"]), float(a["width"]), float(a["height"]))
        for a in (line.get("head") or {}).get("annotations", [])
    ]
    persons: dict[int, dict[str, Point]] = {}
    for point in (line.get("keypoints") or {}).get("crowdKeypoint", {}).get("keypoints", []):
        persons.setdefault(int(point.get("person", 0)), {})[point["label"]] = (
            float(point["x"]), float(point["y"]), str(point.get("visibility", "visible"))
        )  # fmt: skip
    return Labels(heads, [persons[index] for index in sorted(persons)])


@dataclass
class Score:
    """Counts, so that scores of many frames add up before the ratios are taken."""

    heads_true: int = 0
    heads_given: int = 0
    heads_matched: int = 0
    persons_true: int = 0
    persons_given: int = 0
    persons_matched: int = 0
    points_true: int = 0  # located (visible or occluded) truth joints
    points_close: int = 0
    points_spurious: int = 0  # located points of given persons that match no true person
    visibility_total: int = 0
    visibility_right: int = 0
    # The same points per rig point name, in the order first scored: which points a model gets wrong.
    true_by_point: Counter[str] = field(default_factory=Counter)
    close_by_point: Counter[str] = field(default_factory=Counter)

    def __add__(self, other: Score) -> Score:
        return Score(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @staticmethod
    def _ratio(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    def summary(self) -> dict[str, float | None]:
        return {
            "head_precision": self._ratio(self.heads_matched, self.heads_given),
            "head_recall": self._ratio(self.heads_matched, self.heads_true),
            "person_recall": self._ratio(self.persons_matched, self.persons_true),
            "keypoint_pck": self._ratio(self.points_close, self.points_true),
            "visibility_accuracy": self._ratio(self.visibility_right, self.visibility_total),
        }

    def point_pck(self) -> dict[str, float]:
        """Per rig point, the share of the truth's located points given within PCK@0.1 (a missed person's
        points count as wrong), in the order the points were first scored (a frame whose first person
        lacks a point names it later)."""
        return {name: self.close_by_point[name] / total for name, total in self.true_by_point.items()}


def _located(person: dict[str, Point]) -> dict[str, tuple[float, float]]:
    return {name: (x, y) for name, (x, y, v) in person.items() if v != "outside"}


def _size(person: dict[str, Point]) -> float:
    points = list(_located(person).values())
    if not points:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return max(1.0, math.hypot(max(xs) - min(xs), max(ys) - min(ys)))


def _distance(truth: dict[str, Point], given: dict[str, Point]) -> float:
    a, b = _located(truth), _located(given)
    common = a.keys() & b.keys()
    if not common:
        return math.inf
    return sum(math.dist(a[name], b[name]) for name in common) / len(common)


def _match_heads(truth: list[tuple[float, float, float, float]], given: list[tuple[float, float, float, float]]) -> int:
    pairs = sorted(((iou(t, g), i, j) for i, t in enumerate(truth) for j, g in enumerate(given)), reverse=True)
    used_t: set[int] = set()
    used_g: set[int] = set()
    for overlap, i, j in pairs:
        if overlap >= HEAD_IOU and i not in used_t and j not in used_g:
            used_t.add(i)
            used_g.add(j)
    return len(used_t)


def score(given: Labels, truth: Labels) -> Score:
    result = Score(heads_true=len(truth.heads), heads_given=len(given.heads),
                   heads_matched=_match_heads(truth.heads, given.heads), persons_true=len(truth.persons),
                   persons_given=len(given.persons))  # fmt: skip
    pairs = sorted((_distance(t, g), i, j) for i, t in enumerate(truth.persons) for j, g in enumerate(given.persons))
    matched: dict[int, int] = {}
    for distance, i, j in pairs:
        if distance < 0.5 * _size(truth.persons[i]) and i not in matched and j not in matched.values():
            matched[i] = j
    result.persons_matched = len(matched)
    result.points_spurious = sum(
        len(_located(person)) for j, person in enumerate(given.persons) if j not in matched.values()
    )
    for i, person in enumerate(truth.persons):
        located = _located(person)
        result.points_true += len(located)
        result.true_by_point.update(located.keys())
        if i not in matched:
            continue
        other = given.persons[matched[i]]
        other_located = _located(other)
        tolerance = PCK_FRACTION * _size(person)
        close = [
            name for name, point in located.items()
            if name in other_located and math.dist(point, other_located[name]) <= tolerance
        ]  # fmt: skip
        result.points_close += len(close)
        result.close_by_point.update(close)
        for name, (_, _, visibility) in person.items():
            result.visibility_total += 1
            result.visibility_right += visibility == other.get(name, (0.0, 0.0, "outside"))[2]
    return result


MEASURES = ("head", "keypoint_pck", "visibility")
"""What an audit measures on a frame; each has its own target (the selector's settings)."""


def frame_measures(found: Score) -> dict[str, float]:
    """One frame's share of right answers per measure, each in [0, 1]: head boxes matched at IoU ≥ 0.5
    of all boxes either side gave, points within PCK@0.1 of all located points either side gave
    (a person the model invented counts against it), visibility right on the matched persons.

    A frame with nothing on either side is right (auto-accepting "no one here" was correct); a frame
    whose persons were all missed or invented has no visibility right.
    """
    heads = max(found.heads_true, found.heads_given)
    points = found.points_true + found.points_spurious
    visibility = found.visibility_right / found.visibility_total if found.visibility_total else None
    if visibility is None:
        visibility = 1.0 if found.persons_true == found.persons_given == 0 else 0.0
    return {
        "head": found.heads_matched / heads if heads else 1.0,
        "keypoint_pck": found.points_close / points if points else 1.0,
        "visibility": visibility,
    }
