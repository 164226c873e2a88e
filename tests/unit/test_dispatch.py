"""Dispatcher logic: handler lookup, skip, and the idempotency protocol (with an in-memory store)."""

from __future__ import annotations

from typing import Any

import pytest
from labelloop import Claim, Dispatcher, FramesExtracted, Outcome, PermanentError, ReceivedMessage
from labelloop.errors import AlreadyInProgressError

from tests.helpers import payload


class MemoryIdempotency:
    """Same protocol as IdempotencyStore, in a dict (the DynamoDB one is tested in integration)."""

    def __init__(self) -> None:
        self.records: dict[str, str] = {}

    def claim(self, key: str) -> Claim:
        status = self.records.get(key)
        if status == "COMPLETED":
            return Claim.ALREADY_COMPLETED
        if status == "INPROGRESS":
            raise AlreadyInProgressError(key)
        self.records[key] = "INPROGRESS"
        return Claim.NEW

    def complete(self, key: str) -> None:
        self.records[key] = "COMPLETED"

    def release(self, key: str) -> None:
        self.records.pop(key, None)


def message(body: str) -> ReceivedMessage:
    return ReceivedMessage(message_id="m1", receipt_handle="r1", body=body, receive_count=1)


def dispatcher(handler: Any, store: MemoryIdempotency | None, deps: list[Any] | None = None) -> Dispatcher[list[Any]]:
    return Dispatcher(
        service="inference",
        handlers={FramesExtracted: handler},
        deps=deps if deps is not None else [],
        idempotency=store,  # type: ignore[arg-type]
    )


def test_handler_receives_typed_event_and_deps() -> None:
    """The registered handler gets the parsed event and the service's deps."""
    seen: list[Any] = []
    run = dispatcher(lambda event, deps: deps.append(event), None, deps=seen)
    assert run(message(payload("raw_frames_extracted.json"))) is Outcome.HANDLED
    assert [type(e) for e in seen] == [FramesExtracted]


def test_second_delivery_is_acknowledged_without_running_the_handler() -> None:
    """With idempotency, the same event id runs the handler once; the repeat is a DUPLICATE."""
    calls: list[str] = []
    store = MemoryIdempotency()
    run = dispatcher(lambda event, deps: calls.append(event.event_id), store)
    body = payload("raw_frames_extracted.json")
    assert run(message(body)) is Outcome.HANDLED
    assert run(message(body)) is Outcome.DUPLICATE
    assert calls == ["5b0c2f0d6f7a4e55a1b0f4b2c86a3a01"]
    assert store.records == {"inference#5b0c2f0d6f7a4e55a1b0f4b2c86a3a01": "COMPLETED"}


def test_failed_handler_releases_its_claim_so_the_retry_runs() -> None:
    """A handler that raises leaves no record behind; the redelivery runs the handler again."""
    attempts: list[int] = []

    def flaky(event: FramesExtracted, deps: Any) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("triton down")

    store = MemoryIdempotency()
    run = dispatcher(flaky, store)
    body = payload("raw_frames_extracted.json")
    with pytest.raises(RuntimeError):
        run(message(body))
    assert store.records == {}
    assert run(message(body)) is Outcome.HANDLED
    assert len(attempts) == 2


def test_event_without_handler_is_permanent() -> None:
    """An event this service has no handler for is a PermanentError naming service and type."""
    with pytest.raises(PermanentError, match="inference has no handler for ModelPromoted"):
        dispatcher(lambda e, d: None, MemoryIdempotency())(message(payload("model_promoted.json")))


def test_s3_test_event_is_skipped() -> None:
    """A message with no events (s3:TestEvent) is SKIPPED and runs nothing."""
    assert dispatcher(lambda e, d: pytest.fail("ran"), MemoryIdempotency())(message(payload("s3_test_event.json"))) is (
        Outcome.SKIPPED
    )
