"""Wiring of the portal: settings, logging, clients, the simulated annotator, the loop."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import uvicorn
from labelloop import ExitCode, StackNames, configure_logging, get_logger
from labelloop.aws import AwsClients
from labelloop.clock import clock_from_env
from pydantic import ValidationError

from labelloop_portal.annotator import SimulatedAnnotator
from labelloop_portal.portal import Portal
from labelloop_portal.settings import PortalSettings
from labelloop_portal.web import create_app

log = get_logger()


def build_portal(settings: PortalSettings, clients: AwsClients) -> Portal:
    annotator = None
    if settings.mode == "simulated":
        annotator = SimulatedAnnotator(
            clients.s3,
            delay_s=settings.sim_delay_s,
            error_rate=settings.sim_error_rate,
            abandon_rate=settings.sim_abandon_rate,
            seed=settings.sim_seed,
        )
    return Portal(clients, StackNames(settings.stack), clock_from_env(), annotator)


def serve_web(portal: Portal, host: str, port: int) -> uvicorn.Server:
    """The web page on a daemon thread beside the work loop."""
    server = uvicorn.Server(uvicorn.Config(create_app(portal), host=host, port=port, log_level="warning"))
    threading.Thread(target=server.run, name="portal-web", daemon=True).start()
    return server


def main() -> None:
    try:
        settings = PortalSettings()
    except ValidationError as error:
        configure_logging(service="portal")
        log.error("service.invalid_settings", errors=error.errors(include_url=False))
        raise SystemExit(ExitCode.CONFIG) from None
    configure_logging(service="portal", level=settings.log_level, log_format=settings.log_format)
    portal = build_portal(settings, AwsClients(endpoint_url=settings.aws_endpoint_url, region=settings.aws_region))
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if settings.http_port:
        serve_web(portal, settings.http_host, settings.http_port)
    log.info("portal.started", mode=settings.mode, url=f"http://{settings.http_host}:{settings.http_port}/")
    portal.run(stop, settings.tick_s)
    log.info("portal.stopped", **portal.counts)
    raise SystemExit(ExitCode.OK)
