"""Triton Python-backend model that runs its version's ``model.onnx`` with onnxruntime.

Copied as ``<repository>/<model>/<version>/model.py`` by :func:`labelloop.triton_repository.write_onnx_model`.
Locally the bundled Triton has only the Python backend; in production only ``backend:`` in
``config.pbtxt`` changes (to ``onnxruntime`` or ``tensorrt``) and this file is not used.
Inputs and outputs are matched by name, so one wrapper serves every model.
"""

import os
import sys

# The backend stub starts a bare interpreter: make the launcher's packages (onnxruntime, numpy)
# importable before anything else.
sys.path[:0] = [path for path in os.environ.get("LABELLOOP_TRITON_SITE", "").split(os.pathsep) if path]

import numpy  # noqa: E402
import onnxruntime  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = onnxruntime.SessionOptions()
        # Triton runs the models side by side: TritonServer shares the cores out between them.
        options.intra_op_num_threads = int(os.environ.get("LABELLOOP_TRITON_ORT_THREADS", "0"))
        options.inter_op_num_threads = 1
        # Idle intra-op threads spin by default; beside the local stack's other processes on a few
        # cores that spinning starves them and itself (measured: 2.3 s instead of 0.6 s a batch).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def execute(self, requests: list) -> list:  # type: ignore[type-arg]
        # Dynamic batching hands over several requests at once: run them as ONE onnxruntime batch
        # (that is where batching pays on a CPU) and split the outputs back per request.
        feeds = [
            {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}
            for request in requests
        ]
        sizes = [len(feed[self.inputs[0]]) for feed in feeds]
        try:
            merged = {name: numpy.concatenate([feed[name] for feed in feeds]) for name in self.inputs}
        except ValueError:  # shapes differ between requests (another image size): run them one by one
            return [self._respond(self.session.run(self.outputs, feed)) for feed in feeds]
        results = self.session.run(self.outputs, merged)
        responses, start = [], 0
        for size in sizes:
            responses.append(self._respond([result[start : start + size] for result in results]))
            start += size
        return responses

    def _respond(self, results: list) -> object:  # type: ignore[type-arg]
        tensors = [pb_utils.Tensor(name, value) for name, value in zip(self.outputs, results, strict=True)]
        return pb_utils.InferenceResponse(tensors)
