"""Selector strategies on crafted predictions: exact values, ordering, aggregation, user functions."""

from __future__ import annotations

import random

import pytest
from labelloop import PermanentError
from labelloop_selector.scoring import (
    BUILTIN,
    ScoringContext,
    committee,
    distributions,
    entropy,
    least_confidence,
    load_scorer,
    margin,
    temporal,
    visibility_ambiguity,
)

from tests.predictions import frame, keypoint

CONTEXT = ScoringContext()


def test_distributions_cover_boxes_and_three_way_keypoints() -> None:
    """Each box is present/absent; each keypoint is visible/occluded/outside from (main, visible)."""
    found = distributions(frame(0, head=0.9, person=0.8, points=[(0.5, 0.5)]))
    expected = [[0.9, 0.1], [0.8, 0.2], [0.25, 0.25, 0.5]]
    assert [len(p) for p in found] == [len(p) for p in expected]
    assert [q for p in found for q in p] == pytest.approx([q for p in expected for q in p])


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (least_confidence, (0.8 - 0.5) / 0.5),  # the 0.8 person box is the least certain item
        (margin, 0.6),
        (entropy, 1 + (0.8 * -0.2231435513 + 0.2 * -1.6094379124) / 0.6931471806),
    ],
)
def test_exact_values_on_a_crafted_frame(strategy: object, expected: float) -> None:
    """Least-confidence, margin and entropy give their textbook values on known distributions."""
    predictions = frame(0, head=0.9, person=0.8, points=[(1.0, 1.0)])
    assert strategy(predictions, CONTEXT) == pytest.approx(expected)  # type: ignore[operator]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_strategy_ranks_confident_above_doubtful(name: str) -> None:
    """Confident boxes and points score higher than the same frame with doubtful ones."""
    scorer = BUILTIN[name]
    confident = frame(0, head=0.97, person=0.97, points=[(0.98, 0.97)] * 5, disagreement=0.01, temporal_change=0.01)
    doubtful = frame(1, head=0.55, person=0.6, points=[(0.62, 0.58)] * 5, disagreement=0.08, temporal_change=0.15)
    assert scorer(confident, CONTEXT) > scorer(doubtful, CONTEXT)
    assert 0.0 <= scorer(doubtful, CONTEXT) <= scorer(confident, CONTEXT) <= 1.0


@pytest.mark.parametrize("name", ["least_confidence", "margin", "entropy"])
def test_a_coin_flip_scores_zero_and_certainty_one(name: str) -> None:
    """A 50/50 box is maximally uncertain; a 0/1 decision is certain."""
    assert BUILTIN[name](frame(0, head=0.5, person=None), CONTEXT) == pytest.approx(0.0)
    assert BUILTIN[name](frame(0, head=1.0, person=None), CONTEXT) == pytest.approx(1.0)


def test_committee_scores_the_pose_models_agreement_and_skips_persons_without_a_second_opinion() -> None:
    """1 - disagreement / scale, clipped; a person pose_visible did not find takes no part."""
    assert committee(frame(0, disagreement=0.0), CONTEXT) == pytest.approx(1.0)
    assert committee(frame(0, disagreement=0.025), CONTEXT) == pytest.approx(0.75)
    assert committee(frame(0, disagreement=0.3), CONTEXT) == 0.0
    assert committee(frame(0, disagreement=None), CONTEXT) == 1.0
    paired, unpaired = frame(0, disagreement=0.05).persons[0], frame(0, disagreement=None).persons[0]
    both = frame(0).model_copy(update={"persons": [paired, unpaired]})
    assert committee(both, CONTEXT) == pytest.approx(0.5)
    assert committee(frame(0, disagreement=0.05), ScoringContext(committee_scale=0.2)) == pytest.approx(0.75)
    assert committee(frame(0, person=None), CONTEXT) == CONTEXT.empty_frame_score


def test_temporal_scores_steadiness_and_skips_persons_on_their_first_frame() -> None:
    """1 - temporal_change / scale, clipped; a person without a previous sighting takes no part."""
    assert temporal(frame(0, temporal_change=0.0), CONTEXT) == pytest.approx(1.0)
    assert temporal(frame(0, temporal_change=0.05), CONTEXT) == pytest.approx(0.75)
    assert temporal(frame(0, temporal_change=0.5), CONTEXT) == 0.0
    assert temporal(frame(0, temporal_change=None), CONTEXT) == 1.0
    assert temporal(frame(0, temporal_change=0.05), ScoringContext(temporal_scale=0.1)) == pytest.approx(0.5)
    assert temporal(frame(0, person=None), CONTEXT) == CONTEXT.empty_frame_score


