"""Label propagation along a track: a person corrected in one frame starts corrected in the clip's
neighbouring frames.

When a person answers a keypoint task, each person of the answer that kept the model's track id is
stored as a :class:`TrackCorrection` (clip, track, frame): the points as the person left them, and the
model's box of that track in that frame. A later task of the same clip whose model sees the same track
starts that person from the nearest correction within ``window`` frames, carried by the model's own
motion between the two frames: the points people changed from the model's guess there keep their
place *relative to the model's box* (shifted by the box's move, scaled by its change of size), with
the visibility they gave (outside stays outside); the points they left alone start from the model's
guess of the new frame, which follows a moving person better (``benchmarks/propagation.py``). A person
the model sees without a track, or whose track was never corrected nearby, starts from the model.

What people say of the person once per track (the rig's track attributes: seat, glasses...) is kept
per track (``track#<clip>#<track>``, the latest answer's) and fills that track's later tasks wherever
they are in the clip.

Stored in the portal's table (``correction#<clip>#<track>#<frame>``), expiring after ``KEEP_S``.
Head boxes carry no track id: only keypoint tasks propagate.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from labelloop.groundtruth import FRAME_ATTRIBUTE, PREFILL_ATTRIBUTE

from labelloop_portal.persons import persons_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MOVED_FRACTION = 0.05
"""A point people moved farther than this share of the person's box diagonal was a correction."""
KEEP_S = 30 * 24 * 3600
"""Corrections outlive their clip's labelling by this much (the table's TTL attribute ``expiry``)."""
BATCH_GET = 100  # DynamoDB's limit of keys per BatchGetItem
UNPROCESSED_TRIES = 4


@dataclass(frozen=True)
class TrackCorrection:
    clip_id: str
    track: int
    frame_no: int
    source_ref: str
    model_box: dict[str, float] | None  # the model's box of the track in that frame: what motion is measured from
    box: dict[str, float] | None  # the person's box as they left it
    points: list[dict[str, Any]]  # {label, x, y, visibility}, as they left them
    attributes: dict[str, str] = field(default_factory=dict)  # the track attributes they set
    model_points: list[dict[str, Any]] = field(default_factory=list)  # the model's points of the track there

    def corrected(self) -> set[str] | None:
        """The points people changed from the model's guess (moved by more than ``MOVED_FRACTION`` of the
        box's diagonal, re-marked, added or removed); None when the model's points were not kept."""
        if not self.model_points:
            return None
        box = self.model_box or self.box or {"width": 0.0, "height": 0.0}
        tolerance = MOVED_FRACTION * math.hypot(box["width"], box["height"])
        given = {p["label"]: p for p in self.points}
        guessed = {p["label"]: p for p in self.model_points}
        return {
            label
            for label in given.keys() | guessed.keys()
            if (a := given.get(label)) is None
            or (b := guessed.get(label)) is None
            or a["visibility"] != b["visibility"]
            or math.dist((a["x"], a["y"]), (b["x"], b["y"])) > tolerance
        }


def _key(clip_id: str, track: int, frame_no: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"correction#{clip_id}#{track}#{frame_no}"}}


def _track_key(clip_id: str, track: int) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"track#{clip_id}#{track}"}}


def _model_persons(line: dict[str, Any]) -> dict[int, dict[str, Any]]:
    model = persons_of(line.get(PREFILL_ATTRIBUTE) or {}, "keypoints", "keypoints")
    return {person["track"]: person for person in model if person["track"]}


def corrections_in(line: dict[str, Any], attribute: str) -> list[TrackCorrection]:
    """The corrections a person's keypoint answer (``line``: the output line, label under ``attribute``)
    holds: one per answered person that kept a model's track."""
    frame = line.get(FRAME_ATTRIBUTE) or {}
    clip_id, frame_no = frame.get("clip_id"), frame.get("frame_no")
    if not isinstance(clip_id, str) or not isinstance(frame_no, int):
        return []
    model = _model_persons(line)
    source = line["source-ref"]
    return [
        TrackCorrection(
            clip_id,
            track,
            frame_no,
            source,
            (model.get(track) or {}).get("box"),
            person["box"],
            person["points"],
            person["attributes"],
            (model.get(track) or {}).get("points") or [],
        )
        for person in persons_of(line, attribute, "keypoints")
        if (track := person["track"])
    ]


