"""Process exit codes with a meaning, shared by services and the CLI (sysexits.h where one fits)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    """Bad command line or input files (typer uses 2 for usage errors too)."""
    CHECK_FAILED = 3
    """A `--check` found something wrong (e.g. dead letters waiting)."""
    UNAVAILABLE = 69
    """The AWS endpoint or a stack resource could not be reached (EX_UNAVAILABLE)."""
    CONFIG = 78
    """Settings are invalid or the stack is not provisioned (EX_CONFIG)."""