def test_strategies_joined_by_plus_score_a_frame_by_the_lowest() -> None:
    """least_confidence+temporal: a frame the model is sure of but whose person jumped goes to people."""
    combined = load_scorer("least_confidence+temporal")
    sure_but_jumpy = frame(0, head=0.99, person=0.99, points=[(0.99, 0.99)] * 5, temporal_change=0.15)
    assert combined(sure_but_jumpy, CONTEXT) == pytest.approx(min(least_confidence(sure_but_jumpy, CONTEXT), 0.25))
    assert combined(sure_but_jumpy, CONTEXT) == pytest.approx(0.25)
    first_sighting = sure_but_jumpy.model_copy(update={"persons": [sure_but_jumpy.persons[0].model_copy(
        update={"temporal_change": None})]})  # fmt: skip
    assert combined(first_sighting, CONTEXT) == pytest.approx(least_confidence(first_sighting, CONTEXT))
    with pytest.raises(PermanentError, match="neither built in"):
        load_scorer("least_confidence+nonsense")


def test_visibility_ambiguity_is_zero_on_the_rule_thresholds() -> None:
    """A point whose main confidence sits on T_main, or whose visible confidence sits on T_vis
    (with main above T_main), is as ambiguous as it gets; far from both it approaches 1."""
    assert visibility_ambiguity(frame(0, points=[(0.6, 0.9)]), CONTEXT) == pytest.approx(0.0)
    assert visibility_ambiguity(frame(0, points=[(0.95, 0.6)]), CONTEXT) == pytest.approx(0.0)
    assert visibility_ambiguity(frame(0, points=[(1.0, 1.0)]), CONTEXT) == pytest.approx(0.4 / 0.6)
    assert visibility_ambiguity(frame(0, points=[(0.0, 0.9)]), CONTEXT) == pytest.approx(1.0)
    moved = ScoringContext(t_main=0.3, t_vis=0.3)
    assert visibility_ambiguity(frame(0, points=[(0.3, 0.9)]), moved) == pytest.approx(0.0)


def test_min_lets_one_doubtful_point_decide_and_mean_averages() -> None:
    """With min, one doubtful keypoint among confident ones drags the frame down; mean dilutes it."""
    predictions = frame(0, head=1.0, person=1.0, points=[(1.0, 1.0)] * 9 + [(0.5, 0.5)])
    low = least_confidence(predictions, ScoringContext(aggregate="min"))
    average = least_confidence(predictions, ScoringContext(aggregate="mean"))
    assert low == pytest.approx(0.25)
    assert average == pytest.approx((11 * 1.0 + 0.25) / 12)


def test_empty_frame_gets_the_configured_score() -> None:
    """Nothing detected: the frame scores empty_frame_score (default 0, so people look at it)."""
    empty = frame(0, head=None, person=None)
    for scorer in BUILTIN.values():
        assert scorer(empty, CONTEXT) == 0.0
        assert scorer(empty, ScoringContext(empty_frame_score=0.7)) == 0.7


def test_user_strategy_by_dotted_path() -> None:
    """module:function and module.function both load a user function, used like a built-in."""
    predictions = frame(0, points=[(0.9, 0.9)])
    predictions = predictions.model_copy(
        update={
            "persons": [predictions.persons[0].model_copy(update={"keypoints": [keypoint("left_wrist", 0.7, 0.9)]})]
        }
    )
    for spec in ("tests.unit.custom_strategy:wrist_focus", "tests.unit.custom_strategy.wrist_focus"):
        assert load_scorer(spec)(predictions, CONTEXT) == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("no_such_module:f", "cannot be loaded"),
        ("tests.unit.custom_strategy:missing", "cannot be loaded"),
        ("tests.unit.custom_strategy:NOT_CALLABLE", "is not callable"),
        ("bogus", "neither built in"),
    ],
)
def test_bad_strategy_specs_stop_the_service(spec: str, reason: str) -> None:
    """A strategy that cannot be loaded is a PermanentError at start-up (exit code 78)."""
    with pytest.raises(PermanentError, match=reason):
        load_scorer(spec)


def test_user_strategy_results_are_checked() -> None:
    """A user function returning a value outside [0, 1] fails loudly rather than mis-routing frames."""
    scorer = load_scorer("tests.unit.custom_strategy:out_of_range")
    with pytest.raises(PermanentError, match=r"returned 1\.5"):
        scorer(frame(0), CONTEXT)


def test_closed_forms_match_the_distribution_definitions() -> None:
    """least_confidence and margin's fast formulas equal the textbook ones over `distributions`."""
    rng = random.Random(3)  # noqa: S311 - reproducible test data
    for _ in range(300):
        predictions = frame(
            0, head=rng.random(), person=rng.random(), points=[(rng.random(), rng.random()) for _ in range(17)]
        )
        found = distributions(predictions)
        textbook_lc = min((max(p) - 1 / len(p)) / (1 - 1 / len(p)) for p in found)
        textbook_margin = min(sorted(p)[-1] - sorted(p)[-2] for p in found)
        assert least_confidence(predictions, CONTEXT) == pytest.approx(textbook_lc)
        assert margin(predictions, CONTEXT) == pytest.approx(textbook_margin)
