"""SQS queue policies that let SNS topics deliver: written whole at provisioning, merged at run time.

A queue's policy may hold statements written by others: CloudFormation's (``ArnEquals`` on the
stack's topics), provisioning's (``ArnLike``). A topic created at run time (a labeling job's) is
added in a statement of its own, :data:`RUNTIME_SID`; nothing else is touched, so a queue never
stops hearing the topics it was deployed with.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

VERSION = "2012-10-17"
RUNTIME_SID = "AllowRuntimeTopics"


def service_may(sid: str, service: str, action: str, resource: str, sources: list[str]) -> dict[str, Any]:
    """A statement letting an AWS service do ``action`` on ``resource``, for ``sources`` only."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": action,
        "Resource": resource,
        "Condition": {"ArnLike": {"aws:SourceArn": sources}},
    }


def policy_of(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": VERSION, "Statement": list(statements)})


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def allows_topic(policy: dict[str, Any], topic_arn: str) -> bool:
    """Whether some Allow statement lets SNS send ``topic_arn``'s messages (``ArnEquals`` exactly,
    ``ArnLike`` with its wildcards)."""
    for statement in _listed(policy.get("Statement", [])):
        actions = _listed(statement.get("Action", []))
        principals = _listed((statement.get("Principal") or {}).get("Service", []))
        if statement.get("Effect") != "Allow" or not {"sqs:SendMessage", "sqs:*"} & set(actions):
            continue
        if "sns.amazonaws.com" not in principals:
            continue
        condition = statement.get("Condition", {})
        if topic_arn in _listed(condition.get("ArnEquals", {}).get("aws:SourceArn", [])):
            return True
        if any(
            fnmatchcase(topic_arn, pattern)
            for pattern in _listed(condition.get("ArnLike", {}).get("aws:SourceArn", []))
        ):
            return True
    return False


def with_topic(policy: dict[str, Any] | None, queue_arn: str, topic_arn: str) -> dict[str, Any] | None:
    """``policy`` with ``topic_arn`` allowed to send to the queue: added to the runtime statement,
    every other statement as it was; None when it is allowed already."""
    current = policy or {"Version": VERSION, "Statement": []}
    if allows_topic(current, topic_arn):
        return None
    statements = [dict(statement) for statement in _listed(current.get("Statement", []))]
    runtime = next((s for s in statements if s.get("Sid") == RUNTIME_SID), None)
    if runtime is None:
        statements.append(service_may(RUNTIME_SID, "sns.amazonaws.com", "sqs:SendMessage", queue_arn, [topic_arn]))
    else:
        sources = _listed(runtime["Condition"]["ArnLike"]["aws:SourceArn"])
        runtime["Condition"] = {"ArnLike": {"aws:SourceArn": [*sources, topic_arn]}}
    return {**current, "Statement": statements}
