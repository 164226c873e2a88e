"""YOLO pre- and post-processing in numpy: what Ultralytics does around the network, without torch.

The exported networks (``labelloop_trainer.training.export_onnx``) take a letterboxed RGB batch
``(B, 3, S, S)`` of uint8 pixels (scaling happens inside the graph) and return one tensor
``(B, 4 + 1 + K*3, anchors)``: box centre and size in input pixels, the class confidence, then
per keypoint x, y and a confidence that is already a sigmoid (``(B, 5, anchors)`` for the head
detector). Decoding = confidence filter, non-maximum
suppression, and mapping back through the letterbox to frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float32]
PixelArray = NDArray[np.uint8]
LETTERBOX_FILL = 114  # Ultralytics' grey, so the network sees the padding it was trained with


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the square input: scale, then padding on the left and top."""

    scale: float
    pad_x: float
    pad_y: float

    def to_frame(self, xy: FloatArray) -> FloatArray:
        """Input-pixel coordinates (…, 2) back to frame pixels."""
        return ((xy - np.array([self.pad_x, self.pad_y], np.float32)) / self.scale).astype(np.float32)


def letterbox(image: PixelArray, size: int) -> tuple[PixelArray, Letterbox]:
    """A BGR frame as the network's (3, size, size) RGB uint8 input, and how to undo the fit."""
    height, width = image.shape[:2]
    scale = min(size / width, size / height)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = (
        cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        if (new_w, new_h) != (width, height)
        else image
    )
    pad_x, pad_y = (size - new_w) / 2, (size - new_h) / 2
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas = cv2.copyMakeBorder(
        resized, top, size - new_h - top, left, size - new_w - left, cv2.BORDER_CONSTANT, value=(LETTERBOX_FILL,) * 3
    )
    pixels = np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1))
    return pixels, Letterbox(scale=scale, pad_x=float(left), pad_y=float(top))


def batch(images: list[PixelArray], size: int) -> tuple[PixelArray, list[Letterbox]]:
    """Letterbox every frame and stack them into one (B, 3, size, size) input."""
    tensors, boxes = zip(*(letterbox(image, size) for image in images), strict=True)
    return np.stack(tensors), list(boxes)


@dataclass(frozen=True)
class Detection:
    """One decoded detection in frame pixels: box (left, top, width, height), confidence, keypoints."""

    box: tuple[float, float, float, float]
    confidence: float
    keypoints: FloatArray  # (K, 3): x, y, confidence; (0, 3) for the head detector


def nms(boxes_xyxy: FloatArray, scores: FloatArray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores)
    x1, y1, x2, y2 = boxes_xyxy.T
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    kept: list[int] = []
    while order.size:
        best, rest = int(order[0]), order[1:]
        kept.append(best)
        width = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        height = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        overlap = width * height
        iou = overlap / np.maximum(areas[best] + areas[rest] - overlap, 1e-9)
        order = rest[iou <= iou_threshold]
    return kept


def decode(
    output: FloatArray,
    fit: Letterbox,
    frame_size: tuple[int, int],
    *,
    keypoints: int,
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int,
) -> list[Detection]:
    """One image's raw output ``(4 + 1 + keypoints*3, anchors)`` → detections in frame pixels."""
    expected = 5 + keypoints * 3
    if output.ndim != 2 or output.shape[0] != expected:
        raise ValueError(
            f"model output has shape {output.shape}; expected ({expected}, anchors) for {keypoints} keypoints"
        )
    scores = output[4]
    candidates = np.flatnonzero(scores > conf_threshold)
    if candidates.size == 0:
        return []
    rows = output[:, candidates].T  # (n, 5 + K*3)
    centre, size = rows[:, 0:2], rows[:, 2:4]
    corners = np.concatenate([fit.to_frame(centre - size / 2), fit.to_frame(centre + size / 2)], axis=1)
    width, height = frame_size
    corners[:, [0, 2]] = corners[:, [0, 2]].clip(0, width)
    corners[:, [1, 3]] = corners[:, [1, 3]].clip(0, height)
    detections = []
    for index in nms(corners, rows[:, 4], iou_threshold)[:max_detections]:
        x1, y1, x2, y2 = (float(v) for v in corners[index])
        points = rows[index, 5:].reshape(keypoints, 3).copy()
        if keypoints:
            points[:, :2] = fit.to_frame(points[:, :2])
        detections.append(Detection(box=(x1, y1, x2 - x1, y2 - y1), confidence=float(rows[index, 4]), keypoints=points))
    return detections
