"""Errors that tell the worker runtime whether a message is worth retrying.

Modelled on Temporal's ``ApplicationError(non_retryable=True)``: the exception type, not the
call site, decides the message's fate. Anything that is not a :class:`PermanentError` is
treated as transient and the message is redelivered with backoff.
"""

from __future__ import annotations


class LabelloopError(Exception):
    """Base class of every error raised on purpose by Labelloop code."""


class PermanentError(LabelloopError):
    """Retrying cannot help: the message goes to the dead-letter queue with ``reason``.

    ``reason`` is a short, human-readable sentence that ends up as a message attribute on the
    dead letter and in the log line, so an operator can fix the cause and redrive.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedMessageError(PermanentError):
    """The message body is not a valid event envelope (bad JSON, missing fields, wrong shape)."""


class UnknownEventError(PermanentError):
    """The event's type or version is not one this build understands."""


class RetryableError(LabelloopError):
    """A transient failure worth naming (e.g. a dependency is down); redelivered with backoff."""


class AlreadyInProgressError(RetryableError):
    """Another worker holds the idempotency record for this event; try again later."""
