"""Person tracks across a clip's sampled frames: Ultralytics' ByteTrack on the served person boxes.

ByteTrack (Zhang et al., ECCV 2022) matches boxes frame to frame by IoU against each track's
Kalman-predicted box, first with the confident detections, then with the weak ones, so a person
whose score dips for a frame keeps their track. We run Ultralytics' implementation with its shipped
``bytetrack.yaml`` on the boxes our models served, never on pixels, so replaying the same boxes gives
the same ids. A clip's batches are predicted by different workers at once; they are tracked one
after the other (:mod:`labelloop_inference.clip_order`), each batch resuming from the tracker's
:meth:`ClipTracker.snapshot` after the one before: a JSON document of the live tracks (their Kalman
state), never a pickle, as it is read back from S3. Resuming from a snapshot gives exactly the ids
of one uninterrupted run (tested). A track id counts from 1 per clip.

A person gets the id of the confirmed track their detection updated in this frame. ByteTrack
confirms a new track when the next frame matches it (except in a clip's first frame). Giving every
new track's id at once tripled the identity switches on the walkers of tests/unit/test_tracks.py, as
one missed detection drops an unconfirmed track; so a first sighting gets its id only once the next
frame has confirmed the track, when both frames are in the same batch (:meth:`ClipTracker.follow_frames`);
a person first seen in a batch's last frame has none there.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np
from labelloop import Person

from labelloop_inference.temporal import temporal_change

if TYPE_CHECKING:
    from numpy.typing import NDArray

# left, top, width, height, confidence of each person in one frame
FrameBoxes = list[tuple[float, float, float, float, float]]


def person_boxes(persons: list[Person]) -> FrameBoxes:
    """What the tracker sees of a frame: its persons' boxes and scores, in the frame's person order."""
    return [(p.box.left, p.box.top, p.box.width, p.box.height, p.box.confidence) for p in persons]


@dataclass(frozen=True)
class _Detections:
    """The results-like object ``BYTETracker.update`` takes: ``xywh`` centres, ``conf``, ``cls``,
    boolean indexing."""

    xywh: NDArray[np.float32]
    conf: NDArray[np.float32]
    cls: NDArray[np.float32]

    @classmethod
    def of(cls, boxes: FrameBoxes) -> Self:
        array = np.asarray(boxes, np.float32).reshape(-1, 5)
        centres = np.column_stack([array[:, 0] + array[:, 2] / 2, array[:, 1] + array[:, 3] / 2, array[:, 2:4]])
        return cls(centres.astype(np.float32), array[:, 4].copy(), np.zeros(len(array), np.float32))

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, mask: NDArray[np.bool_]) -> _Detections:
        return _Detections(self.xywh[mask], self.conf[mask], self.cls[mask])


FULL_RATE_MATCH = 0.8  # bytetrack.yaml's, for video at its full frame rate
SAMPLED_MATCH = 0.9
SAMPLED_AFTER_S = 0.15
"""Frames farther apart than this (fewer than about 7 a second) are matched with :data:`SAMPLED_MATCH`."""


@dataclass(frozen=True)
class TrackerSettings:
    """What a team may tune of ByteTrack (``bytetrack.yaml``'s values otherwise). ``match_thresh`` is the
    highest matching cost accepted, cost = 1 - IoU (fused with the score). None: by the sampling, frame
    pair by frame pair: ByteTrack's 0.8 for frames at most ``SAMPLED_AFTER_S`` apart, else 0.9. Frames
    sampled far apart overlap less, and the looser match keeps walking people's ids, at the price of a
    few more switches where people cross (README, "What inference does with a batch of frames")."""

    match_thresh: float | None = None
    track_buffer: int = 30  # frames a lost track is kept to be found again

    def match_for(self, interval_s: float | None) -> float:
        """The matching cost accepted between two frames ``interval_s`` apart (None: unknown)."""
        if self.match_thresh is not None:
            return self.match_thresh
        return SAMPLED_MATCH if interval_s is not None and interval_s > SAMPLED_AFTER_S else FULL_RATE_MATCH


class ClipTracker:
    """One clip's tracker: feed it the clip's frames in order, get a track id per person."""

    def __init__(self, settings: TrackerSettings = TrackerSettings()) -> None:
        byte_tracker, defaults = _ultralytics()
        tuned = {"match_thresh": settings.match_for(None), "track_buffer": settings.track_buffer}
        self._settings = settings
        self._tracker = byte_tracker(args=_Namespace(defaults | tuned))
        self._sightings: dict[int, Person] = {}  # each live track's last sighting (temporal_change)
        self._last_at_s: float | None = None  # the previous frame's time in the clip
        self._born: dict[int, int] = {}  # each track started in the last frame, unconfirmed: its detection

    def follow(self, persons: list[Person], at_s: float | None = None) -> list[Person]:
        """The next frame's persons (``at_s``: the frame's time in the clip) with their ``track_id`` and,
        against their track's previous sighting, their ``temporal_change``."""
        ids = self.update(person_boxes(persons), at_s)
        followed = []
        for person, track in zip(persons, ids, strict=True):
            previous = self._sightings.get(track) if track is not None else None
            change = temporal_change(previous, person) if previous is not None else None
            followed.append(person.model_copy(update={"track_id": track, "temporal_change": change}))
            if track is not None:
                self._sightings[track] = person
        live = {int(t.track_id) for t in (*self._tracker.tracked_stracks, *self._tracker.lost_stracks)}
        self._sightings = {track: seen for track, seen in self._sightings.items() if track in live}
        return followed

    def follow_frames(self, frames: list[tuple[list[Person], float | None]]) -> list[list[Person]]:
        """:meth:`follow` over consecutive frames (persons, time), and each track confirmed within them
        given back to the detection that started it in the frame before."""
        followed: list[list[Person]] = []
        for persons, at_s in frames:
            born_before = self._born
            followed.append(self.follow(persons, at_s))
            if len(followed) < 2:
                continue
            confirmed = {p.track_id for p in followed[-1] if p.track_id is not None} & born_before.keys()
            earlier = followed[-2]
            for track in confirmed:
                index = born_before[track]
                if index < len(earlier) and earlier[index].track_id is None:
                    earlier[index] = earlier[index].model_copy(update={"track_id": track})
        return followed

    def update(self, boxes: FrameBoxes, at_s: float | None = None) -> list[int | None]:
        """The next frame's boxes (``at_s``: its time in the clip) → the track id of each (None: too weak
        for any track)."""
        tracker = self._tracker
        interval = at_s - self._last_at_s if at_s is not None and self._last_at_s is not None else None
        tracker.args.match_thresh = self._settings.match_for(interval)
        self._last_at_s = at_s if at_s is not None else self._last_at_s
        tracker.update(_Detections.of(boxes))
        ids: list[int | None] = [None] * len(boxes)
        # Confirmed tracks only: a track ByteTrack started this frame is dropped if the next frame
        # misses it, and its id would then be a switch (see the module's docstring).
        self._born = {}
        for track in tracker.tracked_stracks:
            if track.frame_id == tracker.frame_id and 0 <= int(track.idx) < len(boxes):
                if track.is_activated:
                    ids[int(track.idx)] = int(track.track_id)
                elif track.start_frame == tracker.frame_id:
                    self._born[int(track.track_id)] = int(track.idx)
        return ids

    def snapshot(self) -> dict[str, Any]:
        """The tracker's state as JSON-able data: its frame count, the next id, and its tracked and
        lost tracks. Removed tracks are left out: they never come back and nothing compares with
        them after the frame that removed them."""
        tracker = self._tracker
        next_id = next(tracker._ids)  # the one way to read the counter: take the id...
        tracker._ids = iter(range(next_id, sys.maxsize))  # ...and put it back
        return {
            "format": SNAPSHOT_FORMAT,
            "frame_id": tracker.frame_id,
            "next_id": next_id,
            "tracked": [_track_state(t) for t in tracker.tracked_stracks],
            "lost": [_track_state(t) for t in tracker.lost_stracks],
            "sightings": {str(track): seen.model_dump(mode="json") for track, seen in self._sightings.items()},
            "last_at_s": self._last_at_s,
        }

    @classmethod
    def resume(cls, snapshot: dict[str, Any], settings: TrackerSettings = TrackerSettings()) -> ClipTracker:
        """A tracker that goes on where the one that took ``snapshot`` stopped."""
        if snapshot.get("format") not in READABLE_FORMATS:
            raise ValueError(f"tracker snapshot format {snapshot.get('format')!r}, expected one of {READABLE_FORMATS}")
        resumed = cls(settings)
        tracker = resumed._tracker
        tracker.frame_id = int(snapshot["frame_id"])
        tracker._ids = iter(range(int(snapshot["next_id"]), sys.maxsize))  # see snapshot()
        tracker.tracked_stracks = [_track(tracker, state) for state in snapshot["tracked"]]
        tracker.lost_stracks = [_track(tracker, state) for state in snapshot["lost"]]
        resumed._sightings = {int(track): Person.model_validate(seen) for track, seen in snapshot["sightings"].items()}
        resumed._last_at_s = snapshot.get("last_at_s")  # format 2 had none: its next frame matches as a first
        return resumed


