"""Wiring of the portal: its dependencies, its tick, its web page, on the lifecycle every service runs on.

The portal has no queue of its own (it reads each labeling job's queue on its tick), so
``run_service`` runs it without a worker: the tick is its periodic work, the web page starts beside
it, and SIGTERM stops both within the drain time like any other service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import uvicorn
from labelloop import AwsClients, Periodic, ServiceDefinition, StackNames, get_logger, run_service
from labelloop.clock import clock_from_env

from labelloop_portal.annotator import SimulatedAnnotator
from labelloop_portal.deps import Deps
from labelloop_portal.frame_links import FrameLinks, link_key
from labelloop_portal.label_studio import LabelStudioFront
from labelloop_portal.label_studio_api import LabelStudioClient
from labelloop_portal.portal import Portal
from labelloop_portal.settings import PortalSettings
from labelloop_portal.tasks import TaskStore
from labelloop_portal.web import create_app

log = get_logger()


def build_portal(settings: PortalSettings, clients: AwsClients, names: StackNames) -> Portal:
    annotator = None
    if settings.mode == "simulated":
        annotator = SimulatedAnnotator(
            clients.s3,
            delay_s=settings.sim_delay_s,
            error_rate=settings.sim_error_rate,
            abandon_rate=settings.sim_abandon_rate,
            seed=settings.sim_seed,
        )
    label_studio = None
    if settings.label_studio_url:
        token, secret = settings.label_studio_token.get_secret_value(), settings.label_studio_webhook_secret
        frames = FrameLinks(
            settings.label_studio_frames_url or f"http://127.0.0.1:{settings.http_port}",
            link_key(token, secret.get_secret_value()),
        )
        label_studio = LabelStudioFront(
            LabelStudioClient(settings.label_studio_url, token),
            frames,
            webhook_url=settings.label_studio_webhook_url,
            webhook_secret=secret.get_secret_value(),
            poll_s=settings.label_studio_poll_s,
        )
    return Portal(clients, names, clock_from_env(), annotator, label_studio=label_studio,
                  propagate_window=settings.propagate_window)  # fmt: skip


def build_deps(clients: AwsClients, settings: PortalSettings, names: StackNames) -> Deps:
    portal = build_portal(settings, clients, names)
    if adopted := TaskStore(clients.dynamodb, portal.table).adopt_legacy_tasks():
        log.info("portal.legacy_tasks_adopted", tasks=adopted)
    return Deps(settings=settings, portal=portal)


def periodic(deps: Deps) -> tuple[Periodic, ...]:
    """One pass over the jobs every ``tick_s``: intake, answers, expiries, outputs."""
    return (Periodic("portal-tick", deps.settings.tick_s, deps.portal.tick),)


def serve_web(
    portal: Portal, host: str, port: int, *, access_token: str = "", webhook_secret: str = ""
) -> uvicorn.Server:
    """The web page on a daemon thread beside the work loop."""
    app = create_app(portal, access_token=access_token, webhook_secret=webhook_secret)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    threading.Thread(target=server.run, name="portal-web", daemon=True).start()
    return server


def start(deps: Deps) -> Callable[[], None]:
    """The web page, when ``http_port`` asks for one; returns how to stop it."""
    settings = deps.settings
    server = (
        serve_web(
            deps.portal,
            settings.http_host,
            settings.http_port,
            access_token=settings.access_token.get_secret_value(),
            webhook_secret=settings.label_studio_webhook_secret.get_secret_value(),
        )
        if settings.http_port
        else None
    )
    log.info("portal.started", mode=settings.mode, url=f"http://{settings.http_host}:{settings.http_port}/")

    def stop() -> None:
        if server is not None:
            server.should_exit = True
        log.info("portal.stopped", **deps.portal.counts)

    return stop


SERVICE = ServiceDefinition(
    name="portal", settings=PortalSettings, build_deps=build_deps, handlers={}, periodic=periodic, start=start
)


def main() -> None:
    raise SystemExit(run_service(SERVICE))
