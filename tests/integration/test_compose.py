"""docker-compose.yml validated by Docker Compose itself, where it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).parents[2]


def _compose() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return command
    return None


def test_compose_file_is_valid() -> None:
    """`docker compose config` accepts the file (needs only the compose CLI, no daemon)."""
    command = _compose()
    if command is None:
        pytest.skip("no docker compose CLI installed")
    result = subprocess.run([*command, "config", "--quiet"], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
