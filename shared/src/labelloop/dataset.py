"""The dataset as its readers see it: auto-labels, with human labels replacing them per modality.

Writers never rewrite each other's objects, so the history stays in S3:

* the selector appends auto-label lines to ``dataset/auto/{clip}/...jsonl`` (one JSONL per batch;
  a frame judged again by a newer model appears again, with a later ``creation-date``);
* gt-bridge writes each human answer to ``dataset/human/{clip}/{frame:06d}-{modality}-l{level}.json``;
* the trainer writes the lines a model version trained on to ``dataset/versions/{data hash}.jsonl``
  (the hash it records with the version), so that set can be exported again exactly.

:func:`effective_lines` merges them: per ``source-ref``, the newest auto line, whose ``head`` and
``keypoints`` attributes are replaced by the highest-level human label of that modality.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MODEL_VERSIONS_ATTRIBUTE = "labelloop-model-versions"
"""An auto-label line's models and their versions (``{"pose_main": "3", ...}``), as the selector judged them."""
HOLDOUT_MARK = "labelloop-holdout"
"""Label metadata of a frame a team imported as its own holdout: the trainer measures on it, never trains on it."""
AUTO_PREFIX = "dataset/auto/"
HUMAN_PREFIX = "dataset/human/"
HUMAN_KEY = re.compile(r"(?P<frame>\d+)-(?P<modality>head|keypoints)-l(?P<level>[12])\.json$")
MODALITIES = ("head", "keypoints")


def list_keys(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def _created(line: dict[str, Any]) -> str:
    return str((line.get("head-metadata") or {}).get("creation-date", ""))


def effective_lines(s3: S3Client, bucket: str, clip_id: str | None = None) -> dict[str, dict[str, Any]]:
    """``source-ref`` → the frame's current labels (see the module docstring)."""
    scope = f"{clip_id}/" if clip_id else ""
    lines: dict[str, dict[str, Any]] = {}
    for key in list_keys(s3, bucket, AUTO_PREFIX + scope):
        for text in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines():
            if not text.strip():
                continue
            line = json.loads(text)
            current = lines.get(line["source-ref"])
            if current is None or _created(line) >= _created(current):
                lines[line["source-ref"]] = line
    best: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for key in list_keys(s3, bucket, HUMAN_PREFIX + scope):
        match = HUMAN_KEY.search(key)
        if match is None:
            continue
        human = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        level, modality = int(match["level"]), match["modality"]
        slot = (human["source-ref"], modality)
        if slot not in best or best[slot][0] < level:
            best[slot] = (level, human)
    for (source_ref, modality), (level, human) in best.items():
        attribute = modality if level == 1 else f"{modality}-adjusted"
        line = lines.setdefault(source_ref, {"source-ref": source_ref})
        line[modality] = human[attribute]
        line[f"{modality}-metadata"] = human[f"{attribute}-metadata"]
    return lines


SNAPSHOT_PREFIX = "dataset/versions/"


def write_snapshot(s3: S3Client, bucket: str, data_hash: str, lines: list[dict[str, Any]]) -> str:
    """The lines a version trained on, under its data hash (same hash, same lines: rewriting is harmless)."""
    key = f"{SNAPSHOT_PREFIX}{data_hash}.jsonl"
    body = "".join(
        json.dumps(line, sort_keys=True) + "\n" for line in sorted(lines, key=lambda line: str(line["source-ref"]))
    )
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/x-ndjson")
    return key


def read_snapshot(s3: S3Client, bucket: str, data_hash: str) -> list[dict[str, Any]] | None:
    """The lines recorded under ``data_hash``; None when none were (a version trained before snapshots)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{SNAPSHOT_PREFIX}{data_hash}.jsonl")["Body"].read().decode()
    except s3.exceptions.NoSuchKey:
        return None
    return [json.loads(text) for text in body.splitlines() if text.strip()]
