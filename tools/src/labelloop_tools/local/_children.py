"""Child processes that do not outlive the launcher, even when it is SIGKILLed."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

_PR_SET_PDEATHSIG = 1


def _terminate_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel sends SIGTERM when the parent dies, so
    # a killed `labelloop up` cannot leave services or the emulator running with nobody to stop them.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _preexec() -> Callable[[], None] | None:
    return _terminate_with_parent if sys.platform.startswith("linux") else None


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own session (a terminal's Ctrl-C reaches only the launcher, which stops
    children in order) and tied to the launcher's life."""
    return subprocess.Popen(args, start_new_session=True, preexec_fn=_preexec(), **kwargs)  # noqa: PLW1509 - see above


class ChildServer:
    """A server run as a child process: wait until it answers, stop it, use it as a context.

    Subclasses set ``name``, ``ready_url`` and ``start()`` (which spawns and calls ``_wait_ready``).
    """

    name = "server"
    poll_interval_s = 0.1
    stop_timeout_s = 10.0

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def ready_url(self) -> str:
        raise NotImplementedError

    def start(self, timeout_s: float = 30.0) -> Self:
        raise NotImplementedError

    def is_ready(self) -> bool:
        """Whether ``ready_url`` answers with a success status."""
        try:
            # S310: the URL is our own http://127.0.0.1:port, never user input.
            with urllib.request.urlopen(self.ready_url, timeout=1):  # noqa: S310
                return True
        except (urllib.error.URLError, OSError):
            return False

    def _wait_ready(self, timeout_s: float, hint: str) -> None:
        if self._process is None:
            raise RuntimeError(f"{self.name} was not started")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self._process.returncode} ({hint})")
            if self.is_ready():
                return
            time.sleep(self.poll_interval_s)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.ready_url} within {timeout_s:.0f} s ({hint})")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
