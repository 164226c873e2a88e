"""Every frame's fate, read back from the stack itself: the books the demo balances.

A frame is what ingest extracted (``frames/<clip>/manifest.jsonl``). Its fate comes from what
the services wrote: the selector's auto-accepted manifest lines (``dataset/auto/``), gt-bridge's
labeling objects (DynamoDB) and the labels people gave (``dataset/human/``), and the selector's
deferrals (``dataset/deferred/``). Nothing here trusts a service's own counters.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from labelloop.dataset import AUTO_PREFIX, HUMAN_KEY, HUMAN_PREFIX, list_keys
from labelloop.groundtruth import PREFILL_ATTRIBUTE
from labelloop.labeling_state import LabelingState
from labelloop.s3_uri import split_s3_uri

if TYPE_CHECKING:
    from labelloop.aws import AwsClients
    from labelloop.topology import StackNames
    from mypy_boto3_s3 import S3Client

Outcome = Literal["auto", "human", "control", "labeling", "deferred", "undecided"]
FINAL: tuple[Outcome, ...] = ("auto", "human", "control")


@dataclass
class FrameRecord:
    uri: str
    clip_id: str
    frame_no: int
    upload_key: str
    auto_lines: list[dict[str, Any]] = field(default_factory=list)
    requested: Counter[str] = field(default_factory=Counter)  # modality -> level-1 labeling objects
    human: dict[str, dict[str, Any]] = field(default_factory=dict)  # modality -> the label people gave
    prefill: dict[str, Any] = field(default_factory=dict)  # the model's labels shown to people, as a line
    reason: str | None = None  # why people saw it: uncertain, control_arm
    deferred: bool = False

    def human_line(self) -> dict[str, Any]:
        """The labels people gave, every modality in one manifest line."""
        line: dict[str, Any] = {"source-ref": self.uri}
        for label in self.human.values():
            line |= {k: v for k, v in label.items() if k != "source-ref"}
        return line

    def outcome(self, modalities: tuple[str, ...]) -> Outcome:
        if all(m in self.human for m in modalities):
            return "control" if self.auto_lines else "human"
        if self.requested:
            return "labeling"
        if self.auto_lines:
            return "auto"
        return "deferred" if self.deferred else "undecided"

    @property
    def duplicated(self) -> bool:
        """Judged or sent to people more than once (at-least-once delivery leaking through)."""
        return len(self.auto_lines) > 1 or any(count > 1 for count in self.requested.values())


class Ledger:
    """Reads the fates of the frames of the given uploads; call :meth:`refresh` to read again."""

    def __init__(self, clients: AwsClients, names: StackNames, modalities: tuple[str, ...]) -> None:
        self._s3: S3Client = clients.s3
        self._bucket = names.physical("data")
        self._labeling = LabelingState(clients.dynamodb, names.physical("labeling"))
        self.modalities = modalities
        self._clips: dict[str, tuple[str, list[dict[str, Any]]]] = {}  # clip id -> (upload key, frames)
        self.frames: dict[str, FrameRecord] = {}

    def _read(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def _discover_clips(self) -> None:
        for key in list_keys(self._s3, self._bucket, "frames/"):
            clip_id = key.split("/")[1]
            if key.endswith("/manifest.jsonl") and clip_id not in self._clips:
                lines = [json.loads(t) for t in self._read(key).decode().splitlines() if t.strip()]
                upload = split_s3_uri(str(lines[0]["source_uri"]))[1] if lines else ""
                self._clips[clip_id] = (upload, lines)

    def clips_of(self, upload_keys: set[str]) -> list[str]:
        return [clip for clip, (upload, _) in self._clips.items() if upload in upload_keys]

    def refresh(self, upload_keys: set[str]) -> list[FrameRecord]:
        """Re-read the fates of every frame extracted from ``upload_keys`` (fresh records each time)."""
        self._discover_clips()
        records: dict[str, FrameRecord] = {}
        by_slot: dict[tuple[str, int], FrameRecord] = {}
        for clip_id in self.clips_of(upload_keys):
            upload, lines = self._clips[clip_id]
            for line in lines:
                extracted = FrameRecord(line["uri"], clip_id, int(line["frame_no"]), upload)
                records[extracted.uri] = by_slot[(clip_id, extracted.frame_no)] = extracted
            for key in list_keys(self._s3, self._bucket, f"{AUTO_PREFIX}{clip_id}/"):
                for text in self._read(key).decode().splitlines():
                    if text.strip() and (auto := json.loads(text))["source-ref"] in records:
                        records[auto["source-ref"]].auto_lines.append(auto)
            for key in list_keys(self._s3, self._bucket, f"{HUMAN_PREFIX}{clip_id}/"):
                match = HUMAN_KEY.search(key)
                if match and match["level"] == "1" and (found := by_slot.get((clip_id, int(match["frame"])))):
                    found.human[match["modality"]] = json.loads(self._read(key))
            for key in list_keys(self._s3, self._bucket, f"dataset/deferred/{clip_id}/"):
                frame_no = int(key.rsplit("/", 1)[1].split(".")[0])
                if found := by_slot.get((clip_id, frame_no)):
                    found.deferred = True
        for item in self._labeling.objects():
            record = records.get(item.line.get("source-ref", ""))
            modality = item.job_key.split("-")[0]
            if record is None or not item.job_key.endswith("-l1"):
                continue
            record.requested[modality] += 1
            record.reason = (item.line.get("labelloop-frame") or {}).get("reason", record.reason)
            record.prefill.update(item.line.get(PREFILL_ATTRIBUTE) or {})
        self.frames = records
        return list(records.values())

    def outcomes(self) -> Counter[Outcome]:
        return Counter(record.outcome(self.modalities) for record in self.frames.values())

    def settled(self) -> bool:
        """Every frame read so far has a final fate (auto-accepted, or labeled by people)."""
        return all(record.outcome(self.modalities) in FINAL for record in self.frames.values())
