"""Queue policies merged, never replaced: a topic added at run time keeps every statement others wrote."""

from __future__ import annotations

from labelloop.queue_policy import RUNTIME_SID, allows_topic, with_topic

QUEUE = "arn:aws:sqs:us-east-1:123456789012:prod-gt-bridge"
REVIEW_TOPIC = "arn:aws:sns:us-east-1:123456789012:prod-human-review-requested"
JOB_TOPIC = "arn:aws:sns:us-east-1:123456789012:prod-labeling-head-l1-output"
CLOUDFORMATION = {  # as deploy/ecs/render.py writes the gt-bridge queue's policy
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "AllowSubscribedTopics", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": QUEUE, "Condition": {"ArnEquals": {"aws:SourceArn": [REVIEW_TOPIC]}},
    }],
}  # fmt: skip


def test_a_runtime_topic_is_added_beside_the_deployed_statement() -> None:
    merged = with_topic(CLOUDFORMATION, QUEUE, JOB_TOPIC)
    assert merged is not None
    assert merged["Statement"][0] == CLOUDFORMATION["Statement"][0]
    assert allows_topic(merged, REVIEW_TOPIC)
    assert allows_topic(merged, JOB_TOPIC)
    second = "arn:aws:sns:us-east-1:123456789012:prod-labeling-keypoints-l1-output"
    again = with_topic(merged, QUEUE, second)
    assert again is not None
    assert [s["Sid"] for s in again["Statement"]] == ["AllowSubscribedTopics", RUNTIME_SID]  # one runtime statement
    assert allows_topic(again, JOB_TOPIC)
    assert allows_topic(again, second)
    assert with_topic(again, QUEUE, JOB_TOPIC) is None  # already allowed: nothing to write


def test_only_an_allow_for_sns_sending_counts() -> None:
    assert not allows_topic(CLOUDFORMATION, JOB_TOPIC)
    wildcard = {"Statement": [{**CLOUDFORMATION["Statement"][0], "Condition": {  # type: ignore[dict-item]
        "ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:prod-labeling-*"}}}]}  # fmt: skip
    assert allows_topic(wildcard, JOB_TOPIC)
    denied = {"Statement": [{**CLOUDFORMATION["Statement"][0], "Effect": "Deny"}]}  # type: ignore[dict-item]
    assert not allows_topic(denied, REVIEW_TOPIC)
    other_action = {"Statement": [{**CLOUDFORMATION["Statement"][0], "Action": "sqs:ReceiveMessage"}]}  # type: ignore[dict-item]
    assert not allows_topic(other_action, REVIEW_TOPIC)
    fresh = with_topic(None, QUEUE, JOB_TOPIC)
    assert fresh is not None
    assert allows_topic(fresh, JOB_TOPIC)
