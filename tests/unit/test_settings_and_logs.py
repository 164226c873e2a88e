"""Per-service settings prefixes and the structlog configuration."""

from __future__ import annotations

import json

import pytest
import structlog
from labelloop import configure_logging, get_logger
from labelloop_gt_bridge.settings import GtBridgeSettings
from labelloop_ingest.settings import IngestSettings
from labelloop_selector.settings import SelectorSettings
from pydantic import ValidationError


def test_each_service_reads_only_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """LABELLOOP_SELECTOR_* configures the selector and nothing else."""
    monkeypatch.setenv("LABELLOOP_SELECTOR_CONCURRENCY", "7")
    monkeypatch.setenv("LABELLOOP_SELECTOR_STACK", "dev2")
    assert SelectorSettings().concurrency == 7
    assert SelectorSettings().stack == "dev2"
    assert IngestSettings().concurrency == IngestSettings.model_fields["concurrency"].default
    assert IngestSettings().stack == "labelloop"


def test_lists_come_from_the_environment_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    """As documented (head,keypoints), not as JSON: pydantic-settings would otherwise try to parse JSON and fail."""
    monkeypatch.setenv("LABELLOOP_GT_BRIDGE_MODALITIES", "head, keypoints")
    monkeypatch.setenv("LABELLOOP_GT_BRIDGE_LEVEL2", "keypoints")
    bridge = GtBridgeSettings()
    assert (bridge.modalities, bridge.level2) == (("head", "keypoints"), ("keypoints",))


@pytest.mark.parametrize(("name", "value"), [("CONCURRENCY", "0"), ("STACK", "Bad_Name"), ("POLL_WAIT_S", "25")])
def test_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    """Out-of-range or malformed values fail at start-up, not later."""
    monkeypatch.setenv(f"LABELLOOP_INGEST_{name}", value)
    with pytest.raises(ValidationError):
        IngestSettings()


@pytest.mark.parametrize(
    ("name", "value", "limit"),
    [
        ("RESEND_AFTER_S", str(14 * 86400), "1123200"),  # SQS drops a message at 14 days: resend a day before
        ("TASK_LIFETIME_S", "59", "60"),
        ("TASK_LIFETIME_S", str(31 * 86400), "2592000"),
        ("TASK_TIME_LIMIT_S", "28801", "28800"),
        ("TASK_TIME_LIMIT_S", "29", "30"),
    ],
)
def test_labeling_settings_stay_within_sqs_and_ground_truth_limits(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, limit: str
) -> None:
    """A value past a real limit fails at start-up, naming the field and the limit (the service exits 78)."""
    monkeypatch.setenv(f"LABELLOOP_GT_BRIDGE_{name}", value)
    with pytest.raises(ValidationError) as raised:
        GtBridgeSettings()
    [error] = raised.value.errors()
    assert error["loc"] == (name.lower(),)
    assert limit in error["msg"]


def test_json_logs_off_a_tty_carry_service_level_time_and_context(capsys: pytest.CaptureFixture[str]) -> None:
    """Off a TTY each line is JSON with service, level, UTC timestamp and bound context."""
    configure_logging(service="selector", log_format="auto")
    structlog.contextvars.bind_contextvars(event_id="e1", correlation_id="clip-9")
    try:
        get_logger().info("message.handled", outcome="handled")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "message.handled"
    assert line["service"] == "selector"
    assert line["level"] == "info"
    assert line["event_id"] == "e1"
    assert line["correlation_id"] == "clip-9"
    assert line["timestamp"].endswith("Z")


def test_log_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    """Below the configured level nothing is written."""
    configure_logging(service="ingest", level="WARNING", log_format="json")
    try:
        get_logger().info("quiet")
        get_logger().warning("loud")
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line)["event"] for line in capsys.readouterr().out.strip().splitlines()]
    assert lines == ["loud"]
