"""The SQS worker runtime every service runs on.

What it guarantees (ARCHITECTURE.md, HOUSE_STYLE.md §3 and §6):

* long polling, at most ``concurrency`` messages in flight;
* a message is deleted only after its handler succeeded (deletes go out in batches of ten);
* in-flight messages get their visibility extended (heartbeat), so long handlers are not
  redelivered to another worker half-way;
* a :class:`~labelloop.errors.PermanentError` sends the message to the queue's DLQ at once, with
  the reason as a message attribute and in the log; any other exception is retried with
  exponential backoff, and on the queue's last allowed receive it is dead-lettered the same way
  (the queue's own redrive policy stays as the backstop for crashes);
* :meth:`Worker.stop` (SIGTERM/SIGINT) stops polling, lets in-flight handlers finish within
  ``drain_timeout_s``, and makes the messages it could not finish visible again at once;
* a service's :class:`Periodic` tasks (gt-bridge's resend sweep, the trainer's scheduler) run
  on their own threads for exactly as long as the worker does; a failed run is logged, not fatal.

The visibility timeout, DLQ and ``maxReceiveCount`` are read from the queue itself, so the
topology declaration stays the single source of those numbers.
"""

from __future__ import annotations

import json
import queue as queue_module
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from labelloop.errors import AlreadyInProgressError, PermanentError
from labelloop.healthcheck import Liveness
from labelloop.logs import get_logger
from labelloop.retry import RetryPolicy

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = get_logger()

SQS_BATCH_LIMIT = 10
SQS_ATTRIBUTE_LIMIT = 10
DEAD_LETTER_REASON = "labelloop.dead_letter_reason"
"""Message attribute that carries the reason on every dead letter Labelloop writes."""


class Outcome(StrEnum):
    """What happened to one message; the ``outcome`` field of the canonical log line."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    RETRY = "retry"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class ReceivedMessage:
    """An SQS message as the runtime hands it to a message handler."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    attributes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_sqs(cls, raw: Any) -> ReceivedMessage:
        return cls(
            message_id=raw["MessageId"],
            receipt_handle=raw["ReceiptHandle"],
            body=raw["Body"],
            receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", "1")),
            attributes=raw.get("MessageAttributes", {}),
        )


class MessageHandler(Protocol):
    """Handles one message and says how (implemented by :class:`labelloop.dispatch.Dispatcher`)."""

    def __call__(self, message: ReceivedMessage) -> Outcome: ...

    def abandon(self, message: ReceivedMessage) -> None:
        """The worker gives up on a running message (drain timeout): undo claims so a retry can run."""

    def heartbeat(self, message: ReceivedMessage) -> None:
        """The message's handler is still running: keep its claims alive (called with each visibility extension)."""


MESSAGE_RETRY = RetryPolicy(initial_s=2.0, multiplier=2.0, max_s=300.0)
"""A failed message comes back after 2, 4, 8... seconds (by its receive count), at most 5 minutes."""
RECEIVE_RETRY = RetryPolicy(initial_s=1.0, multiplier=2.0, max_s=30.0, jitter=0.2)
"""Polling after a failed receive (the endpoint is down): 1, 2, 4... seconds, at most 30, spread out."""


@dataclass
class _InFlight:
    message: ReceivedMessage
    visible_until: float
    receipt_handle: str
    """Of the message's latest receive: SQS deletes and hides a message received again only by its newest."""


@dataclass(frozen=True)
class Periodic:
    """Work a service does on a timer rather than per message: ``run()`` every ``every_s`` seconds."""

    name: str
    every_s: float
    run: Callable[[], object]

    def loop(self, stop: threading.Event, liveness: Liveness | None = None) -> None:
        while not stop.wait(self.every_s):
            try:
                self.run()
            except Exception as error:  # the next run retries: a bad minute of AWS must not end the task
                log.exception("worker.periodic_failed", task=self.name, error=str(error))
            if liveness is not None:
                liveness.beat()


