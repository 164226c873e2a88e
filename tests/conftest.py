"""Fixtures: a real AWS emulator over HTTP, reset per test.

moto by default (the project's own launcher class); LocalStack with ``--aws-backend localstack``
(tests/emulators.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from labelloop import AwsClients, StackNames
from labelloop.provision import ProvisionedStack, provision
from labelloop_tools.local import MotoServer
from labelloop_tools.local.stack import LOCAL_AWS_ENV, local_clients

from tests.emulators import Emulator, LocalStack, localstack_container


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--aws-backend",
        choices=("moto", "localstack"),
        default=os.environ.get("LABELLOOP_TEST_AWS_BACKEND", "moto"),
        help="emulator behind the aws/stack/local_env fixtures; localstack uses LABELLOOP_TEST_LOCALSTACK_URL "
        "when set, else a testcontainers LocalStack (skipped without a Docker daemon)",
    )


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto_server process for the session, reached over HTTP like any AWS endpoint."""
    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The emulator behind ``aws``: the session's moto server, or LocalStack (``--aws-backend``)."""
    if request.config.getoption("--aws-backend") == "moto":
        yield request.getfixturevalue("moto_server")
    elif url := os.environ.get("LABELLOOP_TEST_LOCALSTACK_URL"):
        yield LocalStack(url)
    elif not _docker_daemon_answers():
        pytest.skip("--aws-backend localstack: no Docker daemon answers and LABELLOOP_TEST_LOCALSTACK_URL is unset")
    else:
        with localstack_container() as localstack:
            yield localstack


@pytest.fixture
def aws(emulator: Emulator) -> AwsClients:
    """Clients on a freshly reset emulator."""
    emulator.reset()
    return local_clients(emulator.url)


@pytest.fixture
def names() -> StackNames:
    return StackNames("test")


@pytest.fixture
def stack(aws: AwsClients, names: StackNames) -> ProvisionedStack:
    """The whole topology, provisioned on the reset emulator."""
    return provision(aws, names)


@pytest.fixture
def local_env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    """Environment for child processes (services, CLI) pointed at the emulator."""
    return {
        **os.environ,
        **LOCAL_AWS_ENV,
        "AWS_ENDPOINT_URL": emulator.url,
        "LABELLOOP_STATE_DIR": str(tmp_path / "state"),
    }


def _docker_daemon_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        probe = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, timeout=5, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `long` run first (on two workers, the minutes-long ones start at once rather than
    last); tests marked `docker` skip cleanly, once, when no Docker daemon answers (this machine has only
    the client)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: the rest keeps its order
    marked = [item for item in items if item.get_closest_marker("docker")]
    if marked and not _docker_daemon_answers():
        skip = pytest.mark.skip(reason="no Docker daemon answers")
        for item in marked:
            item.add_marker(skip)
