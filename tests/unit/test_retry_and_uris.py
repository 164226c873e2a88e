"""One retry policy, one S3 URI helper, one model set: the shared helpers every service uses."""

from __future__ import annotations

import random

import pytest
from labelloop.model_set import MODEL_SET
from labelloop.retry import RetryPolicy
from labelloop.s3_uri import s3_uri, split_s3_uri
from labelloop.worker import MESSAGE_RETRY


class DownError(Exception):
    pass


def test_a_policy_backs_off_until_success_or_its_deadline() -> None:
    """Delays double up to the cap; once the next wait would pass the deadline, the error propagates."""
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    attempts = iter([DownError("down"), DownError("down"), "ok"])

    def flaky() -> str:
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    policy = RetryPolicy(initial_s=0.5, multiplier=2.0, max_s=10.0, deadline_s=60.0)
    assert policy.call(flaky, retry_on=DownError, monotonic=lambda: now[0], sleep=sleep) == "ok"
    assert slept == [0.5, 1.0]

    def down() -> str:
        raise DownError("down")

    slept.clear()
    capped = RetryPolicy(initial_s=0.5, multiplier=2.0, max_s=8.0, deadline_s=20.0)
    with pytest.raises(DownError):
        capped.call(down, retry_on=DownError, monotonic=lambda: now[0], sleep=sleep)
    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_other_errors_are_not_retried() -> None:
    """Only ``retry_on`` is retried; anything else reaches the caller at once."""
    slept: list[float] = []

    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        RetryPolicy().call(broken, retry_on=DownError, sleep=slept.append)
    assert slept == []


def test_jitter_stays_within_its_fraction_and_the_message_policy_keeps_its_numbers() -> None:
    """Jitter spreads a delay by at most ±jitter; the worker's message retry is 2, 4, 8... capped at 300 s."""
    policy = RetryPolicy(initial_s=10.0, multiplier=1.0, max_s=10.0, jitter=0.2)
    rng = random.Random(7)  # noqa: S311 - a seeded sample, not a secret
    delays = [policy.delay_s(1, rng) for _ in range(200)]
    assert all(8.0 <= d <= 12.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 100
    assert [MESSAGE_RETRY.delay_s(n) for n in (1, 2, 3, 4, 9, 20)] == [2, 4, 8, 16, 300, 300]


@pytest.mark.parametrize(
    "policy",
    [
        {"initial_s": -1.0},
        {"initial_s": 5.0, "max_s": 1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
    ],
)
def test_an_impossible_policy_is_refused(policy: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="invalid retry policy"):
        RetryPolicy(**policy)  # type: ignore[arg-type]


def test_s3_uris_round_trip_and_anything_else_is_named() -> None:
    """A key keeps its folders and odd characters; a non-S3 string or a missing bucket is a ValueError naming it."""
    uri = s3_uri("data", "clips/cam 1/drive+7/ü%.mp4")
    assert uri == "s3://data/clips/cam 1/drive+7/ü%.mp4"
    assert split_s3_uri(uri) == ("data", "clips/cam 1/drive+7/ü%.mp4")
    assert split_s3_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(ValueError, match="not an S3 URI"):
        split_s3_uri("https://bucket/key")
    with pytest.raises(ValueError, match="without a bucket"):
        split_s3_uri("s3:///key")


def test_the_model_set_is_the_three_served_models() -> None:
    assert MODEL_SET == ("pose_main", "pose_visible", "head")