SNAPSHOT_FORMAT = 3  # 2: with each live track's last sighting; 3: and the last frame's time
READABLE_FORMATS = (2, 3)  # a clip tracked across an upgrade goes on from the older snapshot
_SCALARS = ("track_id", "is_activated", "state", "score", "start_frame", "frame_id", "tracklet_len", "idx")
_ARRAYS = ("_tlwh", "mean", "covariance")


def _track_state(track: Any) -> dict[str, Any]:
    state = {name: _plain(getattr(track, name)) for name in _SCALARS}
    return state | {name: np.asarray(getattr(track, name)).tolist() for name in _ARRAYS}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _track(tracker: Any, state: dict[str, Any]) -> Any:
    """An STrack as the tracker made it (constructor first, so every attribute it sets exists), then
    given the saved state."""
    from ultralytics.trackers.byte_tracker import STrack  # noqa: PLC0415 - imported by _ultralytics() first

    left, top, width, height = state["_tlwh"]
    track = STrack(np.array([left + width / 2, top + height / 2, width, height, state["idx"]]), state["score"], 0.0)
    for name in _SCALARS:
        setattr(track, name, state[name])
    track.score = np.float32(state["score"])
    track.cls = np.float32(0.0)
    track._tlwh = np.asarray(state["_tlwh"], np.float32)  # STrack keeps its box there
    track.mean = np.asarray(state["mean"], np.float64)
    track.covariance = np.asarray(state["covariance"], np.float64)
    track.kalman_filter = tracker.kalman_filter
    track.next_id = tracker._ids.__next__  # as BYTETracker.update wires each track
    return track


def load_tracker() -> None:
    """Import the tracker now: importing Ultralytics costs about a second of CPU, which the service
    pays at start rather than on the first clip a user uploads (every clip is tracked)."""
    _ultralytics()


@functools.cache
def _ultralytics() -> tuple[Any, dict[str, Any]]:
    """Ultralytics' BYTETracker class and its shipped ``bytetrack.yaml``, imported offline: no hub,
    no downloads, no pip installs of a missing package at run time, settings in a temporary folder
    when the service has no writable home."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "labelloop-ultralytics"))
    import ultralytics  # noqa: PLC0415 - must follow the environment set above
    from ultralytics.trackers.byte_tracker import BYTETracker  # noqa: PLC0415 - as above
    from ultralytics.utils import YAML  # noqa: PLC0415 - as above

    settings = YAML.load(Path(ultralytics.__file__).parent / "cfg" / "trackers" / "bytetrack.yaml")
    return BYTETracker, dict(settings)


class _Namespace:
    """Attribute access to the tracker's YAML settings, as Ultralytics' own namespace gives."""

    def __init__(self, values: dict[str, object]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> object:  # optional settings a tracker asks for with getattr(.., default)
        raise AttributeError(name)
