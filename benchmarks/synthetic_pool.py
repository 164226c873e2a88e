"""A synthetic pool predicted by a model set in-process (the inference path: letterbox, YOLO
decoding, visibility rule), with each scene's truth: what the benchmarks judge strategies on."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import onnxruntime
from labelloop import FramePredictions, FrameRef
from labelloop.model_set import ModelName
from labelloop.rig import IN_CABIN_17
from labelloop.synth import Camera, render, sample_scene, truth_predictions
from labelloop.synth.clips import clip_scenes
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
    sessions = {
        m: onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for m, path in onnx.items()
    }
    frames: list[PoolFrame] = []
    for start in range(0, len(seeds), 16):
        chunk = seeds[start : start + 16]
        rendered = [render(sample_scene(seed, camera=cameras[seed])) for seed in chunk]
        tensor, fits = batch([r.image for r in rendered], imgsz)
        outputs = {str(m): s.run(None, {"images": tensor})[0] for m, s in sessions.items()}
        for index, seed in enumerate(chunk):
            height, width = rendered[index].image.shape[:2]
            frame = FrameRef(uri=f"s3://pool-frames/{seed}.jpg", frame_no=index, timestamp_s=0.0, width=width,
                             height=height)  # fmt: skip
            predictions = decode_frame(outputs, index, fits[index], frame, rig=IN_CABIN_17,
                                       thresholds=Thresholds())  # fmt: skip
            frames.append(PoolFrame(seed, predictions, truth_predictions(rendered[index], frame)))
    return frames


def predict_clips(
    onnx: dict[ModelName, Path], seeds: list[int], frames_per_clip: int, imgsz: int, camera: Camera
) -> list[PoolFrame]:
    """Synthetic clips (people moving in their seats, ``labelloop.synth.clips``) predicted frame by
    frame and tracked in order as inference tracks a clip, so each person carries its track id and
    ``temporal_change``; with each frame's truth."""
    sessions = {
        m: onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]) for m, path in onnx.items()
    }
    frames: list[PoolFrame] = []
    for seed in seeds:
        rendered = [render(scene) for scene in clip_scenes(seed, frames_per_clip, camera=camera)]
        tracker = ClipTracker()
        for start in range(0, len(rendered), 16):
            chunk = rendered[start : start + 16]
            tensor, fits = batch([r.image for r in chunk], imgsz)
            outputs = {str(m): s.run(None, {"images": tensor})[0] for m, s in sessions.items()}
            for index, scene in enumerate(chunk):
                height, width = scene.image.shape[:2]
                frame_no = start + index
                frame = FrameRef(uri=f"s3://pool-frames/{seed}/{frame_no:06d}.jpg", frame_no=frame_no,
                                 timestamp_s=frame_no / 2, width=width, height=height)  # fmt: skip
                predictions = decode_frame(outputs, index, fits[index], frame, rig=IN_CABIN_17,
                                           thresholds=Thresholds())  # fmt: skip
                predictions = predictions.model_copy(update={"persons": tracker.follow(predictions.persons)})
                frames.append(PoolFrame(seed * 1000 + frame_no, predictions, truth_predictions(scene, frame)))
    return frames
