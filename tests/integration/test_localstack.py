"""The pipeline's AWS paths on LocalStack (the docker-compose backend), where a Docker daemon answers.

Skipped cleanly without one (tests/conftest.py). A quick check that runs in every ``make test``
where Docker answers: the topology provisioning twice and the selector's flow end to end. The whole
integration suite runs on LocalStack with ``make test-localstack`` (``--aws-backend localstack``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from labelloop import AwsClients, EventPublisher, HumanReviewRequested, PredictionsReady, StackNames, build_worker
from labelloop.provision import provision
from labelloop_selector.entrypoint import SERVICE
from labelloop_selector.settings import SelectorSettings
from labelloop_tools.local.stack import local_clients

from tests.emulators import localstack_container
from tests.helpers import drain, eventually, worker_running
from tests.predictions import frame

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.fixture(scope="module")
def localstack() -> Iterator[AwsClients]:
    with localstack_container() as container:
        yield local_clients(container.url)


def test_provisioning_converges_and_the_selector_routes_frames_on_localstack(localstack: AwsClients) -> None:
    """Bootstrap twice (idempotent), then a doubtful frame reaches gt-bridge's queue through LocalStack."""
    names = StackNames("ls")
    provision(localstack, names)
    stack = provision(localstack, names)
    doubtful = frame(1, clip="clip-ls", head=0.3, points=[(0.62, 0.58)] * 5)
    event = PredictionsReady(correlation_id="clip-ls", clip_id="clip-ls", predictions=[doubtful],
                             model_versions={"pose_main": "1", "pose_visible": "1", "head": "1"})  # fmt: skip
    settings = SelectorSettings(stack="ls", poll_wait_s=1, control_fraction=0.0)
    with worker_running(build_worker(SERVICE, settings, localstack)) as worker:
        EventPublisher.for_stack(localstack, names).publish(event)
        eventually(lambda: worker.counts["handled"] >= 1, timeout_s=60)
    [requested] = drain(localstack, stack.queue_urls["gt-bridge"])
    assert isinstance(requested, HumanReviewRequested)
    assert requested.predictions.frame.frame_no == 1
