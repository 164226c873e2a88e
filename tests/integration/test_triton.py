"""The real Triton server from the nvidia-pytriton wheel, serving ONNX through the Python backend."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import tritonclient.http as triton_http
from labelloop.triton_repository import TensorSpec, write_onnx_model
from labelloop_tools.local.triton import TritonServer
from onnx import TensorProto, helper

pytestmark = pytest.mark.integration
SPEC = {"inputs": [TensorSpec("x", "FP32", (4,))], "outputs": [TensorSpec("y", "FP32", (4,))]}


def scale_model(factor: float) -> bytes:
    """An ONNX graph y = factor * x over a dynamic batch of 4-vectors."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    weight = helper.make_tensor("factor", TensorProto.FLOAT, [1], [factor])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "factor"], ["y"])], "scale", [x], [y], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return bytes(model.SerializeToString())


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonServer]:
    """Triton on a repository holding `scale` version 1 (y = 2x), models loaded on request."""
    work = tmp_path_factory.mktemp("triton")
    write_onnx_model(work / "repo", "scale", scale_model(2.0), version=1, **SPEC)  # type: ignore[arg-type]
    with TritonServer(work / "repo", work / "workspace", explicit_model_control=True) as server:
        yield server


def infer(server: TritonServer, batch: np.ndarray, version: str = "") -> np.ndarray:
    client = triton_http.InferenceServerClient(server.http_url)
    tensor = triton_http.InferInput("x", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    return client.infer("scale", [tensor], model_version=version).as_numpy("y")  # type: ignore[no-any-return]


def test_model_metadata_describes_the_repository_model(triton: TritonServer) -> None:
    """Triton reports the model, its version and its batched tensor shapes from config.pbtxt."""
    metadata = triton_http.InferenceServerClient(triton.http_url).get_model_metadata("scale")
    assert metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 4]}]


def test_batched_inference_runs_the_onnx_graph(triton: TritonServer) -> None:
    """A batch of 8 goes through onnxruntime inside Triton and comes back transformed."""
    batch = np.arange(32, dtype=np.float32).reshape(8, 4)
    np.testing.assert_allclose(infer(triton, batch), 2.0 * batch)


def test_a_new_version_is_served_after_a_load_request(triton: TritonServer) -> None:
    """Writing version 2 and asking Triton to load the model serves both versions (the promotion path)."""
    write_onnx_model(triton.repository, "scale", scale_model(3.0), version=2, **SPEC)  # type: ignore[arg-type]
    client = triton_http.InferenceServerClient(triton.http_url)
    client.load_model("scale")
    assert client.get_model_metadata("scale")["versions"] == ["1", "2"]
    batch = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(infer(triton, batch, version="2"), 3.0 * batch)
    np.testing.assert_allclose(infer(triton, batch, version="1"), 2.0 * batch)
