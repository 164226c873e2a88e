"""Short synthetic in-cabin clips for ingest, with their hidden ground truth.

A clip moves every person smoothly from one sampled pose to another (same cabin, same light), so
consecutive frames look alike the way a real camera's do (which the selector's near-duplicate
suppression relies on). The truth of source frame ``n`` of an upload ``clips/x.mp4`` lives at
``s3://<data>/truth/clips/clips/x.mp4/<n:06d>.json``; ingest's frame numbers are source frame
indices, so the simulated annotator and the evaluator find it from any extracted frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np

from labelloop.events import FrameRef
from labelloop.s3_uri import s3_uri
from labelloop.synth.scene import Camera, Rendered, Scene, interpolate, render, sample_scene
from labelloop.synth.truth import truth_predictions
from labelloop.truth_layout import clip_truth_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def clip_scenes(
    seed: int, frames: int, *, width: int = 320, height: int = 240, camera: Camera = "standard"
) -> Iterator[Scene]:
    """``frames`` scenes moving from ``seed``'s people to another pose of each, in one cabin."""
    start = sample_scene(seed, width=width, height=height, camera=camera)
    # A second draw supplies the end poses (arms, head turn, feet); seat, size and place stay.
    goal = sample_scene(seed + 7_919, width=width, height=height, camera=camera)
    for index in range(frames):
        t = index / max(1, frames - 1)
        persons = tuple(
            interpolate(a, replace(b, cx=a.cx, shoulder_y=a.shoulder_y, scale=a.scale, leg_length=a.leg_length), t)
            for a, b in zip(start.persons, (goal.persons * len(start.persons))[: len(start.persons)], strict=True)
        )
        yield replace(start, persons=persons)


def write_clip(
    path: Path,
    seed: int,
    *,
    seconds: float,
    fps: int = 10,
    width: int = 320,
    height: int = 240,
    camera: Camera = "standard",
) -> list[Rendered]:
    """Encode the clip as H.264 MP4 at ``path``; returns every frame's rendering (with its truth)."""
    scenes = clip_scenes(seed, max(1, round(seconds * fps)), width=width, height=height, camera=camera)
    rendered = [render(scene) for scene in scenes]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "g": str(fps)}
        for frame in rendered:
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.image), format="bgr24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return rendered


def store_truth(s3: S3Client, bucket: str, upload_key: str, frames: list[Rendered], fps: float) -> None:
    """Write each source frame's truth where only the simulated annotator and the evaluator look."""
    for frame_no, rendered in enumerate(frames):
        height, width = rendered.image.shape[:2]
        ref = FrameRef(uri=s3_uri(bucket, upload_key), frame_no=frame_no, timestamp_s=frame_no / fps,
                       width=width, height=height)  # fmt: skip
        body = truth_predictions(rendered, ref).model_dump_json().encode()
        s3.put_object(Bucket=bucket, Key=clip_truth_key(upload_key, frame_no), Body=body)
