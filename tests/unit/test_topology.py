"""The single topology declaration is self-consistent, and its checker catches mistakes."""

from __future__ import annotations

import dataclasses

import pytest
from labelloop import SERVICES, TOPOLOGY, StackNames
from labelloop.events import EVENT_MODELS
from labelloop.topology import Queue, Topic


def test_declaration_has_no_problems() -> None:
    """Every event has exactly one topic, every subscription and notification names real things."""
    assert TOPOLOGY.problems() == []


def test_every_service_has_one_queue_with_a_dlq() -> None:
    """Each service consumes exactly one queue, and each queue has a DLQ and a redrive limit."""
    assert sorted(q.service for q in TOPOLOGY.queues) == sorted(SERVICES)
    for queue in TOPOLOGY.queues:
        assert queue.dlq_name == f"{queue.name}-dlq"
        assert 1 <= queue.max_receive_count <= 10
        assert queue.visibility_timeout_s >= 30


def test_every_published_event_reaches_a_consumer_or_the_dataset() -> None:
    """Each event's topic is subscribed by some queue, except auto-acceptance (written to the dataset) and
    ThresholdChanged (for people and their dashboards; the selector keeps the threshold itself)."""
    subscribed = {topic for queue in TOPOLOGY.queues for topic in queue.topics}
    unconsumed = {event for event in EVENT_MODELS if TOPOLOGY.topic_for(event) not in subscribed}
    assert unconsumed == {"AutoAccepted", "AutoAcceptedBatch", "ThresholdChanged"}


def test_checker_reports_broken_declarations() -> None:
    """A missing topic, an unknown subscription and a doubly published event are all reported."""
    broken = dataclasses.replace(
        TOPOLOGY,
        topics=(*[t for t in TOPOLOGY.topics if t.name != "model-promoted"], Topic("again", ("FramesExtracted",))),
        queues=(*TOPOLOGY.queues, Queue("extra", "extra", ("nowhere",))),
    )
    problems = broken.problems()
    assert "event ModelPromoted has no topic" in problems
    assert "event FramesExtracted is on several topics" in problems
    assert "queue extra subscribes to unknown topic nowhere" in problems


def test_lookups_fail_loudly_for_unknown_names() -> None:
    """Asking for an undeclared service or event is a KeyError naming it."""
    with pytest.raises(KeyError, match="portal"):
        TOPOLOGY.queue_for("portal")
    with pytest.raises(KeyError, match="Nope"):
        TOPOLOGY.topic_for("Nope")


def test_stack_names_prefix_every_resource() -> None:
    """Physical names and topic ARNs carry the stack prefix, so stacks can share an account."""
    names = StackNames("dev1")
    assert names.physical("ingest") == "dev1-ingest"
    arn = names.topic_arn("uploads", partition="aws", region="eu-west-1", account_id="123456789012")
    assert arn == "arn:aws:sns:eu-west-1:123456789012:dev1-uploads"


def test_a_local_stack_can_shorten_every_visibility_timeout() -> None:
    """with_visibility_timeout changes every queue's timeout and nothing else; impossible values are refused."""
    short = TOPOLOGY.with_visibility_timeout(15)
    assert {q.visibility_timeout_s for q in short.queues} == {15}
    assert [(q.name, q.topics, q.max_receive_count) for q in short.queues] == [
        (q.name, q.topics, q.max_receive_count) for q in TOPOLOGY.queues
    ]
    assert short.event_topics == TOPOLOGY.event_topics
    assert {q.visibility_timeout_s for q in TOPOLOGY.queues} == {60}  # the declaration itself is untouched
    for impossible in (0, 43201):
        with pytest.raises(ValueError, match="visibility timeout"):
            TOPOLOGY.with_visibility_timeout(impossible)
