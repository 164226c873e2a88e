"""structlog configuration: JSON lines off a TTY, readable lines on one.

Processor order follows structlog's performance guide: contextvars → level → exception info →
UTC timestamp → renderer. Context bound with :func:`structlog.contextvars.bind_contextvars`
(event_id, correlation_id) appears on every line logged while handling a message.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from labelloop.settings import LogFormat


def configure_logging(*, service: str, level: str = "INFO", log_format: LogFormat = "auto") -> None:
    """Configure structlog (and route stdlib logging through the same output) for one process."""
    json_lines = log_format == "json" or (log_format == "auto" and not sys.stdout.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_service(service),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if json_lines:
        # Without locals: they can hold credentials and whole payloads (megabytes per line).
        shared.append(structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)))
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        # WriteLogger emits line and newline in one write(): lines of concurrent processes
        # sharing a terminal or pipe (as under `labelloop up`) never interleave.
        logger_factory=structlog.WriteLoggerFactory(sys.stdout),
        # Not cached: structlog.testing.capture_logs must be able to swap processors in tests.
        cache_logger_on_first_use=False,
    )
    # Libraries (botocore, werkzeug) log through stdlib; keep them quiet unless they warn.
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(name)s: %(message)s")


def _add_service(service: str) -> Processor:
    # A processor rather than a bound contextvar: worker threads start with an empty context.
    def add_service(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def get_logger(**initial_values: Any) -> Any:
    """A structlog logger; module-level use is fine because nothing is cached at import."""
    return structlog.get_logger(**initial_values)
