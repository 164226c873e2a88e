"""What label propagation along a track spares people, on synthetic clips with hidden truth.

    .venv/bin/python benchmarks/propagation.py [--clips 30] [--clip-frames 20] [--camera rolled|standard]
                                               [--gaps 1,2,5,10]

The shipped models predict synthetic clips (people moving in their seats) frame by frame, tracked in
order as inference tracks them (``synthetic_pool.predict_clips``). Then, for every frame ``g`` and
gap ``k``, the portal's own propagation (``labelloop_portal.propagation.carried``) is applied as if
people had corrected frame ``g - k``: each tracked person starts from the truth of that frame (a
perfect correction), carried by the model's box motion of its track to ``g``: the points people changed
from the model's guess there; the others start as the model has them at ``g`` (``--carry-all``: every
point carried). Both starts, the
model's pre-fill (the baseline, same run) and the propagated one, are scored against ``g``'s truth
(``labelloop.label_quality``, people matched as everywhere else):

* points to move: located true points the start does not have within PCK@0.1;
* visibility to fix: points of matched persons whose visibility the start has wrong.

Prints, per gap, both starts and the ratio of the work left with propagation to without. A person
the model sees without a track (its first sighting) or does not see starts as the model has it in
both.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from labelloop import Person
from labelloop.label_quality import Labels, Point, Score, score
from labelloop.synth import Camera
from labelloop.visibility import iou
from labelloop_portal.propagation import TrackCorrection, carried
from labelloop_trainer.model_files import shipped_set
from synthetic_pool import CLIP_STRIDE, PoolFrame, predict_clips

REPO = Path(__file__).resolve().parents[1]
CLIP_SEED = 8_000_000
MATCH_IOU = 0.3  # a model person is the true person whose box overlaps it most, at least this much


@dataclass
class Tally:
    frames: int = 0
    carried_persons: int = 0
    model: Score = field(default_factory=Score)
    propagated: Score = field(default_factory=Score)


def _box(person: Person) -> dict[str, float]:
    return {"left": person.box.left, "top": person.box.top, "width": person.box.width, "height": person.box.height}


def _points(person: Person) -> dict[str, Point]:
    return {k.name: (k.x, k.y, k.visibility) for k in person.keypoints}


def _true_person(model: Person, truth: list[Person]) -> Person | None:
    def overlap(other: Person) -> float:
        return iou(tuple(_box(model).values()), tuple(_box(other).values()))  # type: ignore[arg-type]

    best = max(truth, key=overlap, default=None)
    return best if best is not None and overlap(best) >= MATCH_IOU else None


def _located(person: Person) -> list[dict[str, object]]:
    return [{"label": n, "x": x, "y": y, "visibility": v} for n, (x, y, v) in _points(person).items() if v != "outside"]


def correction(frame: PoolFrame, person: Person) -> TrackCorrection | None:
    """A perfect correction of ``person`` in ``frame``: its true person, as people would leave it."""
    true = _true_person(person, list(frame.truth.persons))
    if true is None or person.track_id is None:
        return None
    return TrackCorrection(clip_id="bench", track=person.track_id, frame_no=frame.predictions.frame.frame_no,
                           source_ref=frame.predictions.frame.uri, model_box=_box(person), box=_box(true),
                           points=_located(true), model_points=_located(person))  # fmt: skip


def starts(
    frame: PoolFrame, corrections: dict[int, TrackCorrection], *, carry_all: bool = False
) -> tuple[Labels, Labels, int]:
    """The model's pre-fill and the propagated start of ``frame``, and how many persons were carried."""
    model, propagated, moved = [], [], 0
    for person in frame.predictions.persons:
        own = _points(person)
        model.append(own)
        fixed = corrections.get(person.track_id) if person.track_id is not None else None
        if fixed is None:
            propagated.append(own)
            continue
        moved += 1
        start = carried(fixed, _box(person), None if carry_all else _located(person))
        propagated.append({p["label"]: (p["x"], p["y"], p["visibility"]) for p in start["points"]})
    return Labels([], model), Labels([], propagated), moved


def measure(frames: list[PoolFrame], gaps: list[int], *, carry_all: bool = False) -> dict[int, Tally]:
    clips: dict[int, list[PoolFrame]] = {}
    for frame in frames:
        clips.setdefault(frame.seed // CLIP_STRIDE, []).append(frame)
    tallies = {gap: Tally() for gap in gaps}
    for clip in clips.values():
        truth = [Labels([], [_points(p) for p in frame.truth.persons]) for frame in clip]
        for gap, tally in tallies.items():
            for g in range(gap, len(clip)):
                earlier = clip[g - gap]
                corrections = {
                    c.track: c for p in earlier.predictions.persons if (c := correction(earlier, p)) is not None
                }
                model, propagated, moved = starts(clip[g], corrections, carry_all=carry_all)
                tally.frames += 1
                tally.carried_persons += moved
                tally.model += score(model, truth[g])
                tally.propagated += score(propagated, truth[g])
    return tallies


def report(tallies: dict[int, Tally]) -> None:
    heads = ("gap", "frames", "carried", "PCK model", "PCK carried", "to move model", "to move carried", "ratio",
             "vis. fix model", "vis. fix carried", "ratio")  # fmt: skip
    print(" ".join(f"{head:>{max(4, len(head))}}" for head in heads))
    for gap, t in tallies.items():
        moves = [s.points_true - s.points_close for s in (t.model, t.propagated)]
        fixes = [s.visibility_total - s.visibility_right for s in (t.model, t.propagated)]
        pck = [s.points_close / s.points_true if s.points_true else 0.0 for s in (t.model, t.propagated)]
        print(f"{gap:>4} {t.frames:>6} {t.carried_persons:>7} {pck[0]:>9.3f} {pck[1]:>11.3f} {moves[0]:>13} "
              f"{moves[1]:>15} {moves[1] / max(1, moves[0]):>4.2f}x {fixes[0]:>14} {fixes[1]:>16} "
              f"{fixes[1] / max(1, fixes[0]):>4.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--clip-frames", type=int, default=20)
    parser.add_argument("--camera", choices=("rolled", "standard"), default="rolled")
    parser.add_argument("--gaps", default="1,2,5,10", help="frames between the corrected frame and the next task")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--carry-all", action="store_true",
                        help="carry every corrected point, not only those people changed from the model's")  # fmt: skip
    parser.add_argument("--models", type=Path, default=REPO / "models" / "initial")
    args = parser.parse_args()
    seeds = list(range(CLIP_SEED, CLIP_SEED + args.clips))
    camera: Camera = args.camera
    frames = predict_clips(shipped_set(args.models).onnx, seeds, args.clip_frames, args.imgsz,
                           dict.fromkeys(seeds, camera))  # fmt: skip
    print(f"{args.clips} clips of {args.clip_frames} frames, {args.camera} camera; work left in the next task's "
          "start, model pre-fill vs propagated from a corrected frame `gap` frames before")  # fmt: skip
    report(measure(frames, [int(gap) for gap in args.gaps.split(",")], carry_all=args.carry_all))


if __name__ == "__main__":
    main()
