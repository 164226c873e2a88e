"""``labelloop models``: the model registry at a glance."""

from __future__ import annotations

from labelloop.model_registry import Registry, VersionRecord

from labelloop_tools.cli._target import Target


def model_versions(target: Target) -> tuple[list[VersionRecord], int | None]:
    registry = Registry(target.clients.dynamodb, target.names.physical("models"))
    return registry.versions(), registry.serving()
