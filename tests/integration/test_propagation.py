"""People's corrections along tracks in the portal's real table (moto over HTTP): stored, overwritten
by a later answer of the same frame, found nearest first within the window, never across clips."""

from __future__ import annotations

import pytest
from labelloop import AwsClients
from labelloop.provision import ProvisionedStack
from labelloop_portal.propagation import CorrectionStore, TrackCorrection

pytestmark = pytest.mark.integration


def _correction(clip: str, track: int, frame_no: int, x: float = 10.0) -> TrackCorrection:
    return TrackCorrection(clip_id=clip, track=track, frame_no=frame_no, source_ref=f"s3://d/frames/{clip}/x.jpg",
                           model_box={"left": 0, "top": 0, "width": 10, "height": 10}, box=None,
                           points=[{"label": "nose", "x": x, "y": 1.0, "visibility": "visible"}])  # fmt: skip


def test_the_nearest_correction_of_each_track_within_the_window(aws: AwsClients, stack: ProvisionedStack) -> None:
    store = CorrectionStore(aws.dynamodb, stack.tables["portal"])
    store.record([_correction("walk", 7, 10), _correction("walk", 7, 13), _correction("walk", 7, 9),
                  _correction("walk", 8, 30), _correction("other", 9, 12)])  # fmt: skip
    store.record([_correction("walk", 7, 13, x=99.0)])  # the level-2 adjustment of frame 13 replaces its level 1
    found = store.nearest("walk", [7, 8, 9], 12, window=3)
    assert found[7].frame_no == 13  # 1 away; 10 is 2 away
    assert found[7].points[0]["x"] == 99.0
    assert 8 not in found  # 18 frames away
    assert 9 not in found  # track 9 belongs to another clip
    assert store.nearest("walk", [7], 11, window=3)[7].frame_no == 10  # 10 and 12 are 1 away: the earlier one
    assert store.nearest("walk", [7], 20, window=3) == {}
    item = aws.dynamodb.get_item(TableName=stack.tables["portal"], Key={"pk": {"S": "correction#walk#7#10"}})["Item"]
    assert int(item["expiry"]["N"]) > 0  # the table's TTL removes it in time


def test_many_tracks_and_a_wide_window_take_several_batch_reads(aws: AwsClients, stack: ProvisionedStack) -> None:
    store = CorrectionStore(aws.dynamodb, stack.tables["portal"])
    store.record([_correction("crowd", track, 100 - track) for track in range(1, 9)])
    found = store.nearest("crowd", list(range(1, 9)), 100, window=10)  # 8 tracks x 20 frames: 160 keys
    assert {track: c.frame_no for track, c in found.items()} == {track: 100 - track for track in range(1, 9)}
