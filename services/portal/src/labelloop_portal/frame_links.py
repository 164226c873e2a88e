"""Signed links to a task's frame, served by the portal itself, for pages that are not the portal's own.

A Label Studio task shows its frame by URL, loaded by the labeller's browser. A presigned S3 URL is
the obvious choice and a poor one: signed with an ECS task role's credentials it dies with them
(hours, not the task's days); boto3 signs it with SigV2 in us-east-1 (seen against the emulator),
which AWS has been retiring; and behind docker compose it names ``localstack:4566``, which no browser
resolves. So the link points at the portal (``<base>/label-studio/frames/<job>/<object>?expires=…&sig=…``):
the portal reads the frame from S3 with its own credentials, and the HMAC lets exactly that task's
frame through, until the task expires, without the portal's sign-in (Label Studio's page cannot carry
it). Every portal replica derives the same key from the settings they share.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse

FRAMES_PATH = "/label-studio/frames"


def link_key(*secrets: str) -> bytes:
    """The HMAC key, from secrets every replica of the portal has (the Label Studio token, the
    webhook's secret): rotating either changes it, and the poll re-links the open tasks."""
    return hashlib.sha256("\0".join(("labelloop-frame-link", *secrets)).encode()).digest()


class FrameLinks:
    def __init__(self, base_url: str, key: bytes) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the portal's URL for frame links must be http:// or https://, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._key = key

    def _signature(self, job_name: str, object_id: int, expires: int) -> str:
        message = f"{job_name}\n{object_id}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def link(self, job_name: str, object_id: int, expires: int) -> str:
        """The URL of the task's frame, good until ``expires`` (the portal clock's seconds)."""
        query = urllib.parse.urlencode({"expires": expires, "sig": self._signature(job_name, object_id, expires)})
        return f"{self.base_url}{FRAMES_PATH}/{urllib.parse.quote(job_name, safe='')}/{object_id}?{query}"

    def valid(self, job_name: str, object_id: int, expires: int, signature: str, now: float) -> bool:
        """Whether a request carries this task's signature and its link has not lapsed."""
        expected = self._signature(job_name, object_id, expires)
        return hmac.compare_digest(expected.encode(), signature.encode()) and now <= expires
