"""One parser from an SQS message to typed events, whatever wrapped them on the way.

An SQS body can be (a) a Labelloop event published to SNS with raw delivery, (b) the same inside
an SNS ``Notification`` envelope (raw delivery off), (c) an S3 event notification with one or more
records, or (d) the ``s3:TestEvent`` S3 sends when a notification is configured, or (e) a labeling job's
output-manifest line (Ground Truth's format, recognised by ``source-ref``). Handlers only
ever see the typed result (Powertools' ``parser/envelopes/sns.py`` idea). Every way a body can be
wrong raises a :class:`~labelloop.errors.PermanentError` subclass with a reason fit for a log line.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from pydantic import TypeAdapter, ValidationError

from labelloop.errors import MalformedMessageError, UnknownEventError
from labelloop.events import EVENT_MODELS, AnyEvent, LabelingOutput, Message, S3ObjectCreated

SUPPORTED_VERSION = 1


# Every Labelloop event, discriminated by `type`: one Rust pass from JSON text to the model.
_EVENTS: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_body(body: str) -> list[Message]:
    """Parse one SQS message body into the events it carries (empty for an S3 test event)."""
    try:
        # Fast path for the common case, a raw-delivered event (about 2x faster than json.loads
        # and validating the dict); anything else (envelopes, S3 records, bad input) falls through
        # to the path below, which unwraps it or explains precisely what is wrong.
        return [_EVENTS.validate_json(body)]
    except ValidationError:
        pass
    document = _load_json(body, what="SQS message body")
    if _is_sns_notification(document):
        document = _load_json(document["Message"], what="SNS notification Message")
    if not isinstance(document, dict):
        raise MalformedMessageError(f"expected a JSON object, got {type(document).__name__}")
    if document.get("Event") == "s3:TestEvent":
        return []
    if "Records" in document:
        return [_parse_s3_record(record) for record in _records(document)]
    if "source-ref" in document and "type" not in document:
        return [LabelingOutput(line=document)]
    return [_parse_event(document)]


def _load_json(text: Any, *, what: str) -> Any:
    if not isinstance(text, str):
        raise MalformedMessageError(f"{what} is not a string")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MalformedMessageError(f"{what} is not valid JSON: {error.msg} at char {error.pos}") from None


def _is_sns_notification(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and "TopicArn" in document
        and "Message" in document
    )


def _records(document: dict[str, Any]) -> list[dict[str, Any]]:
    records = document["Records"]
    if not isinstance(records, list) or not records:
        raise MalformedMessageError("S3 notification has no Records")
    if not all(isinstance(record, dict) for record in records):
        raise MalformedMessageError("S3 notification Records must be objects")
    return records


def _parse_s3_record(record: dict[str, Any]) -> S3ObjectCreated:
    if record.get("eventSource") != "aws:s3":
        raise UnknownEventError(f"unsupported record source {record.get('eventSource')!r}")
    event_name = str(record.get("eventName", ""))
    if not event_name.startswith("ObjectCreated:"):
        raise UnknownEventError(f"unsupported S3 event {event_name!r}; only ObjectCreated is subscribed")
    try:
        s3 = record["s3"]
        obj = s3["object"]
        return S3ObjectCreated(
            bucket=s3["bucket"]["name"],
            # S3 URL-encodes keys in notifications, and emulators disagree on the details:
            # unquote_plus is what AWS documents and what both moto and LocalStack need.
            key=unquote_plus(obj["key"]),
            size=obj.get("size", 0),
            etag=obj.get("eTag", ""),
            version_id=obj.get("versionId"),
            sequencer=obj.get("sequencer", ""),
            event_time=record.get("eventTime"),
        )
    except (KeyError, TypeError) as error:
        raise MalformedMessageError(f"S3 record is missing {error}") from None
    except ValidationError as error:
        raise MalformedMessageError(f"S3 record is invalid: {_summarise(error)}") from None


def _parse_event(document: dict[str, Any]) -> Message:
    event_type = document.get("type")
    if event_type is None:
        raise MalformedMessageError("event has no 'type' field")
    model = EVENT_MODELS.get(str(event_type))
    if model is None:
        raise UnknownEventError(f"unknown event type {event_type!r}")
    version = document.get("version")
    if version != SUPPORTED_VERSION:
        raise UnknownEventError(
            f"unsupported version {version!r} of {event_type}; this build understands version {SUPPORTED_VERSION}"
        )
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise MalformedMessageError(f"invalid {event_type}: {_summarise(error)}") from None


def _summarise(error: ValidationError, limit: int = 3) -> str:
    """A one-line summary of a validation error, short enough for a log line and an SQS attribute."""
    parts = [
        f"{'.'.join(str(loc) for loc in detail['loc']) or '<root>'}: {detail['msg']}"
        for detail in error.errors()[:limit]
    ]
    more = error.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
