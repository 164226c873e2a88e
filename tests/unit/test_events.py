"""Event contracts: identity helpers, validation rules and forward compatibility."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from labelloop import FrameRef, LabelsCompleted, ModelPromoted, deterministic_id, new_event_id, utc_now
from labelloop.events import EVENT_MODELS
from pydantic import ValidationError

from tests.helpers import payload


def test_deterministic_id_is_stable_and_sensitive_to_every_part() -> None:
    """Same parts give the same id; any changed part or a moved boundary gives another."""
    assert deterministic_id("clip", 3) == deterministic_id("clip", 3)
    assert deterministic_id("clip", 3) != deterministic_id("clip", 4)
    assert deterministic_id("ab", "c") != deterministic_id("a", "bc")
    assert len(deterministic_id("x")) == 32


def test_new_event_ids_differ() -> None:
    """Random ids do not repeat."""
    assert len({new_event_id() for _ in range(1000)}) == 1000


def test_every_event_has_type_and_version_literals() -> None:
    """Every contract is tagged by a type literal equal to its class name and is version 1."""
    for name, model in EVENT_MODELS.items():
        assert name == model.__name__
        assert model.model_fields["version"].default == 1


def test_naive_timestamps_are_rejected() -> None:
    """occurred_at must carry a timezone; a naive datetime would be ambiguous across services."""
    with pytest.raises(ValidationError, match="timezone"):
        ModelPromoted(
            correlation_id="c",
            occurred_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the invalid input under test
            model_name="head",
            model_version=1,
            registry_uri="s3://labelloop-models/head/1/",
        )


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    """A producer one minor step ahead may add fields; this consumer still parses the event."""
    frame = FrameRef.model_validate(
        {"uri": "s3://b-1/f.jpg", "frame_no": 1, "timestamp_s": 0.5, "width": 2, "height": 2, "new_field": 1}
    )
    assert frame.frame_no == 1


@pytest.mark.parametrize("uri", ["s3:/b/k", "https://b/k", "s3://B/k", "s3://bucket/", "s3://b/k"])
def test_s3_uris_are_validated(uri: str) -> None:
    """Only well-formed s3://bucket/key URIs are accepted (bucket names are 3+ lower-case chars)."""
    with pytest.raises(ValidationError):
        FrameRef(uri=uri, frame_no=0, timestamp_s=0, width=1, height=1)


def test_events_are_immutable() -> None:
    """Handlers cannot mutate an event they received."""
    event = ModelPromoted(correlation_id="c", model_name="head", model_version=1, registry_uri="s3://abc/x")
    with pytest.raises(ValidationError):
        event.model_version = 2  # type: ignore[misc]


def test_an_event_from_a_clock_running_ahead_is_rejected_with_the_reason() -> None:
    """Within SigV4's 15 minutes of skew it is fine; beyond, it would win every newest-wins choice."""
    body = json.loads(payload("labels_completed.json"))
    soon = utc_now() + timedelta(minutes=10)
    assert LabelsCompleted.model_validate({**body, "occurred_at": soon.isoformat()}).occurred_at == soon
    with pytest.raises(ValidationError, match="clock skew"):
        LabelsCompleted.model_validate({**body, "occurred_at": "2099-01-01T00:00:00Z"})
