"""The trainer's pure decisions: promotion rule, skeletons from labeled points, when to train."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from labelloop.rig import IN_CABIN_17
from labelloop_trainer import handlers
from labelloop_trainer.collect import _persons
from labelloop_trainer.evaluation import not_worse
from labelloop_trainer.rounds import RoundResult
from labelloop_trainer.settings import TrainerSettings

SERVING = {"person_map50": 0.9, "pose_map50": 0.8, "head_map50": 0.9, "visibility_accuracy": 0.75}


def test_a_candidate_is_promoted_only_if_no_metric_is_worse() -> None:
    """Better or equal everywhere → promote; worse on one metric → not, unless within the tolerance."""
    assert not_worse(SERVING | {"pose_map50": 0.85}, SERVING, 0.0)
    assert not_worse(SERVING, SERVING, 0.0)
    worse = SERVING | {"visibility_accuracy": 0.74}
    assert not not_worse(worse, SERVING, 0.0)
    assert not_worse(worse, SERVING, 0.02)
    assert not not_worse({}, SERVING, 0.0)  # a candidate without metrics never wins


def test_skeletons_become_persons_with_boxes_around_their_located_points() -> None:
    """Points group by person; outside points do not widen the box; rig joints not labeled count as outside."""
    line = {"keypoints": {"crowdKeypoint": {"keypoints": [
        {"label": "nose", "x": 100, "y": 50, "visibility": "visible", "person": 0},
        {"label": "left_hip", "x": 140, "y": 150, "visibility": "occluded", "person": 0},
        {"label": "left_ankle", "x": 900, "y": 900, "visibility": "outside", "person": 0},
        {"label": "nose", "x": 250, "y": 60, "visibility": "visible", "person": 1},
    ]}}}  # fmt: skip
    first, second = _persons(line, 320, 240, IN_CABIN_17)
    left, top, width, height = first.box
    assert (left, top) == (100 - 8, 50 - 14)
    assert (left + width, top + height) == (140 + 8, 150 + 14)
    assert first.keypoints["left_hip"][2] == "occluded"
    assert first.keypoints["right_wrist"][2] == "outside"
    assert second.keypoints["nose"][:2] == (250.0, 60.0)


class _Registry:
    """The three registry calls train_when_due makes, in memory."""

    def __init__(self, labels: int, last_at: float, owner: str | None = None) -> None:
        self.count, self.last_at, self.owner = labels, last_at, owner

    def label_state(self) -> tuple[int, float]:
        return self.count, self.last_at

    def acquire(self, owner: str, ttl_s: float, now: float) -> bool:
        if self.owner is not None:
            return False
        self.owner = owner
        return True

    def release(self, owner: str) -> None:
        if self.owner == owner:
            self.owner = None

    def add_labels(self, count: int) -> int:
        self.count += count
        return self.count


def _due(registry: _Registry, now: float, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The label totals train_when_due started rounds with (rounds themselves replaced)."""
    started: list[int] = []

    def fake_round(deps: object, labels: int) -> RoundResult:
        started.append(labels)
        return RoundResult(2, True, {}, {}, {})

    monkeypatch.setattr(handlers, "run_round", fake_round)
    settings = TrainerSettings(stack="test", threshold=4, settle_s=30)
    handlers.train_when_due(SimpleNamespace(registry=registry, settings=settings), "me", now)  # type: ignore[arg-type]
    return started


def test_a_training_waits_for_the_threshold_and_for_the_burst_to_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below the threshold: nothing. At it but a label 10 s ago: wait. Settled: one round on every label counted."""
    assert _due(_Registry(labels=3, last_at=0.0), 1000.0, monkeypatch) == []
    assert _due(_Registry(labels=9, last_at=990.0), 1000.0, monkeypatch) == []
    settled = _Registry(labels=9, last_at=960.0)
    assert _due(settled, 1000.0, monkeypatch) == [9]
    assert (settled.count, settled.owner) == (0, None)  # consumed, lock given back


def test_no_second_round_while_another_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = _Registry(labels=9, last_at=0.0, owner="someone else")
    assert _due(busy, 1000.0, monkeypatch) == []
    assert (busy.count, busy.owner) == (9, "someone else")


def test_a_failed_round_keeps_its_labels_for_the_next_try(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = _Registry(labels=5, last_at=0.0)

    def crash(deps: object, labels: int) -> RoundResult:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(handlers, "run_round", crash)
    settings = TrainerSettings(stack="test", threshold=4, settle_s=30)
    with pytest.raises(RuntimeError):
        handlers.train_when_due(SimpleNamespace(registry=registry, settings=settings), "me", 1000.0)  # type: ignore[arg-type]
    assert (registry.count, registry.owner) == (5, None)
