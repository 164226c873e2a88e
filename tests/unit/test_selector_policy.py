"""Selector policy: threshold routing, the reproducible control arm, near-duplicate signatures."""

from __future__ import annotations

import math

import pytest
from labelloop_selector.policy import (
    Policy,
    control_draw,
    displacement,
    initial_route,
    is_near_duplicate,
    signature,
    version_tag,
)

from tests.predictions import frame

VERSIONS = {"pose_main": "1", "pose_visible": "1", "head": "1"}


@pytest.mark.parametrize(
    ("score", "draw", "threshold", "route", "audit"),
    [
        (0.49, 0.9, 0.5, "human", False),
        (0.49, 0.0, 0.5, "human", True),  # below the threshold and drawn: people label it anyway, and it is evidence
        (0.5, 0.9, 0.5, "auto", False),
        (0.9, 0.01, 0.5, "control", True),
        (0.9, 0.05, 0.5, "auto", False),
        (0.99, 0.9, None, "human", True),  # no threshold proven: every frame to people, every one an audit
    ],
)
def test_threshold_then_control_arm(
    score: float, draw: float, threshold: float | None, route: str, audit: bool
) -> None:
    """Below the threshold → people; at or above → auto, unless the draw falls in the control fraction;
    the draw makes an audit whatever the score."""
    assert initial_route(score, draw, threshold, 0.05) == (route, audit)


def test_control_draw_is_reproducible_and_fair() -> None:
    """Same seed, frame and versions → same draw; over many frames the share matches the fraction;
    another seed or model version picks another sample."""
    uris = [f"s3://test-data/frames/c/{n:06d}.jpg" for n in range(20_000)]
    versions = version_tag(VERSIONS)
    draws = [control_draw(7, uri, versions) for uri in uris]
    assert draws == [control_draw(7, uri, versions) for uri in uris]
    chosen = {uri for uri, d in zip(uris, draws, strict=True) if d < 0.05}
    assert 0.045 < len(chosen) / len(uris) < 0.055
    other_seed = {uri for uri in uris if control_draw(8, uri, versions) < 0.05}
    other_model = {uri for uri in uris if control_draw(7, uri, version_tag(VERSIONS | {"head": "2"})) < 0.05}
    assert len(chosen & other_seed) < 0.2 * len(chosen)
    assert len(chosen & other_model) < 0.2 * len(chosen)


def test_signature_distance_measures_movement_relative_to_the_image() -> None:
    """Moving everything 6.4 px in a 640 px wide frame is a 1% displacement."""
    assert displacement(signature(frame(0)), signature(frame(1))) == pytest.approx(0.0)
    assert displacement(signature(frame(0)), signature(frame(1, shift=6.4))) == pytest.approx(0.01)


def test_different_structure_is_never_a_duplicate() -> None:
    """Another number of heads or people, or no common point in view, is infinitely far."""
    assert displacement(signature(frame(0)), signature(frame(1, head=None))) == math.inf
    assert displacement(signature(frame(0)), signature(frame(1, person=None))) == math.inf
    outside = [(0.1, 0.1)] * 5
    assert (
        displacement(signature(frame(0, head=None, points=outside)), signature(frame(1, head=None, points=outside)))
        == math.inf
    )


def test_near_duplicate_threshold_and_off_switch() -> None:
    """Within the distance it is a duplicate, beyond it not; distance 0 turns suppression off."""
    last = signature(frame(0))
    policy = Policy(near_duplicate_distance=0.02)
    assert is_near_duplicate(signature(frame(1, shift=6.4)), last, policy)
    assert not is_near_duplicate(signature(frame(1, shift=19.2)), last, policy)
    assert not is_near_duplicate(signature(frame(1)), None, policy)
    assert not is_near_duplicate(signature(frame(1)), last, Policy(near_duplicate_distance=0))