class Lifecycle:
    """What every service process runs on, queue or not: its :class:`Periodic` tasks on their own
    threads, SIGTERM/SIGINT handling, the liveness beat, and a stop that gives running work
    ``drain_timeout_s`` to finish. A service without a queue of its own (the portal, which reads
    its jobs' queues on a timer) runs on this alone; :class:`Worker` adds one queue's consumption.
    """

    def __init__(self, *, drain_timeout_s: float = 25.0, periodic: tuple[Periodic, ...] = ()) -> None:
        self._periodic = periodic
        self._drain_timeout_s = drain_timeout_s
        self._liveness = Liveness()
        self._stopping = threading.Event()
        self._stop_requested_at = 0.0

    def run(self) -> None:
        """Run until stopped, then stop the periodic tasks within the drain time. Blocks the calling thread."""
        timers = [threading.Thread(target=p.loop, args=(self._stopping, self._liveness), name=p.name, daemon=True)
                  for p in self._periodic]  # fmt: skip
        for timer in timers:
            timer.start()
        try:
            self._serve()
        finally:
            self.stop()  # however serving ended, the periodic tasks end with it
            self._drain()
            for timer in timers:  # a run in progress gets what is left of the drain time
                timer.join(timeout=max(0.1, self._stop_requested_at + self._drain_timeout_s - time.monotonic()))
            self._stopped()

    def _serve(self) -> None:
        """The work between start and stop; without a queue, the periodic tasks are all of it."""
        log.info("worker.started", periodic=[p.name for p in self._periodic])
        self._liveness.beat()
        self._stopping.wait()

    def _drain(self) -> None:
        """Let in-flight work finish after a stop request (nothing to do without a queue)."""

    def _stopped(self) -> None:
        log.info("worker.stopped")

    def stop(self) -> None:
        """Ask the service to stop; safe from signal handlers and other threads."""
        if not self._stopping.is_set():
            self._stop_requested_at = time.monotonic()
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def install_signal_handlers(self) -> None:
        """Stop gracefully on SIGTERM (ECS, `labelloop up`) and SIGINT (Ctrl-C)."""

        def on_signal(signum: int, _: FrameType | None) -> None:
            log.info("worker.stop_requested", signal=signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)


