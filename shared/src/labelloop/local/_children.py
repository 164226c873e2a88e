"""Child processes that do not outlive the launcher, even when it is SIGKILLed."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

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
