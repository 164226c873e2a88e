"""One-off steps run from a service image (docker compose's ``provision`` and ``models-init``, an
ECS one-off task), where the ``labelloop`` command is not installed: settings from the environment,
JSON logs, and the CLI's exit codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from labelloop.aws import AwsClients
from labelloop.exit_codes import ExitCode
from labelloop.logs import configure_logging, get_logger
from labelloop.settings import ServiceSettings

log = get_logger()
S = TypeVar("S", bound=ServiceSettings)


class OneOffConfigError(Exception):
    """What the step was pointed at cannot be used (exit 78), with the reason."""


def run_one_off(name: str, settings_class: type[S], step: Callable[[S, AwsClients], None]) -> int:
    """Read ``settings_class`` from the environment and run ``step``: 0 done, 78 bad settings or
    configuration, 69 endpoint unreachable, 1 refused by AWS."""
    event = name.replace("-", "_")
    try:
        settings = settings_class()
    except ValidationError as error:
        configure_logging(service=name)
        log.error(f"{event}.invalid_settings", errors=error.errors(include_url=False))
        return ExitCode.CONFIG
    configure_logging(service=name, level=settings.log_level, log_format=settings.log_format)
    try:
        step(settings, AwsClients(endpoint_url=settings.aws_endpoint_url, region=settings.aws_region))
    except OneOffConfigError as error:
        log.error(f"{event}.misconfigured", error=str(error))
        return ExitCode.CONFIG
    except BotoCoreError as error:
        log.error(f"{event}.endpoint_unreachable", error=str(error))
        return ExitCode.UNAVAILABLE
    except ClientError as error:
        log.error(f"{event}.failed", error=str(error))
        return ExitCode.FAILURE
    return ExitCode.OK
