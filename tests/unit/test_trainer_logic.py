"""The trainer's pure decisions: promotion rule, skeletons from labeled points, when to train, which
frames measure instead of training, when a trained model takes over from its rule, head-box AP."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from labelloop.model_set import MODEL_SET, ModelSet, SlotModel
from labelloop.rig import COCO17, IN_CABIN_17
from labelloop_trainer import handlers
from labelloop_trainer.collect import _persons, frame_name, split_reserved
from labelloop_trainer.dataset import HoldoutError, holdout_source
from labelloop_trainer.evaluation import not_worse, serving_slots, takeover_rules, under_rules
from labelloop_trainer.precision import average_precision
from labelloop_trainer.rounds import RoundResult, with_new_slots_due
from labelloop_trainer.settings import TrainerSettings
from labelloop_trainer.yolo_data import LabeledFrame

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


def test_a_box_a_person_drew_is_the_persons_box() -> None:
    """The portal keeps the boxes people draw in the metadata's ``persons``: those boxes are used as drawn (a
    person without one, or a model's line, still gets the box around its points)."""
    points = [{"label": "nose", "x": 100, "y": 50, "visibility": "visible", "person": 0},
              {"label": "nose", "x": 250, "y": 60, "visibility": "visible", "person": 1}]  # fmt: skip
    drawn = {"persons": [{"box": {"left": 60, "top": 30, "width": 90, "height": 200}}, {}]}
    line = {"keypoints": {"crowdKeypoint": {"keypoints": points}},
            "keypoints-metadata": {"human-annotated": "yes", **drawn}}  # fmt: skip
    first, second = _persons(line, 320, 240, IN_CABIN_17)
    assert first.box == (60, 30, 90, 200)
    assert second.box == (250 - 4, 60 - 4, 8, 8)
    model = {**line, "keypoints-metadata": {"human-annotated": "no", **drawn}}
    assert _persons(model, 320, 240, IN_CABIN_17)[0].box == (100 - 4, 50 - 4, 8, 8)


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


def _frame(uri: str, *, human: bool = True, heads: int = 0) -> LabeledFrame:
    return LabeledFrame(name=frame_name(uri), image=np.zeros((4, 4, 3), np.uint8), persons=(),
                        heads=((0.0, 0.0, 1.0, 1.0),) * heads, human=human)  # fmt: skip


def test_peoples_holdout_is_a_stable_share_that_never_trains() -> None:
    """About the asked share of frames is reserved, the same frames at every round however many arrive, and a
    reserved frame never reaches training: its people's labels measure, its auto-labels are dropped."""
    uris = [f"s3://data/frames/clip/{n:06d}.jpg" for n in range(2000)]
    human = {model: [_frame(uri) for uri in uris] for model in MODEL_SET}
    train, reserved = split_reserved(human, 0.2)
    share = len(reserved["pose_main"]) / len(uris)
    assert 0.17 < share < 0.23
    for model in MODEL_SET:
        assert {f.name for f in train[model]}.isdisjoint(f.name for f in reserved[model])
        assert len(train[model]) + len(reserved[model]) == len(uris)
    _, later_reserved = split_reserved({m: [_frame(u) for u in [*uris, "s3://x/new.jpg"]] for m in MODEL_SET},
                                                 0.2)  # fmt: skip
    assert {f.name for f in reserved["head"]} <= {f.name for f in later_reserved["head"]}
    auto = {model: [_frame(uri, human=False) for uri in uris] for model in MODEL_SET}
    auto_train, auto_reserved = split_reserved(auto, 0.2)
    assert auto_reserved["pose_main"] == []
    assert len(auto_train["pose_main"]) == len(train["pose_main"])
    assert split_reserved(human, 0.0)[1]["pose_main"] == []


