"""Who may open the portal: a local stack's page asks for the token `labelloop up` printed; the
health check the ECS load balancer calls needs none."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from labelloop import AwsClients, StackNames
from labelloop.clock import ManualClock
from labelloop.provision import ProvisionedStack
from labelloop_portal.entrypoint import serve_web
from labelloop_portal.portal import Portal
from labelloop_portal.settings import PortalSettings
from labelloop_portal.web import ACCESS_COOKIE
from labelloop_tools.local import free_port

from tests.helpers import eventually

pytestmark = pytest.mark.integration
TOKEN = "s3cret-Token_123"


@pytest.fixture
def portal_url(aws: AwsClients, stack: ProvisionedStack) -> Iterator[str]:
    port = free_port()
    server = serve_web(Portal(aws, StackNames("test"), ManualClock(), annotator=None), "127.0.0.1", port,
                       access_token=TOKEN)  # fmt: skip
    eventually(lambda: server.started, timeout_s=20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Status, body and the Set-Cookie header of a GET."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own local server
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode(), response.headers.get("set-cookie", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), ""


def test_the_page_needs_the_token_and_remembers_it(portal_url: str) -> None:
    status, body, _ = _get(portal_url + "/")
    assert status == 401
    assert "access token" in body
    assert _get(portal_url + "/?token=wrong")[0] == 401
    assert _get(portal_url + "/api/tasks/some-job/0")[0] == 401  # the API as well, not only the page
    status, body, cookie = _get(portal_url + f"/?token={TOKEN}")
    assert status == 200
    assert "open tasks" in body
    assert cookie.startswith(f"{ACCESS_COOKIE}={TOKEN}")
    assert "httponly" in cookie.lower()
    assert _get(portal_url + "/", {"Cookie": f"{ACCESS_COOKIE}={TOKEN}"})[0] == 200
    assert _get(portal_url + "/api/tasks/some-job/0", {"Authorization": f"Bearer {TOKEN}"})[0] == 404  # in, no task
    assert _get(portal_url + "/healthz")[:2] == (200, '{"status":"ok"}')


def test_people_label_unless_a_demo_says_otherwise() -> None:
    """The simulated annotator is never the default: a portal deployed with no mode waits for people."""
    assert PortalSettings().mode == "people"
