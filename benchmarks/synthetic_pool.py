"""A synthetic pool predicted by a model set in-process (the inference path: letterbox, YOLO
decoding, visibility rule), with each scene's truth: what the benchmarks judge strategies on."""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import onnxruntime
from labelloop import FramePredictions, FrameRef
from labelloop.model_set import ModelName
from labelloop.rig import IN_CABIN_17
from labelloop.synth import Camera, render, sample_scene, truth_predictions
from labelloop.synth.clips import clip_scenes
from labelloop.synth.scene import Rendered
from labelloop.visibility import Thresholds, decode_frame
from labelloop.yolo import batch
from labelloop_inference.tracks import ClipTracker


@dataclass(frozen=True)
class PoolFrame:
    seed: int
    predictions: FramePredictions
    truth: FramePredictions


def pool_camera(seed: int, new_camera: Camera, new_share: float) -> Camera:
    """The camera of one pool scene: the new one for a seeded ``new_share`` of them."""
    return new_camera if random.Random(seed).random() < new_share else "standard"  # noqa: S311 - benchmark data


def predict_pool(
    onnx: dict[ModelName, Path], seeds: list[int], imgsz: int, cameras: dict[int, Camera]
) -> list[PoolFrame]:
    sessions = _sessions(onnx)
    frames: list[PoolFrame] = []
    for start in range(0, len(seeds), 16):
        chunk = seeds[start : start + 16]
        rendered = [render(sample_scene(seed, camera=cameras[seed])) for seed in chunk]
        refs = [_frame_ref(f"s3://pool-frames/{seed}.jpg", index, 0.0, scene) for index, (seed, scene)
                in enumerate(zip(chunk, rendered, strict=True))]  # fmt: skip
        for seed, scene, ref, predictions in zip(chunk, rendered, refs, _predict(sessions, rendered, refs, imgsz),
                                                 strict=True):  # fmt: skip
            frames.append(PoolFrame(seed, predictions, truth_predictions(scene, ref)))
    return frames


CLIP_STRIDE = 1000
"""A clip frame's pool id: its clip's seed x this + its frame number."""


@functools.lru_cache(maxsize=64)
def rendered_clip(seed: int, frames_per_clip: int, camera: Camera) -> list[Rendered]:
    return [render(scene) for scene in clip_scenes(seed, frames_per_clip, camera=camera)]


def clip_frame(pool_id: int, frames_per_clip: int, camera: Camera) -> Rendered:
    """The rendered frame (with its truth) of a clip pool id."""
    return rendered_clip(pool_id // CLIP_STRIDE, frames_per_clip, camera)[pool_id % CLIP_STRIDE]


def predict_clips(
    onnx: dict[ModelName, Path], seeds: list[int], frames_per_clip: int, imgsz: int, cameras: Mapping[int, Camera]
) -> list[PoolFrame]:
    """Synthetic clips (people moving in their seats, ``labelloop.synth.clips``; ``cameras`` by clip seed)
    predicted frame by frame and tracked in order, 16-frame batches, as inference tracks a clip, so each
    person carries its track id and ``temporal_change``; with each frame's truth. Pool ids:
    :data:`CLIP_STRIDE`."""
    sessions = _sessions(onnx)
    frames: list[PoolFrame] = []
    for seed in seeds:
        rendered = rendered_clip(seed, frames_per_clip, cameras[seed])
        tracker = ClipTracker()
        for start in range(0, len(rendered), 16):
            chunk = rendered[start : start + 16]
            refs = [_frame_ref(f"s3://pool-frames/{seed}/{n:06d}.jpg", n, n / 2, scene)
                    for n, scene in enumerate(chunk, start=start)]  # fmt: skip
            predicted = _predict(sessions, chunk, refs, imgsz)
            persons = tracker.follow_frames([(p.persons, p.frame.timestamp_s) for p in predicted])
            for n, scene, ref, predictions, found in zip(range(start, start + len(chunk)), chunk, refs, predicted,
                                                         persons, strict=True):  # fmt: skip
                tracked = predictions.model_copy(update={"persons": found})
                frames.append(PoolFrame(seed * CLIP_STRIDE + n, tracked, truth_predictions(scene, ref)))
    return frames


def _sessions(onnx: dict[ModelName, Path]) -> dict[ModelName, onnxruntime.InferenceSession]:
    return {m: onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for m, path in onnx.items()}


def _frame_ref(uri: str, frame_no: int, timestamp_s: float, scene: Rendered) -> FrameRef:
    height, width = scene.image.shape[:2]
    return FrameRef(uri=uri, frame_no=frame_no, timestamp_s=timestamp_s, width=width, height=height)


def _predict(
    sessions: dict[ModelName, onnxruntime.InferenceSession], rendered: list[Rendered], refs: list[FrameRef], imgsz: int
) -> list[FramePredictions]:
    """One batch of rendered scenes through the models and the inference service's decoding."""
    tensor, fits = batch([scene.image for scene in rendered], imgsz)
    outputs = {str(m): s.run(None, {"images": tensor})[0] for m, s in sessions.items()}
    return [decode_frame(outputs, index, fits[index], ref, rig=IN_CABIN_17, thresholds=Thresholds())
            for index, ref in enumerate(refs)]  # fmt: skip
