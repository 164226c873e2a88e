"""Which AWS endpoint and stack a CLI command talks to."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import boto3
from labelloop.aws import AwsClients
from labelloop.topology import StackNames

from labelloop_tools.local.stack import LOCAL_CREDENTIALS, LOCAL_REGION, StackState, local_clients

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "localstack", "host.docker.internal"}
"""Hosts where an endpoint is a local emulator (moto, LocalStack), which takes any credentials."""


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


def is_local_emulator(endpoint_url: str | None) -> bool:
    """An endpoint on this machine (or compose's ``localstack``): an emulator, not AWS."""
    if not endpoint_url:
        return False
    host = urllib.parse.urlsplit(endpoint_url).hostname or ""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def clients_for(endpoint_url: str | None) -> AwsClients:
    """Clients for ``endpoint_url``. A local emulator takes any credentials, so where boto3's chain
    finds none the emulator's dummies stand in; AWS itself gets the chain's, or a clear error later."""
    if is_local_emulator(endpoint_url) and boto3.session.Session().get_credentials() is None:
        return AwsClients(endpoint_url=endpoint_url, region=os.environ.get("AWS_DEFAULT_REGION") or LOCAL_REGION,
                          credentials=LOCAL_CREDENTIALS)  # fmt: skip
    return AwsClients(endpoint_url=endpoint_url)


def resolve_target(endpoint_url: str | None, stack: str | None, state_dir: Path | None) -> Target:
    """Explicit options win, then AWS_ENDPOINT_URL, then a running ``labelloop up``, then real AWS."""
    state = StackState.read(state_dir or default_state_dir())
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or (state.endpoint_url if state else None)
    local = state if state and endpoint == state.endpoint_url else None
    return Target(
        clients=local_clients(local.endpoint_url) if local else clients_for(endpoint),
        names=StackNames(stack or (local.stack if local else "labelloop")),
        endpoint_url=endpoint,
        local_state=local,
    )
