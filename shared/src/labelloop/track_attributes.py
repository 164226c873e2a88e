"""Track attributes (the rig's ``track_attributes``: seat, child seat, glasses) carried to every frame
of their track.

People say them once per person of a clip, in whichever frame of the track they label; the other
frames, labelled by people or auto-accepted, never show them. An export gives every person of a track
what people said of it: the answer of the track's latest labelled frame that says anything, a person's
own answer in a frame first.
"""

from __future__ import annotations

import copy
from typing import Any

TrackKey = tuple[str, int]  # (the clip's frame folder, its track id): track ids count from 1 in every clip


def _track_key(source_ref: str, track: Any) -> TrackKey | None:
    return (source_ref.rsplit("/", 1)[0], track) if isinstance(track, int) else None


def _persons(line: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in (line.get("keypoints-metadata") or {}).get("persons", []) if isinstance(p, dict)]


def said_of_tracks(lines: list[dict[str, Any]]) -> dict[TrackKey, dict[str, str]]:
    """What people said of each track, from the latest frame (by ``source-ref``) that says anything."""
    said: dict[TrackKey, dict[str, str]] = {}
    for line in sorted(lines, key=lambda line: str(line.get("source-ref"))):
        for person in _persons(line):
            key = _track_key(str(line.get("source-ref")), person.get("track-id"))
            if key is not None and person.get("attributes"):
                said[key] = dict(person["attributes"])
    return said


def carry_track_attributes(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``lines`` with every tracked person given its track's attributes where it has none of its own
    (new lines; the given ones are not changed)."""
    said = said_of_tracks(lines)
    if not said:
        return lines
    carried = []
    for line in lines:
        wanting = [
            (i, key) for i, person in enumerate(_persons(line))
            if not person.get("attributes") and (key := _track_key(line["source-ref"], person.get("track-id"))) in said
        ]  # fmt: skip
        if not wanting:
            carried.append(line)
            continue
        given = copy.deepcopy(line)
        persons = _persons(given)
        for i, key in wanting:
            persons[i]["attributes"] = dict(said[key])
        carried.append(given)
    return carried
