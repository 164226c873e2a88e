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
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import numpy as np
import tritonclient.http.aio as triton_aio
from labelloop.errors import RetryableError
from labelloop.model_set import ModelSet
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


class SetSource(Protocol):
    """Where the serving model set is declared (the registry; a port so pure-logic tests pass a fake)."""

    def serving_set(self) -> tuple[int, ModelSet] | None: ...


@dataclass(frozen=True)
class ServedSet:
    version: int
    model_set: ModelSet

    def versions(self) -> dict[str, str]:
        return self.model_set.versions()


class ServingSet:
    """The model set to call: the one the registry names as serving, once Triton has loaded it.

    The registry is the one declaration of what serves (its rig, input size, and each slot's
    version), so a promotion or an import switches inference without a restart. Re-read every
    ``refresh_s`` (a ModelPromoted reaches one inference task; the others learn of it here) and
    at once when a promotion arrives.
    """

    def __init__(
        self,
        server: ModelServer,
        source: SetSource,
        *,
        refresh_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server = server
        self._source = source
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._served: ServedSet | None = None
        self._fetched_at = float("-inf")

    def current(self) -> ServedSet:
        with self._lock:
            if self._served is None or self._monotonic() - self._fetched_at >= self._refresh_s:
                self._refresh_locked()
            assert self._served is not None  # noqa: S101 - _refresh_locked sets it or raises
            return self._served

    def refresh(self) -> ServedSet:
        with self._lock:
            self._refresh_locked()
            assert self._served is not None  # noqa: S101 - as above
            return self._served

    def invalidate(self) -> None:
        """Re-read the set on the next call."""
        with self._lock:
            self._fetched_at = float("-inf")

    def _refresh_locked(self) -> None:
        declared = self._source.serving_set()
        if declared is None:
            raise TritonUnavailableError("no model set is installed yet (the registry names none serving)")
        version, model_set = declared
        for model, slot in model_set.models.items():
            if slot.version not in self._server.ready_versions(model):
                raise TritonUnavailableError(f"Triton has not loaded {model} v{slot.version} of set {version} yet")
        self._served = ServedSet(version, model_set)
        self._fetched_at = self._monotonic()
