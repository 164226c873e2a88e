"""First-run set-up of a Label Studio instance the portal will use, signed in as its admin.

A fresh ``label-studio==1.23.2`` refuses the legacy token its admin was created with
(``LABEL_STUDIO_USER_TOKEN``: "legacy token authentication has been disabled for this organization")
until an admin session allows legacy tokens (``POST /api/jwt/settings``). ``labelloop up --labeling
label-studio`` and the tests do it through :func:`enable_legacy_tokens`; docker compose runs this module
once (``python -m labelloop_portal.label_studio_setup``) with the same variables the Label Studio image
reads: ``LABEL_STUDIO_URL``, ``LABEL_STUDIO_USERNAME``, ``LABEL_STUDIO_PASSWORD``.

An instance people already use needs none of this: give the portal a personal access token from its
Account & Settings page (:class:`labelloop_portal.label_studio_api.LabelStudioClient` takes either kind).
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from labelloop import ExitCode, configure_logging, get_logger

log = get_logger()
READY_TIMEOUT_S = 300.0  # its first start migrates a database: ~40 s on 2 cores, more on a busy host


def admin_session(url: str, email: str, password: str) -> tuple[urllib.request.OpenerDirector, str]:
    """A session and its CSRF token, through the web login form as a browser does it (a wrong password
    shows only when the session is used: :class:`LoginRefusedError`)."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    opener.open(f"{url}/user/login/", timeout=30).read()

    def csrf() -> str:
        return next((cookie.value or "" for cookie in cookies if cookie.name == "csrftoken"), "")

    form = urllib.parse.urlencode({"email": email, "password": password, "csrfmiddlewaretoken": csrf()}).encode()
    headers = {"X-CSRFToken": csrf(), "Referer": f"{url}/user/login/"}
    opener.open(urllib.request.Request(f"{url}/user/login/", data=form, headers=headers), timeout=30).read()  # noqa: S310 (an operator's URL)
    return opener, csrf()


class LoginRefusedError(Exception):
    """Label Studio did not let this login do an admin's call (a wrong password, not an admin)."""


def _post_as_admin(url: str, email: str, password: str, path: str, body: object) -> Any:
    opener, csrf = admin_session(url, email, password)
    headers = {"X-CSRFToken": csrf, "Content-Type": "application/json", "Referer": url}
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers=headers)  # noqa: S310 (an operator's URL)
    try:
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):  # a failed login leaves an anonymous session, refused here
            raise LoginRefusedError(f"Label Studio at {url} refused {email}'s login ({error.code})") from None
        raise


def enable_legacy_tokens(url: str, email: str, password: str) -> None:
    """Let ``Authorization: Token <the admin's legacy token>`` in (a fresh instance refuses it)."""
    settings = {"api_tokens_enabled": True, "legacy_api_tokens_enabled": True}
    _post_as_admin(url, email, password, "/api/jwt/settings", settings)


def create_personal_access_token(url: str, email: str, password: str) -> str:
    """The user's personal access token, as the Account page's "Create" button makes it (one per user)."""
    return str(_post_as_admin(url, email, password, "/api/token/", {})["token"])


def wait_until_healthy(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5):  # noqa: S310 (an operator's URL)
                return
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Label Studio at {url} did not answer /health within {timeout_s:.0f} s") from None
            time.sleep(2)


def main() -> int:
    """Exit codes as the CLI's: 0 done, 78 missing variables or a refused login, 69 not reachable."""
    configure_logging(service="label-studio-setup")
    url = os.environ.get("LABEL_STUDIO_URL", "").rstrip("/")
    email, password = os.environ.get("LABEL_STUDIO_USERNAME", ""), os.environ.get("LABEL_STUDIO_PASSWORD", "")
    if not (url and email and password):
        log.error("label_studio_setup.invalid_settings", error="set LABEL_STUDIO_URL, _USERNAME and _PASSWORD")
        return ExitCode.CONFIG
    try:
        wait_until_healthy(url, READY_TIMEOUT_S)
        enable_legacy_tokens(url, email, password)
    except LoginRefusedError as error:
        log.error("label_studio_setup.login_refused", error=str(error))
        return ExitCode.CONFIG
    except (OSError, TimeoutError) as error:
        log.error("label_studio_setup.unreachable", url=url, error=str(error))
        return ExitCode.UNAVAILABLE
    log.info("label_studio_setup.done", url=url, user=email)
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
