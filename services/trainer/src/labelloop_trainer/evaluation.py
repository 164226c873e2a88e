"""Step 4 of a round, evaluation on the fixed holdout: Ultralytics' mAPs, plus the visibility accuracy of the whole
inference path (both pose models through the same decoding and rule that inference applies)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime
from labelloop import FrameRef
from labelloop.model_registry import METRICS
from labelloop.rig import Rig
from labelloop.synth import Camera, render, sample_scene
from labelloop.visibility import Thresholds, decode_frame, iou
from labelloop.yolo import batch

from labelloop_trainer.dataset import Holdout
from labelloop_trainer.finetune import ModelFiles
from labelloop_trainer.training import validate


def visibility_accuracy(
    pose_main: Path, pose_visible: Path, seeds: range, rig: Rig, *, imgsz: int, camera: Camera = "standard"
) -> float:
    """Share of the true persons' keypoints whose predicted visibility is right (persons matched by IoU)."""
    sessions = {
        name: onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for name, path in (("pose_main", pose_main), ("pose_visible", pose_visible))
    }
    right = total = 0
    scenes = [render(sample_scene(seed, camera=camera)) for seed in seeds]
    for start in range(0, len(scenes), 8):
        chunk = scenes[start : start + 8]
        tensor, fits = batch([scene.image for scene in chunk], imgsz)
        outputs = {name: session.run(None, {"images": tensor})[0] for name, session in sessions.items()}
        for index, scene in enumerate(chunk):
            height, width = scene.image.shape[:2]
            frame = FrameRef(
                uri="s3://holdout-frames/x.jpg", frame_no=index, timestamp_s=0.0, width=width, height=height
            )
            predicted = decode_frame(outputs, index, fits[index], frame, rig=rig,
                                     thresholds=Thresholds()).persons  # fmt: skip
            for truth in scene.persons:
                total += len(rig)
                overlap, match = max(
                    ((iou(truth.box, (p.box.left, p.box.top, p.box.width, p.box.height)), p) for p in predicted),
                    key=lambda pair: pair[0],
                    default=(0.0, None),
                )
                if match is None or overlap < 0.5:
                    continue
                right += sum(point.visibility == truth.keypoints[point.name][2] for point in match.keypoints)
    return right / total if total else 0.0


def evaluate(candidate: ModelFiles, holdout: Holdout, *, rig: Rig, workdir: Path, imgsz: int) -> dict[str, float]:
    """The holdout metrics of one model set."""
    pose = validate(candidate.weights["pose_main"], holdout.data["pose_main"], workdir, imgsz=imgsz)
    head = validate(candidate.weights["head"], holdout.data["head"], workdir, imgsz=imgsz)
    return {
        "person_map50": pose.get("box_map50", 0.0),
        "pose_map50": pose.get("pose_map50", 0.0),
        "head_map50": head.get("box_map50", 0.0),
        "visibility_accuracy": visibility_accuracy(
            candidate.onnx["pose_main"],
            candidate.onnx["pose_visible"],
            holdout.seeds,
            rig,
            imgsz=imgsz,
            camera=holdout.camera,
        ),
    }


def not_worse(candidate: dict[str, float], serving: dict[str, float], tolerance: float) -> bool:
    """The promotion guard: no metric trails the serving set's by more than ``tolerance``."""
    return all(candidate.get(m, 0.0) + tolerance >= serving.get(m, 0.0) for m in METRICS)