def carried(
    correction: TrackCorrection, model_box: dict[str, float], model_points: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The corrected person moved as the model's box of its track moved between the two frames (the
    person's own box when the model's was not kept). With the model's ``model_points`` of this frame,
    only the points people corrected there are carried: where people left the model's guess alone, the
    model's guess of this frame follows the person better than a point carried by the box."""
    then = correction.model_box or correction.box
    if then is None:
        return {"box": correction.box, "points": correction.points}
    scale_x = model_box["width"] / then["width"] if then["width"] >= 1 else 1.0
    scale_y = model_box["height"] / then["height"] if then["height"] >= 1 else 1.0

    def x(value: float) -> float:
        return model_box["left"] + (value - then["left"]) * scale_x

    def y(value: float) -> float:
        return model_box["top"] + (value - then["top"]) * scale_y

    box = correction.box
    moved_box = None
    if box:
        moved_box = {"left": x(box["left"]), "top": y(box["top"]),
                     "width": box["width"] * scale_x, "height": box["height"] * scale_y}  # fmt: skip
    points = [{**point, "x": x(point["x"]), "y": y(point["y"])} for point in correction.points]
    corrected = correction.corrected() if model_points is not None else None
    if corrected is not None:
        points = [p for p in points if p["label"] in corrected]
        points += [dict(p) for p in model_points or [] if p["label"] not in corrected]
    return {"box": moved_box, "points": points}


def nearest_frames(frame_no: int, window: int) -> list[int]:
    """The frames to look in, nearest first, the earlier of two at the same distance first."""
    return [n for d in range(1, window + 1) for n in (frame_no - d, frame_no + d) if n >= 0]


class CorrectionStore:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def record(self, corrections: list[TrackCorrection]) -> None:
        """Store (or overwrite: a level-2 adjustment after its level-1 answer) each correction, and the
        track attributes it sets as its track's."""
        expiry = {"N": str(int(time.time() + KEEP_S))}
        for correction in corrections:
            key = _key(correction.clip_id, correction.track, correction.frame_no)
            body = {"S": json.dumps(asdict(correction))}
            self._dynamodb.put_item(TableName=self._table, Item={**key, "correction": body, "expiry": expiry})
            if correction.attributes:
                said = {"S": json.dumps(correction.attributes)}
                self._dynamodb.put_item(TableName=self._table, Item={
                    **_track_key(correction.clip_id, correction.track), "attributes": said, "expiry": expiry,
                })  # fmt: skip

    def attributes(self, clip_id: str, tracks: list[int]) -> dict[int, dict[str, str]]:
        """What people last said of each of the clip's ``tracks`` that they said anything of."""
        keys = [_track_key(clip_id, track) for track in dict.fromkeys(tracks)]
        found: dict[int, dict[str, str]] = {}
        for start in range(0, len(keys), BATCH_GET):
            for item in self._get(keys[start : start + BATCH_GET]):
                found[int(item["pk"]["S"].rsplit("#", 1)[1])] = json.loads(item["attributes"]["S"])
        return found

    def nearest(self, clip_id: str, tracks: list[int], frame_no: int, window: int) -> dict[int, TrackCorrection]:
        """Each track's correction in the nearest other frame of the clip within ``window`` frames."""
        order = nearest_frames(frame_no, window)
        keys = [_key(clip_id, track, n) for track in dict.fromkeys(tracks) for n in order]
        found: dict[tuple[int, int], TrackCorrection] = {}
        for start in range(0, len(keys), BATCH_GET):
            for item in self._get(keys[start : start + BATCH_GET]):
                correction = TrackCorrection(**json.loads(item["correction"]["S"]))
                found[correction.track, correction.frame_no] = correction
        return {
            track: next(found[track, n] for n in order if (track, n) in found)
            for track in tracks
            if any((track, n) in found for n in order)
        }

    def _get(self, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
        for attempt in range(UNPROCESSED_TRIES):
            response = self._dynamodb.batch_get_item(RequestItems=request)
            items += response["Responses"].get(self._table, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return items
            time.sleep(0.05 * 2**attempt)  # DynamoDB left some keys unread (throttled): back off, ask again
        return items  # the rest start from the model; a page view is no place to wait longer


def propagated(persons: list[dict[str, Any]], corrections: dict[int, TrackCorrection]) -> list[dict[str, Any]]:
    """``persons`` (the model's, as a task starts from them), each tracked one with a nearby correction
    replaced by that correction carried to this frame; ``from_frame`` says which frame it came from."""
    started: list[dict[str, Any]] = []
    for person in persons:
        correction = corrections.get(person["track"]) if person["track"] else None
        if correction is None or person["box"] is None:
            started.append(person)
            continue
        start = carried(correction, person["box"], person["points"])
        started.append({**person, **start, "from_frame": correction.frame_no})
    return started


def with_track_attributes(persons: list[dict[str, Any]], said: dict[int, dict[str, str]]) -> list[dict[str, Any]]:
    """Each tracked person without attributes of its own given what people said of its track
    (``attributes_from_track``: the page shows they were said before)."""
    return [
        {**person, "attributes": dict(said[person["track"]]), "attributes_from_track": True}
        if not person["attributes"] and person["track"] in said
        else person
        for person in persons
    ]
