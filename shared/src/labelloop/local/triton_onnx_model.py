"""Triton Python-backend model that runs its version's ``model.onnx`` with onnxruntime.

Copied as ``<repository>/<model>/<version>/model.py`` by :func:`labelloop.local.triton.write_onnx_model`.
Locally the bundled Triton has only the Python backend; in production only ``backend:`` in
``config.pbtxt`` changes (to ``onnxruntime`` or ``tensorrt``) and this file is not used.
Inputs and outputs are matched by name, so one wrapper serves every model.
"""

import os
import sys

# The backend stub starts a bare interpreter: make the launcher's packages (onnxruntime, numpy)
# importable before anything else.
sys.path[:0] = [path for path in os.environ.get("LABELLOOP_TRITON_SITE", "").split(os.pathsep) if path]

import onnxruntime  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = onnxruntime.SessionOptions()
        # Triton already runs requests side by side; one thread per session avoids oversubscribing.
        options.intra_op_num_threads = int(os.environ.get("LABELLOOP_TRITON_ORT_THREADS", "0"))
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def execute(self, requests: list) -> list:  # type: ignore[type-arg]
        responses = []
        for request in requests:
            feed = {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}
            results = self.session.run(self.outputs, feed)
            tensors = [pb_utils.Tensor(name, value) for name, value in zip(self.outputs, results, strict=True)]
            responses.append(pb_utils.InferenceResponse(tensors))
        return responses
