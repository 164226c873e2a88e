"""The Triton adapter: async tritonclient behind a small thread-safe facade.

The worker runs handlers on threads; Triton's dynamic batcher works best when requests from all
of them arrive together. So one asyncio loop on a private thread owns one ``aio`` client, and
every handler thread submits coroutines to it: the three models of a batch, and the batches of
every message in flight, are all outstanding at once.

Anything that says "the server is not answering" becomes :class:`TritonUnavailableError`, a
retryable error; the handler retries with backoff while the worker's heartbeat keeps the
message invisible, so a Triton restart costs time, not messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar

import aiohttp
import numpy as np
import tritonclient.http.aio as triton_aio
from labelloop.errors import RetryableError
from labelloop.yolo import FloatArray, PixelArray
from tritonclient.utils import InferenceServerException

T = TypeVar("T")
INPUT_NAME = "images"  # the names Ultralytics gives the exported graph's tensors
OUTPUT_NAME = "output0"


class TritonUnavailableError(RetryableError):
    """Triton did not answer, or does not serve the model yet; worth retrying."""


class ModelServer(Protocol):
    """What the handlers need from a model server (a port; tests of pure logic pass a fake)."""

    def infer(self, batches: list[PixelArray], versions: Mapping[str, str]) -> list[dict[str, FloatArray]]: ...

    def ready_versions(self, model: str) -> list[int]: ...


class TritonModels:
    """Calls Triton over HTTP with ``tritonclient.http.aio`` from any thread."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="triton-client", daemon=True)
        self._thread.start()
        self._client: triton_aio.InferenceServerClient = self._run(self._connect())

    async def _connect(self) -> triton_aio.InferenceServerClient:
        # Created on the loop's thread: aiohttp sessions belong to the loop that made them.
        return triton_aio.InferenceServerClient(self._url, conn_timeout=self._timeout_s)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout=self._timeout_s + 5)
        except TimeoutError as error:
            future.cancel()
            raise TritonUnavailableError(
                f"Triton at {self._url} did not answer within {self._timeout_s:.0f} s"
            ) from error
        except (InferenceServerException, aiohttp.ClientError, OSError) as error:
            raise TritonUnavailableError(f"Triton at {self._url}: {error}") from error

    def infer(self, batches: list[PixelArray], versions: Mapping[str, str]) -> list[dict[str, FloatArray]]:
        """Run every model in ``versions`` (name → version) on every batch, all requests at once."""
        return self._run(self._infer_batches(batches, versions))

    async def _infer_batches(
        self, batches: list[PixelArray], versions: Mapping[str, str]
    ) -> list[dict[str, FloatArray]]:
        return list(await asyncio.gather(*(self._infer_all(batch, versions) for batch in batches)))

    async def _infer_all(self, batch: PixelArray, versions: Mapping[str, str]) -> dict[str, FloatArray]:
        names = list(versions)
        outputs = await asyncio.gather(*(self._infer_one(batch, name, versions[name]) for name in names))
        return dict(zip(names, outputs, strict=True))

    async def _infer_one(self, batch: PixelArray, model: str, version: str) -> FloatArray:
        tensor = triton_aio.InferInput(INPUT_NAME, list(batch.shape), "UINT8")
        tensor.set_data_from_numpy(batch, binary_data=True)
        wanted = triton_aio.InferRequestedOutput(OUTPUT_NAME, binary_data=True)
        result = await self._client.infer(
            model, [tensor], model_version=version, outputs=[wanted], timeout=int(self._timeout_s * 1e6)
        )
        output = result.as_numpy(OUTPUT_NAME)
        if output is None:
            raise TritonUnavailableError(f"{model} v{version} returned no {OUTPUT_NAME}")
        return np.asarray(output, dtype=np.float32)

    def ready_versions(self, model: str) -> list[int]:
        """The versions of ``model`` Triton has loaded, ascending."""
        metadata = self._run(self._client.get_model_metadata(model))
        return sorted(int(version) for version in metadata.get("versions", []))

    def close(self) -> None:
        with contextlib.suppress(TritonUnavailableError):  # closing a client of a dead server is fine
            self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


class ServingVersions:
    """Which version of each model to call: the newest one Triton has loaded.

    The trainer writes a version into the repository only when it is promoted, so "newest
    loaded" is "promoted"; a rollback removes the version and the previous one becomes newest.
    Refreshed every ``refresh_s`` (a ModelPromoted reaches one inference task; the others learn
    of it here) and at once when a promotion arrives.
    """

    def __init__(
        self,
        server: ModelServer,
        models: tuple[str, ...],
        *,
        refresh_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._models = models
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._versions: dict[str, str] = {}
        self._fetched_at = float("-inf")

    def current(self) -> dict[str, str]:
        with self._lock:
            if self._monotonic() - self._fetched_at >= self._refresh_s:
                self._refresh_locked()
            return dict(self._versions)

    def refresh(self) -> dict[str, str]:
        with self._lock:
            self._refresh_locked()
            return dict(self._versions)

    def invalidate(self) -> None:
        """Re-read the versions on the next call."""
        with self._lock:
            self._fetched_at = float("-inf")

    def _refresh_locked(self) -> None:
        versions = {}
        for model in self._models:
            ready = self._server.ready_versions(model)
            if not ready:
                raise TritonUnavailableError(f"Triton has no loaded version of {model}")
            versions[model] = str(ready[-1])
        self._versions = versions
        self._fetched_at = self._monotonic()
