"""What the portal's periodic tick and web page share: built once by the entrypoint."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop_portal.portal import Portal
from labelloop_portal.settings import PortalSettings


@dataclass(frozen=True)
class Deps:
    settings: PortalSettings
    portal: Portal