def test_a_trained_model_serves_only_where_it_beats_its_rule() -> None:
    """A pose_visible or head detector new to the set takes over from its rule only when strictly better; a
    tie or a missing model leaves the rule; one the set already serves stays; the headline metrics are those
    of the rules in force."""
    measured = {
        "visibility_accuracy_main_confidence": 0.70, "visibility_accuracy_two_model": 0.75,
        "head_map50_face_keypoints": 0.60, "head_map50_detector": 0.60,
    }  # fmt: skip
    assert takeover_rules(measured) == ("two-model", "face-keypoints")
    assert serving_slots("two-model", "face-keypoints", available=MODEL_SET) == ("pose_main", "pose_visible")
    assert under_rules(measured, "two-model", "face-keypoints") == measured | {
        "visibility_accuracy": 0.75, "head_map50": 0.60,
    }  # fmt: skip
    better_head = measured | {"head_map50_detector": 0.61, "visibility_accuracy_two_model": 0.69}
    assert takeover_rules(better_head) == ("main-confidence", "detector")
    assert serving_slots("main-confidence", "detector", available=MODEL_SET) == ("pose_main", "head")
    rules_only = {"visibility_accuracy_main_confidence": 0.7, "head_map50_face_keypoints": 0.5}
    assert takeover_rules(rules_only) == ("main-confidence", "face-keypoints")
    # A detector that beats the rule cannot serve if it was never trained (not in the files).
    assert serving_slots("two-model", "detector", available=("pose_main",)) == ("pose_main",)
    # A model the set already serves stays, even where its rule measures better this round.
    assert takeover_rules(better_head, incumbent=("pose_main", "pose_visible")) == ("two-model", "detector")
    assert takeover_rules(measured, incumbent=MODEL_SET) == ("two-model", "detector")
    assert takeover_rules(rules_only, incumbent=MODEL_SET) == ("main-confidence", "face-keypoints")  # none trained


def test_a_head_detector_new_to_a_set_waits_for_enough_corrected_head_boxes() -> None:
    frames = {model: [_frame(f"s3://d/{n}.jpg") for n in range(3)] for model in MODEL_SET}
    frames["head"] += [_frame(f"s3://d/auto-{n}.jpg", human=False) for n in range(5)]
    without_head = ModelSet(name="real", rig=COCO17, imgsz=640,
                            models={"pose_main": SlotModel(version=1, source="shipped")})  # fmt: skip
    assert with_new_slots_due(frames, without_head, head_min_labels=4)["head"] == []  # 3 of people's, 5 auto
    assert len(with_new_slots_due(frames, without_head, head_min_labels=3)["head"]) == 8
    with_head = without_head.model_copy(
        update={"models": {**without_head.models, "head": without_head.models["pose_main"]}}
    )
    assert len(with_new_slots_due(frames, with_head, head_min_labels=100)["head"]) == 8  # it has one: keeps learning
    assert with_new_slots_due(frames, without_head, head_min_labels=4)["pose_visible"] == frames["pose_visible"]


def test_the_holdout_is_synthetic_only_for_the_rig_the_generator_draws() -> None:
    assert holdout_source("auto", IN_CABIN_17) == "synthetic"
    assert holdout_source("auto", COCO17) == "people"
    assert holdout_source("people", IN_CABIN_17) == "people"
    with pytest.raises(HoldoutError, match="in-cabin rig only"):
        holdout_source("synthetic", COCO17)


def test_average_precision_as_coco_counts_it() -> None:
    """All found, ranked first → 1.0; a confident false box above both costs a third at every recall;
    a duplicate of a found box is a false positive; nothing to find → 0.0."""
    truths = {"a": [(0.0, 0.0, 10.0, 10.0)], "b": [(50.0, 50.0, 10.0, 10.0)]}
    hits = [(0.9, "a", (0.0, 0.0, 10.0, 10.0)), (0.8, "b", (51.0, 50.0, 10.0, 10.0))]
    assert average_precision(hits, truths) == pytest.approx(1.0)
    false_first = [(0.95, "a", (100.0, 100.0, 10.0, 10.0)), *hits]
    assert average_precision(false_first, truths) == pytest.approx(2 / 3)  # the best precision at or beyond each recall
    duplicate_last = [*hits, (0.1, "a", (0.0, 0.0, 10.0, 10.0))]
    assert average_precision(duplicate_last, truths) == pytest.approx(1.0)  # ranked below every hit: no harm
    assert average_precision(hits[:1], truths) == pytest.approx(51 / 101)  # half found
    assert average_precision(hits, {}) == 0.0
    assert average_precision([], truths) == 0.0


def test_a_frame_imported_as_holdout_is_measured_on_and_never_trained_on() -> None:
    """``labelloop import coco --as-holdout`` marks frames the trainer reserves whatever the hash rule says."""
    image = np.zeros((8, 8, 3), np.uint8)
    team = LabeledFrame("0" * 16, image, (), (), holdout=True)  # a name the hash rule (share 0) would train on
    plain = LabeledFrame("1" * 16, image, (), ())
    train, reserved = split_reserved({"pose_main": [team, plain]}, 0.0)
    assert reserved["pose_main"] == [team]
    assert train["pose_main"] == [plain]
