"""The ``labelloop`` command line."""

from __future__ import annotations

from labelloop_tools.cli._app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
