"""Thresholds proven from audits: the bound, the threshold search, and their coverage across seeds."""

from __future__ import annotations

import random

import pytest
from labelloop_selector.calibration import Audit, Estimate, calibrate, estimate_at, frame_threshold, lower_bound

SEEDS = 300
CONFIDENCE = 0.9
# Overstatements among SEEDS independent runs, each with chance at most 1 - CONFIDENCE: Bin(300, 0.1)
# has mean 30 and sd 5.2; above 45 happens less than 0.3% of the time for a bound that holds, and a
# bound with even 15% misses (mean 45) exceeds it half of the time.
ALLOWED_OVERSTATEMENTS = 45


def accuracy_at(score: float) -> float:
    """The synthetic stream's chance that a frame with ``score`` is right: rises with the score."""
    return 0.8 + 0.2 * score


def true_accuracy_above(threshold: float) -> float:
    """Mean of accuracy_at over scores uniform on [threshold, 1]."""
    return 0.8 + 0.2 * (1.0 + threshold) / 2


def stream(seed: int, count: int, *, fractional: bool = False) -> list[Audit]:
    """Audited frames of known accuracy; ``fractional``: each frame a share of 10 points right, the
    points of a frame failing together half of the time (a missed person)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible stream, not a secret
    audits = []
    for _ in range(count):
        score = rng.random()
        if not fractional:
            audits.append(Audit(score, float(rng.random() < accuracy_at(score))))
            continue
        if rng.random() < 0.5:
            value = float(rng.random() < accuracy_at(score))  # all points right or all wrong
        else:
            value = sum(rng.random() < accuracy_at(score) for _ in range(10)) / 10
        audits.append(Audit(score, value))
    return audits


def test_the_bound_is_clopper_pearson_when_every_audit_was_right() -> None:
    for n in (1, 10, 45, 200):
        assert lower_bound(n, n, CONFIDENCE) == pytest.approx((1 - CONFIDENCE) ** (1 / n), abs=1e-9)
    assert lower_bound(0, 0, CONFIDENCE) == 0.0
    assert lower_bound(0, 50, CONFIDENCE) == 0.0
    # more evidence, a tighter bound; a more confident bound, a lower one
    assert lower_bound(90, 100, CONFIDENCE) < lower_bound(900, 1000, CONFIDENCE) < 0.9
    assert lower_bound(90, 100, 0.99) < lower_bound(90, 100, CONFIDENCE)


@pytest.mark.parametrize("fractional", [False, True], ids=["right-or-wrong", "share-of-points"])
def test_the_bound_overstates_the_true_accuracy_no_more_often_than_the_confidence_allows(fractional: bool) -> None:
    """At a fixed threshold and at the chosen one, across fixed seeds of a stream of known accuracy."""
    fixed_over = chosen_over = naive_over = chosen = 0
    for seed in range(SEEDS):
        audits = stream(seed, 800, fractional=fractional)
        at_half = estimate_at(audits, "keypoint_pck", 0.5, CONFIDENCE)
        assert at_half.bound is not None
        assert at_half.mean is not None
        fixed_over += at_half.bound > true_accuracy_above(0.5)
        naive_over += at_half.mean > true_accuracy_above(0.5)
        found = calibrate(audits, "keypoint_pck", 0.93, CONFIDENCE, min_audits=30)
        if found.threshold is not None:
            chosen += 1
            chosen_over += true_accuracy_above(found.threshold) < 0.93
    assert fixed_over <= ALLOWED_OVERSTATEMENTS, f"the bound overstated in {fixed_over} of {SEEDS} seeds"
    assert chosen_over <= ALLOWED_OVERSTATEMENTS, f"the chosen threshold missed the target in {chosen_over} seeds"
    assert chosen > SEEDS // 2, f"a threshold was proven in only {chosen} of {SEEDS} seeds"
    # The test can tell: the plain mean of the same audits overstates about half of the time.
    assert naive_over > 3 * ALLOWED_OVERSTATEMENTS


def test_the_threshold_is_the_lowest_proven_and_the_scan_stops_at_the_first_failure() -> None:
    perfect = [Audit(0.9 + i / 1000, 1.0) for i in range(60)]  # 60 right above 0.9
    doubtful = [Audit(0.5 + i / 1000, 0.0) for i in range(10)]  # wrong between 0.5 and 0.51
    recovered = [Audit(0.1 + i / 10_000, 1.0) for i in range(500)]  # right again far below
    found = calibrate(perfect + doubtful + recovered, "head", 0.95, CONFIDENCE, min_audits=30)
    # Below 0.5 the share would recover past the target, but the scan stopped where it first failed.
    assert found == Estimate("head", 0.95, 0.9, 60, 1.0, pytest.approx(0.1 ** (1 / 60)))


def test_too_few_audits_prove_nothing_and_say_how_far_they_are() -> None:
    few = calibrate([Audit(0.8, 1.0)] * 20, "head", 0.95, CONFIDENCE, min_audits=30)
    assert (few.threshold, few.audits, few.bound) == (None, 20, None)
    # 0.95 at 90% needs 45 audits all right, however low min_audits is
    assert calibrate([Audit(0.8 + i / 100, 1.0) for i in range(44)], "head", 0.95, CONFIDENCE, 1).threshold is None
    assert calibrate([Audit(0.5 + i / 100, 1.0) for i in range(45)], "head", 0.95, CONFIDENCE, 1).threshold == 0.5
    failing = calibrate([Audit(i / 100, 0.5) for i in range(100)], "head", 0.95, CONFIDENCE, 30)
    assert (failing.threshold, failing.audits) == (None, 45)
    assert failing.bound is not None
    assert failing.bound < 0.5


def test_tied_scores_are_taken_together() -> None:
    """A threshold at a score auto-accepts every frame with it: the evidence must include them all."""
    tied = [Audit(0.9, 1.0)] * 50 + [Audit(0.8, 1.0)] * 30 + [Audit(0.8, 0.0)] * 20
    found = calibrate(tied, "head", 0.95, CONFIDENCE, min_audits=30)
    assert (found.threshold, found.audits) == (0.9, 50)


def test_a_frame_needs_every_targeted_measure_proven() -> None:
    def at(threshold: float | None) -> Estimate:
        return Estimate("x", 0.9, threshold, 50, 1.0, 0.95)

    assert frame_threshold({"head": at(0.3), "keypoint_pck": at(0.6)}) == 0.6
    assert frame_threshold({"head": at(0.3), "keypoint_pck": at(None)}) is None
    assert frame_threshold({}) is None
