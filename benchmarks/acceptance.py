"""Which strategy's score tells right auto-labels from wrong ones: auto-acceptance at a stated quality.

    .venv/bin/python benchmarks/acceptance.py [--pool 600] [--camera rolled] [--new-share 0.25]
                                              [--target 0.85] [--audits 150] [--draws 20] [--clip-frames 20]

The shipped models predict a synthetic pool (the inference path in-process) and every frame's
auto-labels are scored against the scene's truth, per measure (``labelloop.label_quality``). Each
strategy then ranks the pool, beside a random ranking (the baseline, same run):

* **AUACC**: the area under its accuracy-coverage curve (the true keypoint PCK of the k frames it is
  surest of, averaged over every k; selective prediction's usual summary): what its ranking alone
  is worth, whatever the target. A random ranking's is the pool's mean;
* **oracle coverage**: the largest share of the pool that, accepted surest first, keeps a true
  keypoint PCK at or above ``--target`` (the ceiling any calibration can reach);
* **calibrated coverage**: what the selector's own calibration proves from ``--audits`` audited
  frames (a random sample, as the control arm draws it) at 90% confidence: the share of the pool
  above the proven threshold and its true PCK, averaged over ``--draws`` audit samples, and how
  often that true PCK fell short of the target (at most 10% of draws may).

With ``--clip-frames N`` the pool is synthetic clips of N frames on ``--camera`` (people moving in
their seats), tracked in order as inference tracks a clip, so the ``temporal`` strategy, and the
default joined with it, have each person's change since their track's previous frame.

Prints a table and the ratios against random. ``tests/integration/test_acceptance_benchmark.py``
runs a small form in CI and fails if the default strategy is no better than random.
"""

from __future__ import annotations

import argparse
import random
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from labelloop.label_quality import Score, frame_measures, labels_of, score
from labelloop.manifest import augmented_manifest_line
from labelloop.synth import Camera
from labelloop.truth_layout import truth_line
from labelloop_selector.calibration import Audit, calibrate
from labelloop_selector.scoring import BUILTIN, ScoringContext, load_scorer
from labelloop_selector.settings import SelectorSettings
from labelloop_trainer.model_files import shipped_set
from synthetic_pool import PoolFrame, pool_camera, predict_clips, predict_pool

REPO = Path(__file__).resolve().parents[1]
POOL_SEED = 5_000_000  # apart from the trainer's holdout and the active-learning pool
CLIP_SEED = 6_000_000
MEASURE = "keypoint_pck"
CONFIDENCE = 0.9
RANDOM = "random"


@dataclass(frozen=True)
class StrategyResult:
    strategy: str
    auacc: float
    oracle_coverage: float
    calibrated_coverage: float
    calibrated_accuracy: float | None  # true PCK above the proven thresholds (mean over draws that proved one)
    shortfalls: int  # draws whose proven threshold's true PCK fell short of the target
    draws: int
    mean: float  # the pool's mean PCK


def truth_scores(frames: list[PoolFrame]) -> list[Score]:
    """Each frame's auto-labels scored against its truth."""
    created = datetime(2026, 1, 1, tzinfo=UTC)
    scores = []
    for frame in frames:
        auto = augmented_manifest_line(frame.predictions, human_annotated=False, job_name="bench", created=created)
        truth = truth_line(frame.truth, frame.predictions.frame.uri)
        scores.append(score(labels_of(auto), labels_of(truth)))
    return scores


def point_pck(scores: list[Score], ranking: list[float], share: float) -> dict[str, float]:
    """Per rig point, the true PCK@0.1 of the ``share`` of frames ``ranking`` is surest of."""
    ranked = sorted(range(len(scores)), key=lambda i: -ranking[i])[: max(1, round(share * len(scores)))]
    return sum((scores[i] for i in ranked), Score()).point_pck()


def strategy_scores(frames: list[PoolFrame], strategy: str) -> list[float]:
    if strategy == RANDOM:
        # its own stream: Random(seed) would replay the scene's first draw (the camera), which predicts accuracy
        return [random.Random(f"baseline-{frame.seed}").random() for frame in frames]  # noqa: S311 - a ranking
    scorer, context = load_scorer(strategy), ScoringContext()
    return [scorer(frame.predictions, context) for frame in frames]


def oracle_coverage(scores: list[float], values: list[float], target: float) -> float:
    ranked = sorted(zip(scores, values, strict=True), key=lambda pair: -pair[0])
    total, best = 0.0, 0
    for index, (_, value) in enumerate(ranked, start=1):
        total += value
        if total / index >= target:
            best = index
    return best / len(ranked)


def auacc(scores: list[float], values: list[float]) -> float:
    """Area under the accuracy-coverage curve: the mean, over k, of the mean value of the k surest frames."""
    total, area = 0.0, 0.0
    for index, (_, value) in enumerate(sorted(zip(scores, values, strict=True), key=lambda pair: -pair[0]), start=1):
        total += value
        area += total / index
    return area / len(values)


