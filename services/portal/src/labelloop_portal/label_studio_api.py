"""The few Label Studio REST calls the portal makes, over the standard library's HTTP client.

Measured against ``label-studio==1.23.2``. Either kind of token its Account page gives works: a *personal
access token* (a JWT refresh token, the default since 1.17) is exchanged at ``POST /api/token/refresh/``
for a short-lived access token sent as ``Authorization: Bearer``, exchanged again when that expires; a
*legacy token* goes as ``Authorization: Token`` (an organization must allow those; see
:mod:`labelloop_tools.local.label_studio`). Then: ``POST /api/projects``,
``PATCH /api/projects/{id}``, ``POST /api/projects/{id}/import?return_task_ids=true`` (tasks with
``predictions``), ``GET /api/tasks?project=…&fields=all`` (paged), ``GET|PATCH|DELETE /api/tasks/{id}``,
``POST /api/webhooks``. The SDK would add a dependency (and numpy ≥ 2 through it) for these eight calls.

Failures are sorted by what the caller should do: :class:`LabelStudioUnavailableError` (not reachable, a 5xx:
wait and retry), :class:`LabelStudioRefusedError` (401/403: a wrong or revoked token, an operator's fix),
:class:`LabelStudioNotFoundError` (404: deleted there).
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_S = 10.0  # the portal's tick (and a webhook) waits this long at most for one call
PAGE_SIZE = 100


class LabelStudioError(Exception):
    """A Label Studio call that failed, with what to tell an operator."""


class LabelStudioUnavailableError(LabelStudioError):
    """Label Studio did not answer, or answered with a server error."""


class LabelStudioRefusedError(LabelStudioError):
    """Label Studio refused the token (401/403) or the request (400)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class LabelStudioNotFoundError(LabelStudioError):
    """What was asked for is not there (deleted in Label Studio)."""


def is_personal_access_token(token: str) -> bool:
    """A JWT (three dot-separated parts), as Label Studio's personal access tokens are; a legacy token is hex."""
    return token.count(".") == 2


class LabelStudioClient:
    def __init__(self, url: str, token: str, *, timeout_s: float = TIMEOUT_S) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Label Studio's URL must be http:// or https://, not {url!r}")
        self.url = url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s
        self._access: str | None = None  # the access token a personal access token was exchanged for

    def _call(self, method: str, path: str, body: object = None) -> Any:
        if not is_personal_access_token(self._token):
            return self._send(method, path, body, f"Token {self._token}")
        if self._access is None:
            self._access = self._exchange()
        try:
            return self._send(method, path, body, f"Bearer {self._access}")
        except LabelStudioRefusedError as refused:
            if refused.status != 401:
                raise
        self._access = self._exchange()  # it expired (minutes): once more with a fresh one
        return self._send(method, path, body, f"Bearer {self._access}")

    def _exchange(self) -> str:
        return str(self._send("POST", "/api/token/refresh/", {"refresh": self._token}, None)["access"])

    def _send(self, method: str, path: str, body: object, authorization: str | None) -> Any:
        headers = {"Content-Type": "application/json"} | ({"Authorization": authorization} if authorization else {})
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked in __init__)
            self.url + path, method=method, data=None if body is None else json.dumps(body).encode(), headers=headers
        )
        where = f"Label Studio at {self.url} ({method} {path.split('?', 1)[0]})"
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310 (http(s) only, checked above)
                text = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:300].decode(errors="replace")
            if error.code in (401, 403):
                raise LabelStudioRefusedError(f"{where} refused the API token ({error.code}): {detail}",
                                              error.code) from None  # fmt: skip
            if error.code == 404:
                raise LabelStudioNotFoundError(f"{where}: not found") from None
            if error.code < 500:
                raise LabelStudioRefusedError(f"{where} refused the request ({error.code}): {detail}",
                                              error.code) from None  # fmt: skip
            raise LabelStudioUnavailableError(f"{where} failed ({error.code}): {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise LabelStudioUnavailableError(f"{where} is unreachable: {reason}") from None
        return json.loads(text) if text else None

    # -- projects -------------------------------------------------------------------------------

    def project(self, project_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"/api/projects/{project_id}"))

    def create_project(self, title: str, label_config: str, description: str = "") -> int:
        body = {"title": title, "label_config": label_config, "description": description}
        return int(self._call("POST", "/api/projects", body)["id"])

    def set_label_config(self, project_id: int, label_config: str) -> None:
        self._call("PATCH", f"/api/projects/{project_id}", {"label_config": label_config})

    def add_webhook(self, project_id: int, url: str, headers: dict[str, str], actions: list[str]) -> None:
        body = {"project": project_id, "url": url, "send_payload": True, "send_for_all_actions": False,
                "actions": actions, "headers": headers}  # fmt: skip
        self._call("POST", "/api/webhooks", body)

    # -- tasks ----------------------------------------------------------------------------------

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """The new tasks' ids, in the order given."""
        answer = self._call("POST", f"/api/projects/{project_id}/import?return_task_ids=true", tasks)
        return [int(task_id) for task_id in answer["task_ids"]]

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Every task of the project, with its data and annotations."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._call("GET", f"/api/tasks?project={project_id}&fields=all&page={page}&page_size={PAGE_SIZE}")
            found += answer["tasks"]
            if len(answer["tasks"]) < PAGE_SIZE or len(found) >= int(answer.get("total", 0)):
                return found
            page += 1

    def task(self, task_id: int) -> dict[str, Any] | None:
        """One task with its annotations; None: deleted."""
        try:
            return dict(self._call("GET", f"/api/tasks/{task_id}"))
        except LabelStudioNotFoundError:
            return None

    def set_task_data(self, task_id: int, data: dict[str, Any]) -> None:
        self._call("PATCH", f"/api/tasks/{task_id}", {"data": data})

    def delete_task(self, task_id: int) -> None:
        """Deleted, or gone already."""
        with contextlib.suppress(LabelStudioNotFoundError):
            self._call("DELETE", f"/api/tasks/{task_id}")
