"""ONNX models with outputs chosen by the test, for exercising inference through the real Triton.

A crafted model ignores the pixels and returns the same raw YOLO output for every image, so a
test controls exactly which boxes and keypoint confidences the service must decode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from labelloop.triton_repository import YOLO_INPUTS, YOLO_OUTPUTS, write_onnx_model
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

ANCHORS = 525  # what a 160x160 input gives (20² + 10² + 5²); the service does not depend on it


def constant_output_model(output: NDArray[np.float32]) -> bytes:
    """An ONNX graph mapping images (B, 3, H, W) to ``output`` (C, N) repeated B times."""
    images = helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", 3, "height", "width"])
    result = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", output.shape[0], output.shape[1]])
    nodes = [
        helper.make_node("Shape", ["images"], ["shape"], start=0, end=1),
        helper.make_node("Concat", ["shape", "tail"], ["target"], axis=0),
        helper.make_node("Expand", ["value", "target"], ["output0"]),
    ]
    initializers = [
        numpy_helper.from_array(output[None].astype(np.float32), "value"),
        numpy_helper.from_array(np.array(output.shape, np.int64), "tail"),
    ]
    graph = helper.make_graph(nodes, "crafted", [images], [result], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return bytes(model.SerializeToString())


def yolo_output(
    detections: Sequence[tuple[tuple[float, float, float, float], float, Sequence[tuple[float, float, float]]]],
    keypoints: int,
) -> NDArray[np.float32]:
    """A raw output (5 + 3K, ANCHORS) holding ``detections``: (cx, cy, w, h) in input pixels,
    confidence, and K (x, y, confidence) points; every other anchor is empty."""
    output = np.zeros((5 + 3 * keypoints, ANCHORS), np.float32)
    for anchor, (box, confidence, points) in enumerate(detections):
        output[0:4, anchor] = box
        output[4, anchor] = confidence
        output[5:, anchor] = np.asarray(points, np.float32).reshape(-1)
    return output


def write_crafted(repository: Path, name: str, output: NDArray[np.float32], version: int = 1) -> None:
    write_onnx_model(
        repository, name, constant_output_model(output), version=version, inputs=YOLO_INPUTS, outputs=YOLO_OUTPUTS
    )
