"""From one SQS message to handler calls: parse, look up the handler, guard with idempotency.

Handlers are plain functions ``handle_<event>(event, deps)`` registered in one explicit dict
per service, keyed by the event class (cosmicpython's message bus, without the magic).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

import structlog

from labelloop.envelope import parse_body
from labelloop.errors import PermanentError
from labelloop.events import Message
from labelloop.idempotency import Claim, IdempotencyStore
from labelloop.worker import Outcome, ReceivedMessage

Deps = TypeVar("Deps")
Handler = Callable[[Any, Deps], None]
"""``handle_<event>(event, deps)``; raise PermanentError for input that can never succeed."""


class Dispatcher(Generic[Deps]):
    """Runs the registered handler for each event of a message, at most once per event id."""

    def __init__(
        self,
        *,
        service: str,
        handlers: Mapping[type[Message], Handler[Deps]],
        deps: Deps,
        idempotency: IdempotencyStore | None,
    ) -> None:
        self._service = service
        self._handlers = dict(handlers)
        self._deps = deps
        self._idempotency = idempotency
        self._lock = threading.Lock()
        self._claims: dict[str, list[str]] = {}  # message id → idempotency keys it holds right now

    def __call__(self, message: ReceivedMessage) -> Outcome:
        events = parse_body(message.body)
        if not events:
            return Outcome.SKIPPED
        try:
            outcomes = [self._dispatch(message.message_id, event) for event in events]
        finally:
            with self._lock:
                self._claims.pop(message.message_id, None)
        return Outcome.HANDLED if Outcome.HANDLED in outcomes else Outcome.DUPLICATE

    def abandon(self, message: ReceivedMessage) -> None:
        """Release the claims of a message whose handler will not finish (the process is stopping)."""
        if self._idempotency is None:
            return
        with self._lock:
            keys = self._claims.pop(message.message_id, [])
        for key in keys:
            self._idempotency.release(key)

    def heartbeat(self, message: ReceivedMessage) -> None:
        """Renew the leases of a message whose handler is still running (the worker's heartbeat)."""
        if self._idempotency is None:
            return
        with self._lock:
            keys = list(self._claims.get(message.message_id, []))
        for key in keys:
            self._idempotency.renew(key)

    def _dispatch(self, message_id: str, event: Message) -> Outcome:
        structlog.contextvars.bind_contextvars(
            event_type=event.type, event_id=event.event_id, correlation_id=event.correlation_id
        )
        handler = self._handlers.get(type(event))
        if handler is None:
            raise PermanentError(f"{self._service} has no handler for {event.type}; is the subscription right?")
        if self._idempotency is None:
            handler(event, self._deps)
            return Outcome.HANDLED
        # Keyed by service too: two services consuming one event must each handle it once.
        key = f"{self._service}#{event.event_id}"
        if self._idempotency.claim(key) is Claim.ALREADY_COMPLETED:
            return Outcome.DUPLICATE
        with self._lock:
            self._claims.setdefault(message_id, []).append(key)
        try:
            handler(event, self._deps)
        except BaseException:
            self._idempotency.release(key)
            raise
        self._idempotency.complete(key)
        return Outcome.HANDLED
