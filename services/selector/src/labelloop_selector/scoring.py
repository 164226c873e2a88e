"""Confidence scores for a frame's predictions: 1 = the models are sure, 0 = maximally unsure.

Every prediction is a small classification the model made:

* a box (head or person): present vs absent, ``[c, 1 - c]``;
* a keypoint: visible / occluded / outside of view, from the two models' confidences
  ``[m·v, m·(1 - v), 1 - m]`` (m = pose_main's, v = pose_visible's confidence).

The built-in strategies turn each distribution into a certainty in [0, 1] and aggregate over the
frame (``min``: the least certain item decides; ``mean``): ``least_confidence`` (top probability,
rescaled so a uniform guess is 0), ``margin`` (top minus runner-up), ``entropy`` (1 - normalised
entropy). ``visibility_ambiguity`` instead measures how far each keypoint's confidences are from
the thresholds of the visibility rule, so points the rule barely decided come out near 0.
``committee`` measures where the two pose models put each person's points (query by committee).
``temporal`` measures how a tracked person's keypoints changed since the track's previous frame
(``Person.temporal_change``: jumps against the body's motion, visibility flicker).

Strategies combine with ``+``: ``least_confidence+temporal`` scores a frame by the lower of the two,
so a frame goes to people when either doubts it.

A user-defined strategy is any function ``f(predictions: FramePredictions, context:
ScoringContext) -> float`` in [0, 1], named by dotted path in ``LABELLOOP_SELECTOR_STRATEGY``
(``my_package.scores:prefer_hands`` or ``my_package.scores.prefer_hands``).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from labelloop import FramePredictions, PermanentError, Person

Aggregate = Literal["min", "mean"]


@dataclass(frozen=True)
class ScoringContext:
    t_main: float = 0.6
    t_vis: float = 0.6
    aggregate: Aggregate = "min"
    empty_frame_score: float = 0.0
    """Score of a frame with nothing detected: 0 sends it to people (a miss is likely in a cabin)."""
    committee_scale: float = 0.1
    """``committee``: the disagreement (fraction of the person's box diagonal) that counts as none at all."""
    temporal_scale: float = 0.2
    """``temporal``: the temporal change (``Person.temporal_change``) that scores 0."""


Scorer = Callable[[FramePredictions, ScoringContext], float]


def distributions(predictions: FramePredictions) -> list[list[float]]:
    """The class distribution of every decision the models made on the frame."""
    boxes = [*predictions.heads, *(person.box for person in predictions.persons)]
    found = [[box.confidence, 1.0 - box.confidence] for box in boxes]
    for person in predictions.persons:
        for point in person.keypoints:
            m, v = point.main_confidence, point.visible_confidence
            found.append([m * v, m * (1.0 - v), 1.0 - m])
    return found


def _aggregate(values: list[float], context: ScoringContext) -> float:
    if not values:
        return context.empty_frame_score
    return min(values) if context.aggregate == "min" else sum(values) / len(values)


def _confidences(predictions: FramePredictions) -> tuple[list[float], list[tuple[float, float]]]:
    """Box confidences, and (main, visible) per keypoint: the inputs of ``distributions``."""
    boxes = [box.confidence for box in predictions.heads]
    boxes += [person.box.confidence for person in predictions.persons]
    points = [(p.main_confidence, p.visible_confidence) for person in predictions.persons for p in person.keypoints]
    return boxes, points


# least_confidence and margin use closed forms of the definitions over `distributions` (a test
# checks they agree): the selector judges every frame, and these run ~3x faster.


def least_confidence(predictions: FramePredictions, context: ScoringContext) -> float:
    """Certainty from the top class probability, rescaled: 1/K (a guess) → 0, 1 → 1."""
    values = [abs(2.0 * box.confidence - 1.0) for box in predictions.heads]  # (max(c, 1-c) - 1/2) / (1/2)
    for person in predictions.persons:
        values.append(abs(2.0 * person.box.confidence - 1.0))
        # The default strategy, on every frame: one pass, and comparisons rather than max() (~1.4x).
        for point in person.keypoints:
            m = point.main_confidence
            visible = m * point.visible_confidence
            occluded, outside = m - visible, 1.0 - m
            top = visible if visible > occluded else occluded
            values.append(1.5 * (top if top > outside else outside) - 0.5)  # (max - 1/3) / (2/3)
    return _aggregate(values, context)


def margin(predictions: FramePredictions, context: ScoringContext) -> float:
    """Certainty as the gap between the two most likely classes."""
    boxes, points = _confidences(predictions)
    values = [abs(2.0 * c - 1.0) for c in boxes]
    for m, v in points:
        _, runner_up, top = sorted((m * v, m - m * v, 1.0 - m))
        values.append(top - runner_up)
    return _aggregate(values, context)


def entropy(predictions: FramePredictions, context: ScoringContext) -> float:
    """Certainty as 1 - H(p) / log K."""
    values = []
    for p in distributions(predictions):
        h = -sum(q * math.log(q) for q in p if q > 0.0)
        values.append(1.0 - h / math.log(len(p)))
    return _aggregate(values, context)


def visibility_ambiguity(predictions: FramePredictions, context: ScoringContext) -> float:
    """Distance of each keypoint's confidences from the visibility rule's thresholds, normalised.

    The rule compares main confidence with T_main, then (above it) visible confidence with T_vis;
    a point whose deciding confidence sits on a threshold gets 0.
    """
    values = []
    for person in predictions.persons:
        for point in person.keypoints:
            main = abs(point.main_confidence - context.t_main) / max(context.t_main, 1.0 - context.t_main)
            if point.main_confidence > context.t_main:
                visible = abs(point.visible_confidence - context.t_vis) / max(context.t_vis, 1.0 - context.t_vis)
                main = min(main, visible)
            values.append(min(1.0, main))
    return _aggregate(values, context)


def committee(predictions: FramePredictions, context: ScoringContext) -> float:
    """Agreement between the two pose models on where each person's points are (query by committee).

    Per person, ``1 - disagreement / committee_scale`` clipped to [0, 1] (``Person.disagreement``:
    their mean point distance over the box diagonal). Unlike the confidence strategies it sees
    *misplaced* points, which is what pose OKS mAP measures. A person pose_visible did not find
    has no second opinion and takes no part: pose_visible, trained on visible points only, often
    misses a heavily occluded person, and ranking those first labeled frames that taught pose_main
    little (benchmarks/active_learning.py, README). A frame whose persons all lack one scores 1;
    a frame with nothing detected scores ``empty_frame_score``. Head boxes take no part.
    """
    return _per_person(predictions, context, lambda person: person.disagreement, context.committee_scale)


def temporal(predictions: FramePredictions, context: ScoringContext) -> float:
    """Steadiness of each tracked person since their track's previous frame.

    Per person, ``1 - temporal_change / temporal_scale`` clipped to [0, 1]. A person without a
    previous sighting (a clip's first frame, someone just come into view, an image) takes no part,
    as in ``committee``; a frame whose persons all lack one scores 1, so combine it with a
    confidence strategy (``least_confidence+temporal``) to judge those too. A frame with nothing
    detected scores ``empty_frame_score``.
    """
    return _per_person(predictions, context, lambda person: person.temporal_change, context.temporal_scale)


def _per_person(
    predictions: FramePredictions, context: ScoringContext, measure: Callable[[Person], float | None], scale: float
) -> float:
    """``1 - measure / scale`` clipped to [0, 1] for each person that has the measure, aggregated; a
    person without it takes no part, a frame whose persons all lack it scores 1, and a frame with
    nothing detected ``empty_frame_score``."""
    if not predictions.persons:
        return context.empty_frame_score
    values = [max(0.0, 1.0 - found / scale) for person in predictions.persons if (found := measure(person)) is not None]
    return _aggregate(values, context) if values else 1.0


BUILTIN: dict[str, Scorer] = {
    "least_confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
    "visibility_ambiguity": visibility_ambiguity,
    "committee": committee,
    "temporal": temporal,
}


def load_scorer(spec: str) -> Scorer:
    """A built-in strategy by name, or a user function by ``module:function`` / ``module.function``;
    several joined by ``+`` score a frame by the lowest of them.

    Raises PermanentError (the service refuses to start) when it cannot be imported. The returned
    scorer checks every result is a number in [0, 1].
    """
    if "+" in spec:
        parts = [load_scorer(part.strip()) for part in spec.split("+")]
        return lambda predictions, context: min(part(predictions, context) for part in parts)
    if spec in BUILTIN:
        return BUILTIN[spec]
    module_name, sep, attribute = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not sep or not module_name or not attribute:
        raise PermanentError(f"strategy {spec!r} is neither built in ({', '.join(BUILTIN)}) nor a dotted path")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise PermanentError(f"strategy {spec!r} cannot be loaded: {error}") from None
    if not callable(function):
        raise PermanentError(f"strategy {spec!r} is not callable")

    def checked(predictions: FramePredictions, context: ScoringContext) -> float:
        score = function(predictions, context)
        if not isinstance(score, int | float) or not 0.0 <= score <= 1.0 or math.isnan(score):
            raise PermanentError(f"strategy {spec!r} returned {score!r}; a score must be a number in [0, 1]")
        return float(score)

    return checked