class Worker(Lifecycle):
    """Consumes one SQS queue with bounded concurrency until :meth:`stop` is called."""

    def __init__(
        self,
        *,
        sqs: SQSClient,
        queue_url: str,
        handle: MessageHandler,
        concurrency: int = 4,
        poll_wait_s: int = 10,
        drain_timeout_s: float = 25.0,
        retry: RetryPolicy = MESSAGE_RETRY,
        periodic: tuple[Periodic, ...] = (),
    ) -> None:
        super().__init__(drain_timeout_s=drain_timeout_s, periodic=periodic)
        self._sqs = sqs
        self._queue_url = queue_url
        self._handle = handle
        self._concurrency = concurrency
        self._poll_wait_s = poll_wait_s
        self._retry = retry
        # Separate from _stopping: in-flight handlers still need heartbeats while draining.
        self._heartbeat_stopped = threading.Event()
        self._lock = threading.Condition()
        self._in_flight: dict[str, _InFlight] = {}
        self._acks: queue_module.Queue[ReceivedMessage | None] = queue_module.Queue()
        self._visibility_timeout_s = 30
        self._max_receive_count: int | None = None
        self._dlq_url = ""
        self.counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self._acker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def _serve(self) -> None:
        """Poll and handle messages until stopped (the acker and the heartbeat on their own threads)."""
        self._read_queue_settings()
        self._acker = threading.Thread(target=self._ack_loop, name="sqs-acker", daemon=True)
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="sqs-heartbeat", daemon=True)
        self._acker.start()
        heartbeat.start()
        log.info(
            "worker.started",
            queue_url=self._queue_url,
            concurrency=self._concurrency,
            visibility_timeout_s=self._visibility_timeout_s,
            max_receive_count=self._max_receive_count,
            periodic=[p.name for p in self._periodic],
        )
        self._poll_loop()

    def _stopped(self) -> None:
        self._heartbeat_stopped.set()
        self._acks.put(None)
        if self._acker is not None:
            self._acker.join(timeout=10)
        log.info("worker.stopped", **{f"messages_{k}": v for k, v in self.counts.items()})

    # -- polling ---------------------------------------------------------------------------------

    def _read_queue_settings(self) -> None:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
        self._visibility_timeout_s = int(attributes.get("VisibilityTimeout", "30"))
        if "RedrivePolicy" not in attributes:
            # Without a DLQ a poison message either loops forever or is lost; neither is acceptable.
            raise PermanentError(f"queue {self._queue_url} has no redrive policy (DLQ); run `labelloop provision`")
        redrive = json.loads(attributes["RedrivePolicy"])
        self._max_receive_count = int(redrive["maxReceiveCount"])
        dlq_arn = str(redrive["deadLetterTargetArn"]).split(":")
        self._dlq_url = self._sqs.get_queue_url(QueueName=dlq_arn[5], QueueOwnerAWSAccountId=dlq_arn[4])["QueueUrl"]

    def _poll_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self._liveness.beat()
            free = self._free_slots()
            if free == 0:
                continue
            try:
                raw = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=min(SQS_BATCH_LIMIT, free),
                    WaitTimeSeconds=self._poll_wait_s,
                    AttributeNames=["ApproximateReceiveCount"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                failures = 0
            except (BotoCoreError, ClientError) as error:
                failures += 1
                pause = RECEIVE_RETRY.delay_s(failures)
                log.warning("worker.receive_failed", error=str(error), retry_in_s=pause)
                self._stopping.wait(pause)
                continue
            messages = [ReceivedMessage.from_sqs(m) for m in raw]
            if self._stopping.is_set():
                # Received after the stop request: give them straight back rather than start work.
                self._make_visible([m.receipt_handle for m in messages])
                break
            for message in messages:
                if not self._received_again(message):
                    self._start(message)

    def _received_again(self, message: ReceivedMessage) -> bool:
        """A message this worker is still handling, received again because its visibility lapsed (the
        process was starved of CPU past a heartbeat): its running handler goes on, and deletes it
        with the new receipt handle, instead of a second handler running it at the same time."""
        with self._lock:
            entry = next((f for f in self._in_flight.values() if f.message.message_id == message.message_id), None)
            if entry is None:
                return False
            entry.receipt_handle = message.receipt_handle
            entry.visible_until = time.monotonic() + self._visibility_timeout_s
        log.warning("worker.received_while_running", message_id=message.message_id, receive_count=message.receive_count)
        return True

    def _free_slots(self) -> int:
        with self._lock:
            free = self._concurrency - len(self._in_flight)
            if free == 0:
                self._lock.wait(timeout=0.5)
            return free

    def _start(self, message: ReceivedMessage) -> None:
        with self._lock:
            visible_until = time.monotonic() + self._visibility_timeout_s
            self._in_flight[message.receipt_handle] = _InFlight(message, visible_until, message.receipt_handle)
        threading.Thread(target=self._process, args=(message,), name=f"msg-{message.message_id}", daemon=True).start()

    # -- one message -----------------------------------------------------------------------------

    def _process(self, message: ReceivedMessage) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(message_id=message.message_id, receive_count=message.receive_count)
        started = time.perf_counter()
        reason: str | None = None
        error: BaseException | None = None
        try:
            outcome = self._handle(message)
            self._acks.put(self._latest(message))
        except PermanentError as permanent:
            reason = permanent.reason
            outcome = self._dead_letter(self._latest(message), reason, type(permanent).__name__)
        except AlreadyInProgressError as busy:
            # Another worker is handling this very event: nothing is wrong with the message, so it
            # must not use up its receives and end in the DLQ; past the limit it goes back as a
            # fresh, delayed copy.
            reason = str(busy)
            outcome = self._requeue(self._latest(message))
        except Exception as transient:  # noqa: BLE001 - any other failure is, by definition, worth a retry
            error = transient
            reason = f"{type(transient).__name__}: {transient}"
            if self._max_receive_count is not None and message.receive_count >= self._max_receive_count:
                reason = f"{reason} (gave up after {message.receive_count} attempts)"
                outcome = self._dead_letter(self._latest(message), reason, type(transient).__name__)
            else:
                outcome = self._retry_later(self._latest(message))
        finally:
            with self._lock:
                self._in_flight.pop(message.receipt_handle, None)
                self._lock.notify_all()
        with self._lock:
            self.counts[outcome] += 1
        fields: dict[str, Any] = {
            "outcome": outcome.value,
            "duration_ms": round((time.perf_counter() - started) * 1e3, 2),
        }
        if reason is not None:
            fields["reason"] = reason
        if outcome is Outcome.DEAD_LETTERED:
            log.error("message.handled", **fields)
        elif outcome is Outcome.RETRY:
            log.warning("message.handled", attempt=message.receive_count, exc_info=error, **fields)
        else:
            log.info("message.handled", **fields)
        structlog.contextvars.clear_contextvars()

    def _latest(self, message: ReceivedMessage) -> ReceivedMessage:
        """``message`` with the receipt handle of its latest receive (see :meth:`_received_again`)."""
        with self._lock:
            entry = self._in_flight.get(message.receipt_handle)
        if entry is None or entry.receipt_handle == message.receipt_handle:
            return message
        return replace(message, receipt_handle=entry.receipt_handle)

    def _delay_s(self, message: ReceivedMessage) -> int:
        return round(self._retry.delay_s(message.receive_count))

    def _retry_later(self, message: ReceivedMessage) -> Outcome:
        delay = min(self._delay_s(message), 43200)  # SQS's longest visibility timeout
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=delay
            )
        except (BotoCoreError, ClientError) as error:
            # Not fatal: the message comes back when its current visibility timeout ends.
            log.warning("worker.backoff_failed", error=str(error))
        return Outcome.RETRY

    def _requeue(self, message: ReceivedMessage) -> Outcome:
        if self._max_receive_count is None or message.receive_count < self._max_receive_count:
            return self._retry_later(message)
        try:
            self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=message.body,
                MessageAttributes=_string_attributes(message.attributes, limit=SQS_ATTRIBUTE_LIMIT),
                DelaySeconds=min(900, self._delay_s(message)),  # SQS's longest message delay
            )
        except (BotoCoreError, ClientError) as error:
            log.warning("worker.requeue_failed", error=str(error))
            return self._retry_later(message)
        self._acks.put(message)
        return Outcome.RETRY

    def _dead_letter(self, message: ReceivedMessage, reason: str, error_type: str) -> Outcome:
        """Copy the message to the DLQ with the reason, then delete it from the source queue."""
        ours = dead_letter_attributes(reason, self._queue_url, error_type=error_type,
                                      source_message_id=message.message_id,
                                      receive_count=str(message.receive_count))  # fmt: skip
        attributes: Any = {**_string_attributes(message.attributes, limit=SQS_ATTRIBUTE_LIMIT - len(ours)), **ours}
        try:
            self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=message.body, MessageAttributes=attributes)
        except (BotoCoreError, ClientError) as error:
            # Keep the message where it is; it will be retried and dead-lettered later.
            log.error("worker.dead_letter_failed", error=str(error), reason=reason)
            return Outcome.RETRY
        self._acks.put(message)
        return Outcome.DEAD_LETTERED

    # -- background: deletes and heartbeats --------------------------------------------------------

    def _ack_loop(self) -> None:
        done = False
        while not done:
            first = self._acks.get()
            if first is None:
                break
            batch = [first]
            # A short linger fills batches under load without delaying a lone message noticeably.
            deadline = time.monotonic() + 0.05
            while len(batch) < SQS_BATCH_LIMIT:
                try:
                    item = self._acks.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue_module.Empty:
                    break
                if item is None:
                    done = True
                    break
                batch.append(item)
            self._delete(batch)

    def _delete(self, batch: list[ReceivedMessage]) -> None:
        try:
            response = self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(batch)],
            )
        except (BotoCoreError, ClientError) as error:
            # The messages come back later; idempotency acknowledges them without re-running work.
            log.warning("worker.delete_failed", error=str(error), count=len(batch))
            return
        for failure in response.get("Failed", []):
            log.warning("worker.delete_failed", error=failure.get("Message", failure["Code"]), count=1)

    def _heartbeat_loop(self) -> None:
        interval = max(1.0, self._visibility_timeout_s / 3)
        while not self._heartbeat_stopped.wait(interval / 2):
            now = time.monotonic()
            with self._lock:
                due = [f for f in self._in_flight.values() if f.visible_until - now < interval * 1.5]
                for entry in due:
                    entry.visible_until = now + self._visibility_timeout_s
            for start in range(0, len(due), SQS_BATCH_LIMIT):
                chunk = due[start : start + SQS_BATCH_LIMIT]
                self._change_visibility([f.receipt_handle for f in chunk], self._visibility_timeout_s)
            for entry in due:
                try:
                    self._handle.heartbeat(entry.message)
                except (BotoCoreError, ClientError) as error:  # the next beat retries; the lease has slack
                    log.warning("worker.lease_renewal_failed", error=str(error))

    def _change_visibility(self, receipt_handles: list[str], timeout_s: int) -> None:
        if not receipt_handles:
            return
        try:
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": timeout_s}
                    for i, handle in enumerate(receipt_handles)
                ],
            )
        except (BotoCoreError, ClientError) as error:
            log.warning("worker.visibility_change_failed", error=str(error), count=len(receipt_handles))

    def _make_visible(self, receipt_handles: list[str]) -> None:
        for start in range(0, len(receipt_handles), SQS_BATCH_LIMIT):
            self._change_visibility(receipt_handles[start : start + SQS_BATCH_LIMIT], 0)

    # -- stopping --------------------------------------------------------------------------------

    def _drain(self) -> None:
        # Counted from the stop request, not from the end of the last long poll, so the whole
        # shutdown fits in drain_timeout_s (plus one API call) whatever the poll wait is.
        deadline = (self._stop_requested_at or time.monotonic()) + self._drain_timeout_s
        with self._lock:
            while self._in_flight and time.monotonic() < deadline:
                self._lock.wait(timeout=max(0.0, deadline - time.monotonic()))
            unfinished = list(self._in_flight.values())
        if unfinished:
            # Their handlers die with the process; handing the messages back now means another
            # worker retries them immediately instead of after the visibility timeout.
            log.warning("worker.drain_timeout", unfinished=len(unfinished), drain_timeout_s=self._drain_timeout_s)
            for entry in unfinished:
                self._handle.abandon(entry.message)
            self._make_visible([entry.receipt_handle for entry in unfinished])


def dead_letter_attributes(reason: str, source_queue: str, **details: str) -> dict[str, Any]:
    """The message attributes of a dead letter, as send_message takes them: the reason, the queue it
    came from and ``details`` (``error_type="..."`` → ``labelloop.error_type``), which
    ``labelloop dlq`` reads back. Every writer of dead letters (worker, portal) uses this."""
    ours = {DEAD_LETTER_REASON: reason[:1024], "labelloop.source_queue": source_queue}
    ours |= {f"labelloop.{name}": value for name, value in details.items()}
    return {name: {"DataType": "String", "StringValue": value} for name, value in ours.items()}


def _string_attributes(attributes: dict[str, Any], *, limit: int) -> Any:
    """Message attributes as send_message takes them (string and number ones; SQS allows ten)."""
    kept = [(k, v) for k, v in attributes.items() if "StringValue" in v][:limit]
    return {k: {"DataType": v["DataType"], "StringValue": v["StringValue"]} for k, v in kept}
