"""The envelope parser on recorded SQS bodies and on every kind of bad body."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import pytest
from labelloop import (
    EVENT_MODELS,
    FramesExtracted,
    MalformedMessageError,
    PermanentError,
    S3ObjectCreated,
    UnknownEventError,
    parse_body,
)

from tests.helpers import payload


def test_raw_sns_delivery_parses_to_typed_event() -> None:
    """A raw-delivered FramesExtracted body becomes a FramesExtracted with its fields."""
    [event] = parse_body(payload("raw_frames_extracted.json"))
    assert isinstance(event, FramesExtracted)
    assert event.event_id == "5b0c2f0d6f7a4e55a1b0f4b2c86a3a01"
    assert [f.frame_no for f in event.frames] == [0, 30]
    assert event.taxonomy.clip == {"weather": "rain", "time_of_day": "night"}


def test_sns_envelope_is_unwrapped_to_the_same_event() -> None:
    """The same event inside an SNS Notification envelope parses identically."""
    assert parse_body(payload("sns_envelope_frames_extracted.json")) == parse_body(payload("raw_frames_extracted.json"))


def test_s3_notification_key_is_url_decoded() -> None:
    """S3 keys arrive URL-encoded (moto even encodes '/'); the parser decodes with unquote_plus."""
    [record] = parse_body(payload("s3_object_created.json"))
    assert isinstance(record, S3ObjectCreated)
    assert record.bucket == "labelloop-uploads"
    assert record.key == "clips/cabin 01 (rain)+night.mp4"
    assert record.size == 11
    assert record.uri == "s3://labelloop-uploads/clips/cabin 01 (rain)+night.mp4"


ODD_KEY = "clips/cam 1/drive+7/100% é/日本 clip_001.mp4"


@pytest.mark.parametrize(
    ("emulator", "encoded"),
    [
        # moto quotes every character but letters and digits, '/' included.
        ("moto", quote_plus(ODD_KEY, safe="")),
        # AWS, and LocalStack which copies it, keep '/' and encode space as '+', '+' as %2B.
        ("localstack", quote_plus(ODD_KEY, safe="/")),
    ],
)
def test_odd_keys_survive_both_emulators_encodings(emulator: str, encoded: str) -> None:
    """Spaces, '+', '%' and unicode in a nested key decode to the key that was uploaded, whichever
    emulator encoded the notification."""
    body = json.loads(payload("s3_object_created.json"))
    body["Records"][0]["s3"]["object"]["key"] = encoded
    [record] = parse_body(json.dumps(body))
    assert isinstance(record, S3ObjectCreated)
    assert record.key == ODD_KEY, emulator


def test_s3_event_id_identifies_the_object_version() -> None:
    """Two notifications of one object version share an event id; another ETag gives another id."""
    body = json.loads(payload("s3_object_created.json"))
    [first] = parse_body(json.dumps(body))
    [again] = parse_body(json.dumps(body))
    body["Records"][0]["s3"]["object"]["eTag"] = "another"
    [changed] = parse_body(json.dumps(body))
    assert first.event_id == again.event_id != changed.event_id


def test_s3_notification_with_several_records_yields_each() -> None:
    """S3 may batch records; each becomes its own typed value."""
    body = json.loads(payload("s3_object_created.json"))
    second = json.loads(json.dumps(body["Records"][0]))
    second["s3"]["object"]["key"] = "images%2Fcabin.png"
    body["Records"].append(second)
    keys = [record.key for record in parse_body(json.dumps(body)) if isinstance(record, S3ObjectCreated)]
    assert keys == ["clips/cabin 01 (rain)+night.mp4", "images/cabin.png"]


def test_s3_test_event_yields_nothing() -> None:
    """The s3:TestEvent sent when a notification is configured is skipped, not an error."""
    assert parse_body(payload("s3_test_event.json")) == []


@pytest.mark.parametrize(
    "name",
    [
        "predictions_ready.json",
        "auto_accepted.json",
        "human_review_requested.json",
        "labels_completed.json",
        "model_promoted.json",
    ],
)
def test_every_event_payload_round_trips(name: str) -> None:
    """Each recorded event parses to its model and serialises back to the same JSON."""
    document = json.loads(payload(name))
    [event] = parse_body(payload(name))
    assert type(event) is EVENT_MODELS[document["type"]]
    dumped = json.loads(event.model_dump_json())
    assert _contained(document, dumped), f"{name} lost or changed fields: {dumped}"
    assert parse_body(event.model_dump_json()) == [event]


def _contained(expected: object, actual: object) -> bool:
    """Every field of ``expected`` is in ``actual`` with the same value (actual may add defaults)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _contained(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(_contained, expected, actual))
    return expected == actual


@pytest.mark.parametrize(
    ("name", "error", "reason"),
    [
        ("not_json.txt", MalformedMessageError, "not valid JSON"),
        ("no_type.json", MalformedMessageError, "no 'type' field"),
        ("unknown_type.json", UnknownEventError, "unknown event type 'FramesDeleted'"),
        ("unknown_version.json", UnknownEventError, "unsupported version 2 of FramesExtracted"),
        ("invalid_frames_extracted.json", MalformedMessageError, "invalid FramesExtracted: source_uri"),
        ("s3_object_removed.json", UnknownEventError, "only ObjectCreated is subscribed"),
    ],
)
def test_bad_bodies_raise_permanent_errors_with_a_reason(name: str, error: type[PermanentError], reason: str) -> None:
    """Bad input is a PermanentError (so it goes to the DLQ) whose reason says what is wrong."""
    with pytest.raises(error) as raised:
        parse_body(payload(name))
    assert reason in raised.value.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("[1, 2]", "expected a JSON object, got list"),
        (
            '{"Type": "Notification", "TopicArn": "arn", "Message": "{oops"}',
            "SNS notification Message is not valid JSON",
        ),
        ('{"Records": []}', "S3 notification has no Records"),
        ('{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}', "S3 record is missing 's3'"),
        ('{"Records": [{"eventSource": "aws:sqs"}]}', "unsupported record source 'aws:sqs'"),
        ("", "not valid JSON"),
    ],
)
def test_malformed_envelopes_are_permanent(body: str, reason: str) -> None:
    """Wrong shapes anywhere in the envelope end as PermanentError with a precise reason."""
    with pytest.raises(PermanentError) as raised:
        parse_body(body)
    assert reason in raised.value.reason


def test_validation_summary_is_bounded() -> None:
    """A body with many invalid fields gives a one-line reason that says how many more there are."""
    document = json.loads(payload("invalid_frames_extracted.json")) | {"batch_count": 0, "total_frames": 0}
    with pytest.raises(MalformedMessageError) as raised:
        parse_body(json.dumps(document))
    assert "\n" not in raised.value.reason
    assert raised.value.reason.endswith("and 2 more")
