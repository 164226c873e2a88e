"""ByteTrack on served boxes (labelloop_inference.tracks): identities kept, and a tracker resumed
from its JSON snapshot gives the ids of one uninterrupted run."""

from __future__ import annotations

import json
import random

import pytest
from labelloop import Box, Keypoint, Person
from labelloop_inference.temporal import temporal_change
from labelloop_inference.tracks import ClipTracker, FrameBoxes, TrackerSettings

from tests.tracking import id_switches

Walker = list[float]  # x, y, dx, dy
Scene = list[dict[int, tuple[float, float, float, float, float]]]


def walkers_scene(seed: int, frames: int) -> Scene:
    """Pedestrians crossing a 640x480 street view at walking pace, mostly sideways, nearer ones lower
    and taller (perspective), entering and leaving, one detection in ten missed and scores that dip:
    per frame, identity → its box (left, top, width, height, score)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible scene, not a secret
    walkers: dict[int, Walker] = {}
    out = []
    for _ in range(frames):
        if rng.random() < 0.1 or not walkers:
            walkers[len(out) * 100 + len(walkers)] = [rng.uniform(0, 600), rng.uniform(0, 380),
                                                     rng.uniform(-6, 6), rng.uniform(-1, 1)]  # fmt: skip
        for identity in [i for i, w in walkers.items() if not (-40 < w[0] < 640 and -100 < w[1] < 480)]:
            del walkers[identity]
        seen = {}
        for identity, walker in walkers.items():
            walker[0] += walker[2] + rng.gauss(0, 0.7)
            walker[1] += walker[3] + rng.gauss(0, 0.7)
            height = 60 + 0.25 * walker[1]
            if rng.random() < 0.9:
                seen[identity] = (walker[0], walker[1], 0.4 * height, height, rng.uniform(0.2, 0.95))
        out.append(seen)
    return out


def tracked_ids(
    tracker: ClipTracker, scene: list[dict[int, tuple[float, float, float, float, float]]]
) -> list[dict[int, int | None]]:
    frames = []
    for seen in scene:
        ids = tracker.update(list(seen.values()))
        frames.append(dict(zip(seen, ids, strict=True)))
    return frames


def test_walkers_keep_their_ids() -> None:
    """At most one identity switch per 100 frames (the issue's bar), over 8 clips of 300 frames with
    eight or so people at once; the switches left are people whose boxes cover each other as they
    cross, which boxes alone cannot tell apart."""
    clips = [tracked_ids(ClipTracker(), walkers_scene(seed, 300)) for seed in range(8)]
    frames = sum(len(clip) for clip in clips)
    detections = [track for clip in clips for seen in clip for track in seen.values()]
    assert len(detections) > 5 * frames
    assert sum(id_switches(clip) for clip in clips) <= frames / 100
    # Untracked: a person's first sighting (ByteTrack confirms a track on its second frame) and
    # detections too weak for any track.
    assert detections.count(None) <= 0.05 * len(detections)


def test_two_people_in_one_frame_get_different_ids_from_one() -> None:
    ids = ClipTracker().update([(0, 0, 40, 100, 0.9), (300, 0, 40, 100, 0.9)])
    assert ids == [1, 2]


def test_a_weak_detection_gets_no_track() -> None:
    assert ClipTracker().update([(0, 0, 40, 100, 0.05)]) == [None]


@pytest.mark.parametrize("seed", range(10))
def test_resuming_from_a_snapshot_gives_the_uninterrupted_ids(seed: int) -> None:
    scene = [list(seen.values()) for seen in walkers_scene(seed, 120)]
    whole = ClipTracker()
    expected = [whole.update(boxes) for boxes in scene]
    got: list[list[int | None]] = []
    tracker = ClipTracker()
    for start in range(0, len(scene), 16):
        got += [tracker.update(boxes) for boxes in scene[start : start + 16]]
        tracker = ClipTracker.resume(json.loads(json.dumps(tracker.snapshot())))
    assert got == expected


def test_a_snapshot_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="snapshot format"):
        ClipTracker.resume({"format": 99})


def test_a_person_arriving_later_is_tracked_from_their_second_frame() -> None:
    tracker = ClipTracker()
    empty: FrameBoxes = []
    assert tracker.update(empty) == []
    assert tracker.update([(0, 0, 40, 100, 0.9)]) == [None]
    assert tracker.update([(3, 0, 40, 100, 0.9)]) == [1]


def _person(left: float, top: float, points: list[tuple[float, float, str]]) -> Person:
    keypoints = [Keypoint(name=f"p{i}", x=x, y=y, main_confidence=0.9, visible_confidence=0.9, visibility=v)
                 for i, (x, y, v) in enumerate(points)]  # fmt: skip
    return Person(box=Box(left=left, top=top, width=60, height=80, confidence=0.9, label="person"), keypoints=keypoints)


def test_temporal_change_takes_out_the_walk_and_counts_jumps_and_flicker() -> None:
    still = [(10.0, 10.0, "visible"), (20.0, 30.0, "occluded"), (0.0, 0.0, "outside"), (30.0, 50.0, "visible")]
    before = _person(100, 100, [(x + 100, y + 100, v) for x, y, v in still])
    walked = _person(130, 105, [(x + 130, y + 105, v) for x, y, v in still])
    assert temporal_change(before, walked) == 0.0  # the whole body moved with its box
    jumped = [*still[:3], (80.0, 50.0, "visible")]  # one of four points 50 px (half the diagonal) off
    assert temporal_change(before, _person(130, 105, [(x + 130, y + 105, v) for x, y, v in jumped])) == 0.125
    flicker = [still[0], (20.0, 30.0, "visible"), *still[2:]]  # one of four points flipped occluded → visible
    assert temporal_change(before, _person(130, 105, [(x + 130, y + 105, v) for x, y, v in flicker])) == 0.25


def test_follow_gives_temporal_change_from_the_second_sighting_and_resumes_with_it() -> None:
    points = [(10.0 + i, 10.0 + 2 * i, "visible") for i in range(4)]
    frames = [_person(100 + 5 * n, 100, [(x + 100 + 5 * n + (8 if n == 3 and i == 0 else 0), y + 100, v)
                                         for i, (x, y, v) in enumerate(points)]) for n in range(5)]  # fmt: skip
    whole = ClipTracker()
    expected = [whole.follow([person])[0] for person in frames]
    assert [p.temporal_change for p in expected] == [None, 0.0, 0.0, 0.02, 0.02]
    resumed = ClipTracker()
    got = [resumed.follow([frames[0]])[0], resumed.follow([frames[1]])[0]]
    resumed = ClipTracker.resume(json.loads(json.dumps(resumed.snapshot())))
    got += [resumed.follow([person])[0] for person in frames[2:]]
    assert got == expected


def test_a_looser_match_keeps_a_fast_walker_that_the_default_loses() -> None:
    """A 40 px wide person 30 px further on each sampled frame overlaps the last box by IoU 0.14:
    beyond ByteTrack's default cost of 0.8, within 0.95."""
    walk = [[(30.0 * n, 0.0, 40.0, 100.0, 0.9)] for n in range(6)]
    default, loose = ClipTracker(), ClipTracker(TrackerSettings(match_thresh=0.95))
    assert [default.update(boxes)[0] for boxes in walk] == [1, None, None, None, None, None]
    assert [loose.update(boxes)[0] for boxes in walk] == [1] * 6


def test_by_default_the_match_loosens_for_frames_sampled_far_apart_and_resumes_knowing_the_last_frames_time() -> None:
    """A walker 40 px wide, 28 px further on each frame: IoU 0.18 with the Kalman filter's first guess
    (no velocity yet), a cost of 0.84 with the score fused. Frames 0.1 s apart are video at full rate:
    ByteTrack's 0.8 drops it there, as at that rate such a step is a jump. The same boxes 1 s apart are a
    sampled clip: the match is 0.9, and the walker keeps one id."""
    walk = [[(28.0 * n, 0.0, 40.0, 100.0, 0.9)] for n in range(6)]
    assert TrackerSettings().match_for(0.1) == 0.8
    assert TrackerSettings().match_for(1.0) == 0.9
    assert TrackerSettings(match_thresh=0.7).match_for(1.0) == 0.7  # a stated value always wins
    video, sampled = ClipTracker(), ClipTracker()
    at_video = [video.update(boxes, 0.1 * n)[0] for n, boxes in enumerate(walk)]
    at_sampled = [sampled.update(boxes, 1.0 * n)[0] for n, boxes in enumerate(walk[:3])]
    resumed = ClipTracker.resume(json.loads(json.dumps(sampled.snapshot())))
    at_sampled += [resumed.update(boxes, 1.0 * n)[0] for n, boxes in enumerate(walk[3:], start=3)]
    assert at_sampled == [1] * 6
    assert at_video == [1, None, None, None, None, None]


def test_a_snapshot_of_the_format_before_the_frame_times_is_still_read() -> None:
    tracker = ClipTracker()
    tracker.update([(0.0, 0.0, 40.0, 100.0, 0.9)], 0.0)
    older = {**tracker.snapshot(), "format": 2}
    del older["last_at_s"]
    assert ClipTracker.resume(older).update([(2.0, 0.0, 40.0, 100.0, 0.9)], 1.0) == [1]


def _boxed(box: tuple[float, float, float, float, float]) -> Person:
    left, top, width, height, score = box
    return Person(box=Box(left=left, top=top, width=width, height=height, confidence=score, label="person"),
                  keypoints=[])  # fmt: skip


def _moved(box: tuple[float, float, float, float, float], dx: float) -> tuple[float, float, float, float, float]:
    return (box[0] + dx, *box[1:])  # type: ignore[return-value]


def test_a_first_sighting_gets_its_track_once_the_next_frame_of_the_batch_confirms_it() -> None:
    """A person arriving in frame 2 of a batch is tracked from frame 2, not 3; a detection no later frame
    matches keeps none (a dropped unconfirmed track is no id); one arriving in the batch's last frame
    keeps none there, as the batch goes out before the next one confirms it."""
    walker, other, last = (0.0, 0.0, 40.0, 100.0, 0.9), (400.0, 0.0, 40.0, 100.0, 0.9), (200.0, 300.0, 40.0, 100.0, 0.9)
    boxes = [[], [walker], [_moved(walker, 3), other], [_moved(walker, 6)], [_moved(walker, 9), last]]
    frames = [([_boxed(box) for box in frame], 0.1 * n) for n, frame in enumerate(boxes)]
    followed = ClipTracker().follow_frames(frames)
    assert [[p.track_id for p in persons] for persons in followed] == [[], [1], [1, None], [1], [1, None]]
    single = ClipTracker()
    one_by_one = [[p.track_id for p in single.follow(persons, at_s)] for persons, at_s in frames]
    assert one_by_one == [[], [None], [1, None], [1], [1, None]]  # frame by frame the first sighting has none


def test_walkers_keep_their_ids_when_first_sightings_get_theirs_batch_by_batch() -> None:
    """The walkers' bar, with each track's first sighting given its id within 16-frame batches."""
    switches = frames = 0
    for seed in range(8):
        scene = walkers_scene(seed, 300)
        tracker, ids = ClipTracker(), []
        for start in range(0, len(scene), 16):
            chunk = scene[start : start + 16]
            persons = [([_boxed(box) for box in seen.values()], None) for seen in chunk]
            for seen, found in zip(chunk, tracker.follow_frames(persons), strict=True):
                ids.append(dict(zip(seen, [p.track_id for p in found], strict=True)))
        switches += id_switches(ids)
        frames += len(scene)
    assert switches <= frames / 100
