"""Active learning vs the random arm at equal human-label budgets, on the synthetic benchmark.

    .venv/bin/python benchmarks/active_learning.py [--rounds 4] [--per-round 20] [--pool 400] [--epochs 5]
                                                   [--camera rolled|standard] [--new-share 0.25]
                                                   [--strategy committee[,temporal,...]] [--doubtful 1]
                                                   [--random-seeds 0,1,2] [--clip-frames 20]

From the shipped initial models, two arms run side by side for ``--rounds`` rounds. Each round an
arm predicts the unlabeled pool with its current models (the inference path in-process: letterbox,
YOLO decoding, visibility rule), picks ``--per-round`` frames, gets their true labels (the
simulated annotator is perfect here), fine-tunes its three models on everything it has labeled so
far, and is evaluated on the trainer's fixed holdout. The random arm picks a seeded random sample.
The uncertainty arm picks the ``--per-round`` least certain by the selector's ``--strategy``; with
``--doubtful k`` > 1 it picks as a stream whose human budget binds: the threshold marks the k x
``--per-round`` least certain as doubtful and the budget takes ``--per-round`` of them in arrival
order, i.e. at random.
Pool and holdout come from ``--camera``: by default the rolled camera the
shipped models never saw (on their own camera they are near their ceiling and neither arm can
improve them measurably). With ``--new-share`` < 1 only that share of the pool comes from it and
the rest from the shipped models' own camera, as in a fleet where one new car joins many known
ones; the holdout stays on the new camera, where the models are weak.
With ``--clip-frames N`` the pool is ``--pool / N`` synthetic clips of N frames (people moving in
their seats), each predicted and tracked in order as inference tracks a clip, so the ``temporal``
strategy has its signal; a clip's camera is drawn as a scene's is.
``--strategy`` may list several strategies, one uncertainty arm each (``temporal``, the selector's
default, ``least_confidence+temporal``...); each arm's saving is read against the random arms' mean
and against the arm of the selector's default strategy when that one runs too.
Prints the curves, the labels each uncertainty arm needs to reach the random
arm's final pose mAP50 (target: >= 40% fewer), and writes a plot. Minutes on 2 cores; not in CI.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import matplotlib
from labelloop.model_registry import METRICS
from labelloop.model_set import MODEL_SET, ModelName, read_set_folder
from labelloop.rig import IN_CABIN_17
from labelloop.synth import Camera
from labelloop_selector.scoring import ScoringContext, load_scorer
from labelloop_selector.settings import SelectorSettings
from labelloop_trainer.dataset import synthetic_holdout, write_training_sets
from labelloop_trainer.evaluation import evaluate, judge, under_rules
from labelloop_trainer.finetune import ModelFiles, fine_tune
from labelloop_trainer.initial_models import labeled_frame, synthetic_frames
from labelloop_trainer.model_files import shipped_set
from labelloop_trainer.yolo_data import LabeledFrame
from synthetic_pool import CLIP_STRIDE, clip_frame, pool_camera, predict_clips, predict_pool

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parents[1]
POOL_SEED = 4_000_000
CLIP_SEED = 7_000_000
DEFAULT_STRATEGY = str(SelectorSettings.model_fields["strategy"].default)
HOLDOUT = range(2_000_000, 2_000_064)  # the trainer's default holdout
TARGET_SAVING = 0.4
NOISE = 0.01  # holdout mAP differences below this are run-to-run noise at this holdout size


class Pool:
    """The benchmark's unlabeled frames: independent scenes, or the frames of synthetic clips."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.clip_frames: int = args.clip_frames
        self.clips: list[int] = []
        self.clip_cameras: dict[int, Camera] = {}
        if self.clip_frames:
            self.clips = list(range(CLIP_SEED, CLIP_SEED + args.pool // self.clip_frames))
            self.clip_cameras = {seed: pool_camera(seed, args.camera, args.new_share) for seed in self.clips}
            self.ids = [seed * CLIP_STRIDE + n for seed in self.clips for n in range(self.clip_frames)]
            self.cameras = {i: self.clip_cameras[i // CLIP_STRIDE] for i in self.ids}
        else:
            self.ids = list(range(POOL_SEED, POOL_SEED + args.pool))
            self.cameras = {seed: pool_camera(seed, args.camera, args.new_share) for seed in self.ids}

    def scores(self, onnx: dict[ModelName, Path], unlabeled: list[int], strategy: str, imgsz: int) -> dict[int, float]:
        """The selector's certainty for every unlabeled frame under an arm's current models (a clip is
        predicted and tracked whole, as inference sees it, labelled frames included)."""
        scorer, context = load_scorer(strategy), ScoringContext()
        if self.clip_frames:
            wanted = set(unlabeled)
            frames = [f for f in predict_clips(onnx, self.clips, self.clip_frames, imgsz, self.clip_cameras)
                      if f.seed in wanted]  # fmt: skip
        else:
            frames = predict_pool(onnx, unlabeled, imgsz, self.cameras)
        return {frame.seed: scorer(frame.predictions, context) for frame in frames}

    def labeled(self, pool_id: int) -> LabeledFrame:
        """The frame with its true labels (the benchmark's perfect annotator)."""
        if self.clip_frames:
            return labeled_frame(f"clip-{pool_id}", clip_frame(pool_id, self.clip_frames, self.cameras[pool_id]))
        [frame] = synthetic_frames(range(pool_id, pool_id + 1), width=320, height=240, camera=self.cameras[pool_id])
        return frame


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Labels at which a curve first reaches ``target`` (linear between rounds)."""
    for (l0, m0), (l1, m1) in itertools.pairwise(curve):
        if m0 >= target:
            return float(l0)
        if m1 >= target:
            return l0 + (l1 - l0) * (target - m0) / (m1 - m0)
    return float(curve[0][0]) if curve and curve[0][1] >= target else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--pool", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--camera", choices=("rolled", "standard"), default="rolled",
                        help="rolled: a camera the shipped models never saw; standard: their own")  # fmt: skip
    parser.add_argument("--new-share", type=float, default=0.25,
                        help="share of the pool from --camera; the rest from the standard camera")  # fmt: skip
    parser.add_argument("--strategy", default="committee",
                        help="selector strategies, comma-separated (built in or module:fn), an arm each")  # fmt: skip
    parser.add_argument("--clip-frames", type=int, default=0,
                        help="the pool as clips of this many frames, tracked (0: independent scenes)")  # fmt: skip
    parser.add_argument("--doubtful", type=float, default=1.0,
                        help="doubtful pool = this many times --per-round of the least certain frames")  # fmt: skip
    parser.add_argument("--random-seeds", default="0,1,2",
                        help="one random arm per seed; the saving is read against their mean curve")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of the budget's draw (--doubtful > 1)")
    parser.add_argument("--models", type=Path, default=REPO / "models" / "initial")
    parser.add_argument("--plot", type=Path, default=REPO / ".labelloop" / "bench" / "active_learning.png")
    args = parser.parse_args()

    curves = run_arms(args)
    report(curves, args.plot)


def run_arms(args: argparse.Namespace) -> dict[str, list[tuple[int, dict[str, float]]]]:
    """The uncertainty arm and every random arm, round by round; each arm's (labels, holdout metrics)
    curve. Training and evaluation are the trainer's own (its holdout, fine_tune and judge)."""
    pool = Pool(args)
    root = Path(tempfile.mkdtemp(prefix="labelloop-al-"))
    holdout = synthetic_holdout(root, first_seed=HOLDOUT.start, size=len(HOLDOUT), camera=args.camera,
                                rig=IN_CABIN_17)  # fmt: skip

    def measure(trained: ModelFiles, parent: ModelFiles, work: Path) -> tuple[ModelFiles, dict[str, float]]:
        judged = judge(trained, holdout, incumbent=tuple(parent.onnx), workdir=work, imgsz=args.imgsz)
        return judged.candidate, {metric: judged.metrics[metric] for metric in METRICS}

    start = shipped_set(args.models)
    shipped = read_set_folder(args.models)
    measured = evaluate(start, holdout, workdir=root / "eval0", imgsz=args.imgsz)
    served = under_rules(measured, shipped.visibility_rule, shipped.head_rule)  # as shipped: no takeover
    initial = {metric: served[metric] for metric in METRICS}
    random_arms = {f"random-{seed}": random.Random(seed) for seed in map(int, args.random_seeds.split(","))}  # noqa: S311
    strategies = {f"strategy:{name}": name for name in args.strategy.split(",")}
    curves = {arm: [(0, initial)] for arm in (*strategies, *random_arms)}
    state: dict[str, tuple[ModelFiles, list[int], list[int]]] = {arm: (start, [], list(pool.ids)) for arm in curves}
    budget_draw = random.Random(f"doubtful-{args.seed}")  # noqa: S311 - the budget's arrival order
    began = time.monotonic()
    for round_no in range(1, args.rounds + 1):
        for arm, curve in curves.items():
            models, labeled, unlabeled = state[arm]
            if arm in strategies:
                certainty = pool.scores(models.onnx, unlabeled, strategies[arm], args.imgsz)
                doubtful = sorted(unlabeled, key=lambda seed: certainty[seed])[: round(args.doubtful * args.per_round)]
                picked = budget_draw.sample(doubtful, args.per_round)
            else:
                picked = random_arms[arm].sample(unlabeled, args.per_round)
            labeled, chosen = labeled + picked, set(picked)
            unlabeled = [seed for seed in unlabeled if seed not in chosen]
            work = root / arm / f"round-{round_no}"
            frames = [pool.labeled(seed) for seed in labeled]
            training_sets = write_training_sets(dict.fromkeys(MODEL_SET, frames), holdout, work)
            trained = fine_tune(training_sets, models, work, epochs=args.epochs, imgsz=args.imgsz)
            models, metrics = measure(trained, models, work / "eval")
            curve.append((len(labeled), metrics))
            state[arm] = (models, labeled, unlabeled)
            new_camera = sum(pool.cameras[seed] == args.camera for seed in labeled)
            print(json.dumps({"round": round_no, "arm": arm, "labels": len(labeled), "new_camera_labels": new_camera,
                              **metrics, "elapsed_s": round(time.monotonic() - began)}),
                  file=sys.stderr, flush=True)  # fmt: skip

    shutil.rmtree(root, ignore_errors=True)
    return curves


def mean_curve(curves: list[list[tuple[int, dict[str, float]]]]) -> list[tuple[int, dict[str, float]]]:
    """Round by round, the metrics averaged over several arms with the same budgets."""
    return [
        (points[0][0], {m: sum(metrics[m] for _, metrics in points) / len(points) for m in points[0][1]})
        for points in zip(*curves, strict=True)
    ]


def reading(points: list[tuple[int, float]], target: float) -> tuple[float | None, float | None]:
    """(labels at which the curve first reaches target, labels from which it stays at or above it).

    The curves are noisy round to round: the second reading is the stricter one, which one lucky
    round cannot satisfy."""
    stays = next((float(labels) for i, (labels, _) in enumerate(points)
                  if all(value >= target for _, value in points[i:])), None)  # fmt: skip
    return labels_to_reach(points, target), stays


def _saving_line(uncertainty: list[tuple[int, float]], curve: list[tuple[int, dict[str, float]]], budget: int) -> str:
    """How many labels an uncertainty arm needs for what ``curve`` reached with ``budget``."""
    target = curve[-1][1]["pose_map50"]
    first, stays = reading(uncertainty, target)
    gain = target - curve[0][1]["pose_map50"]
    if gain < NOISE:
        return f"{target:.3f}: gained {gain:+.3f}, within noise (< {NOISE}): no saving can be claimed either way"
    if first is None:
        return f"{target:.3f}: never reached: saving not shown"
    kept = f"{stays:.0f} ({1 - stays / budget:.0%} fewer)" if stays is not None else "- (never)"
    return f"{target:.3f}: reached with {first:.0f} labels ({1 - first / budget:.0%} fewer); stays from {kept}"


def report(curves: dict[str, list[tuple[int, dict[str, float]]]], plot: Path) -> None:
    randoms = [curve for arm, curve in curves.items() if arm.startswith("random-")]
    baseline = f"random (mean of {len(randoms)})"
    curves = {**curves, baseline: mean_curve(randoms)}
    width = max(20, *map(len, curves))
    print(f"\n{'arm':<{width}} {'labels':>6} " + " ".join(f"{m:>19}" for m in METRICS))
    for arm, curve in curves.items():
        for labels, metrics in curve:
            print(f"{arm:<{width}} {labels:>6} " + " ".join(f"{metrics[m]:>19.3f}" for m in METRICS))
    budget = curves[baseline][-1][0]
    default = f"strategy:{DEFAULT_STRATEGY}"
    for arm in (a for a in curves if a.startswith("strategy:")):
        uncertainty = [(labels, m["pose_map50"]) for labels, m in curves[arm]]
        print(f"\n{arm}, against each other arm's final pose mAP50 at {budget} labels:")
        for other, curve in curves.items():
            if other != arm:
                print(f"  {other:<{width}} {_saving_line(uncertainty, curve, budget)}")
        for against in (baseline, default):
            if against == arm or against not in curves:
                continue
            _, stays = reading(uncertainty, curves[against][-1][1]["pose_map50"])
            saving = 0.0 if stays is None else 1 - stays / budget
            verdict = "met" if saving >= TARGET_SAVING else "MISSED"
            print(f"  label saving against {against}, stricter reading: {saving:.0%} "
                  f"(target >= {TARGET_SAVING:.0%}: {verdict})")  # fmt: skip
    figure, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.2))
    for axis, metric in zip(axes, METRICS, strict=True):
        for arm, curve in curves.items():
            faint = arm.startswith("random-")
            style = {"alpha": 0.3, "color": "grey"} if faint else {"marker": "o", "label": arm}
            axis.plot([labels for labels, _ in curve], [m[metric] for _, m in curve], **style)
        axis.set_title(metric)
        axis.set_xlabel("human labels")
    axes[0].legend()
    figure.tight_layout()
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(plot, dpi=100)
    print(f"plot: {plot}")


if __name__ == "__main__":
    main()
