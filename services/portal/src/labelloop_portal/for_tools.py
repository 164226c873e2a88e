"""What the portal makes public for ``labelloop_tools`` (``labelloop up --labeling label-studio`` and
the local Label Studio it starts) and nothing else: tools import a service only through such a module,
so the service stays free to rearrange the rest."""

from __future__ import annotations

from labelloop_portal.label_studio_setup import enable_legacy_tokens
from labelloop_portal.web import WEBHOOK_PATH

__all__ = ["WEBHOOK_PATH", "enable_legacy_tokens"]