def judge_strategy(strategy: str, scores: list[float], values: list[float], *, target: float, audits: int,
                   draws: int) -> StrategyResult:  # fmt: skip
    coverages, accuracies, shortfalls = [], [], 0
    for draw in range(draws):
        sample = random.Random(draw).sample(range(len(scores)), audits)  # noqa: S311 - the control arm's draw
        found = calibrate([Audit(scores[i], values[i]) for i in sample], MEASURE, target, CONFIDENCE, min_audits=30)
        if found.threshold is None:
            coverages.append(0.0)
            continue
        accepted = [v for s, v in zip(scores, values, strict=True) if s >= found.threshold]
        coverages.append(len(accepted) / len(scores))
        accuracies.append(sum(accepted) / len(accepted))
        shortfalls += accuracies[-1] < target
    return StrategyResult(
        strategy=strategy,
        auacc=auacc(scores, values),
        oracle_coverage=oracle_coverage(scores, values, target),
        calibrated_coverage=statistics.mean(coverages),
        calibrated_accuracy=statistics.mean(accuracies) if accuracies else None,
        shortfalls=shortfalls,
        draws=draws,
        mean=sum(values) / len(values),
    )


def run(*, pool: int, camera: Camera, new_share: float, target: float, audits: int, draws: int,
        models: Path = REPO / "models" / "initial", imgsz: int = 160,
        clip_frames: int = 0) -> tuple[list[StrategyResult], dict[str, dict[str, float]]]:  # fmt: skip
    """Every built-in strategy, the default combined with ``temporal``, and the random baseline on one
    predicted pool: ``pool`` independent scenes, or with ``clip_frames`` that many frames of each of
    ``pool // clip_frames`` clips on ``camera``, tracked as inference tracks them. Also, per rig point,
    the true PCK of the whole pool and of the half the default strategy is surest of."""
    onnx = shipped_set(models).onnx
    if clip_frames:
        seeds = list(range(CLIP_SEED, CLIP_SEED + pool // clip_frames))
        frames = predict_clips(onnx, seeds, clip_frames, imgsz, dict.fromkeys(seeds, camera))
    else:
        seeds = list(range(POOL_SEED, POOL_SEED + pool))
        frames = predict_pool(onnx, seeds, imgsz, {seed: pool_camera(seed, camera, new_share) for seed in seeds})
    scores = truth_scores(frames)
    values = [frame_measures(found)[MEASURE] for found in scores]
    default = SelectorSettings.model_fields["strategy"].default
    ranked = {strategy: strategy_scores(frames, strategy) for strategy in (*BUILTIN, f"{default}+temporal", RANDOM)}
    results = [judge_strategy(strategy, ranking, values, target=target, audits=audits, draws=draws)
               for strategy, ranking in ranked.items()]  # fmt: skip
    points = {"pool": sum(scores, Score()).point_pck(),
              f"surest half ({default})": point_pck(scores, ranked[default], 0.5)}  # fmt: skip
    return results, points


def print_table(results: list[StrategyResult], target: float) -> None:
    baseline = next(r for r in results if r.strategy == RANDOM)
    default = SelectorSettings.model_fields["strategy"].default
    print(f"keypoint PCK@0.1 of auto-accepted frames, target {target:.2f} at {CONFIDENCE:.0%} confidence")
    print(f"pool mean {results[0].mean:.3f} (a random ranking's AUACC)")
    print(f"{'strategy':27} {'AUACC':>6} {'vs random':>9} {'oracle cov.':>12} {'calibrated cov.':>16} "
          f"{'its true PCK':>13} {'short':>6}")  # fmt: skip
    for r in results:
        accuracy = f"{r.calibrated_accuracy:.3f}" if r.calibrated_accuracy is not None else "-"
        name = r.strategy + (" (default)" if r.strategy == default else "")
        print(f"{name:27} {r.auacc:6.3f} {r.auacc / baseline.auacc:8.3f}x {r.oracle_coverage:12.1%} "
              f"{r.calibrated_coverage:16.1%} {accuracy:>13} {r.shortfalls:>3}/{r.draws:<2}")  # fmt: skip


def print_points(points: dict[str, dict[str, float]]) -> None:
    print("\ntrue PCK@0.1 per point of the rig (which points are wrong)")
    print(f"{'point':16}" + "".join(f"{name:>32}" for name in points))
    for name in next(iter(points.values())):
        print(f"{name:16}" + "".join(f"{values.get(name, float('nan')):32.3f}" for values in points.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=600)
    parser.add_argument("--camera", choices=("rolled", "standard"), default="rolled")
    parser.add_argument("--new-share", type=float, default=0.25, help="share of the pool from --camera")
    parser.add_argument("--target", type=float, default=0.85, help="stated keypoint PCK@0.1 of auto-accepted frames")
    parser.add_argument("--audits", type=int, default=150, help="audited frames the calibration sees")
    parser.add_argument("--draws", type=int, default=20, help="audit samples drawn")
    parser.add_argument("--clip-frames", type=int, default=0,
                        help="a pool of clips of this many frames on --camera (tracked, so temporal scores), "
                        "instead of independent scenes")  # fmt: skip
    args = parser.parse_args()
    results, points = run(pool=args.pool, camera=args.camera, new_share=args.new_share, target=args.target,
                  audits=args.audits, draws=args.draws, clip_frames=args.clip_frames)  # fmt: skip
    print_table(results, args.target)
    print_points(points)


if __name__ == "__main__":
    main()
