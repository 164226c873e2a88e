"""Which AWS endpoint and stack a CLI command talks to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labelloop.aws import AwsClients
from labelloop.local.stack import StackState, local_clients
from labelloop.topology import StackNames


def default_state_dir() -> Path:
    """Where ``labelloop up`` leaves its state; ``LABELLOOP_STATE_DIR`` overrides."""
    return Path(os.environ.get("LABELLOOP_STATE_DIR") or Path.home() / ".labelloop")


@dataclass(frozen=True)
class Target:
    clients: AwsClients
    names: StackNames
    endpoint_url: str | None
    local_state: StackState | None

    @property
    def description(self) -> str:
        return self.endpoint_url or "AWS (default endpoints)"


def resolve_target(endpoint_url: str | None, stack: str | None, state_dir: Path | None) -> Target:
    """Explicit options win, then AWS_ENDPOINT_URL, then a running ``labelloop up``, then real AWS."""
    state = StackState.read(state_dir or default_state_dir())
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or (state.endpoint_url if state else None)
    local = state if state and endpoint == state.endpoint_url else None
    return Target(
        clients=local_clients(local.endpoint_url) if local else AwsClients(endpoint_url=endpoint),
        names=StackNames(stack or (local.stack if local else "labelloop")),
        endpoint_url=endpoint,
        local_state=local,
    )
