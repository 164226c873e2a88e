"""Scoring tracks against known identities, as MOT benchmarks count identity switches."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def id_switches(frames: Sequence[dict[Hashable, int | None]]) -> int:
    """How often a true identity's track id changed from the last id it had (CLEAR-MOT's IDSW):
    each frame maps the identities seen in it to the track id their detection got (None: no track)."""
    last: dict[Hashable, int] = {}
    switches = 0
    for seen in frames:
        for identity, track_id in seen.items():
            if track_id is None:
                continue
            if identity in last and last[identity] != track_id:
                switches += 1
            last[identity] = track_id
    return switches
