"""``labelloop export`` on a stack (moto over HTTP): the dataset as the trainer reads it, out as COCO keypoints
that pycocotools loads, or as Ground Truth output-manifest lines; visibility kept, sources filtered."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from labelloop import AwsClients
from labelloop.provision import ProvisionedStack
from labelloop_tools.local.stack import LOCAL_AWS_ENV
from pycocotools.coco import COCO

from tests.label_lines import label_line

pytestmark = pytest.mark.integration


def _export(aws: AwsClients, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labelloop_tools", "export", str(out), *args, "--endpoint-url", str(aws.endpoint_url),
         "--stack", "test"],
        env={**os.environ, **LOCAL_AWS_ENV}, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def _points(line: dict[str, Any]) -> list[tuple[int, str, str]]:
    return sorted((p["person"], p["label"], p["visibility"]) for p in line["keypoints"]["crowdKeypoint"]["keypoints"])


def test_export_writes_coco_and_gt_manifest_lines_of_the_current_labels(
    aws: AwsClients, stack: ProvisionedStack, tmp_path: Path
) -> None:
    """Frame 1 was auto-accepted and then labelled by people (their label replaces the model's); frame 2 is
    auto-accepted only. COCO: both frames, frame 1's persons from people; gt-manifest --source human: frame 1
    alone, its points and visibilities exactly as people gave them."""
    auto = [label_line(f"s3://test-data/frames/exp/00000{n}.jpg", human=False) for n in (1, 2)]
    aws.s3.put_object(Bucket="test-data", Key="dataset/auto/exp/000001-000002-a.jsonl",
                      Body="\n".join(json.dumps(line) for line in auto).encode())  # fmt: skip
    human = label_line("s3://test-data/frames/exp/000001.jpg", human=True, persons=1)
    for modality in ("keypoints", "head"):
        labels = {k: v for k, v in human.items() if k in ("source-ref", modality, f"{modality}-metadata")}
        aws.s3.put_object(Bucket="test-data", Key=f"dataset/human/exp/000001-{modality}-l1.json",
                          Body=json.dumps(labels).encode())  # fmt: skip
    coco_path = tmp_path / "out" / "coco.json"
    done = _export(aws, coco_path, "--format", "coco")
    assert done.returncode == 0, done.stderr
    assert "wrote 2 frame(s)" in done.stdout
    assert "rig coco17" in done.stdout
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(coco_path))
    [first] = coco.getImgIds(imgIds=[i["id"] for i in coco.dataset["images"] if i["file_name"].endswith("1.jpg")])
    people = coco.loadAnns(coco.getAnnIds(imgIds=[first], catIds=[1]))
    assert [a["labelloop_source"] for a in people] == ["human"]  # people's one person replaced the model's two
    rig_order = [p["visibility"] for p in human["keypoints"]["crowdKeypoint"]["keypoints"]]
    assert people[0]["keypoints"][2::3] == [{"visible": 2, "occluded": 1, "outside": 0}[v] for v in rig_order]
    manifest_path = tmp_path / "human.manifest"
    done = _export(aws, manifest_path, "--format", "gt-manifest", "--source", "human")
    assert done.returncode == 0, done.stderr
    [line] = [json.loads(text) for text in manifest_path.read_text().splitlines()]
    assert line["source-ref"].endswith("000001.jpg")
    assert _points(line) == _points(human)
    assert line["keypoints-metadata"]["human-annotated"] == "yes"


def test_export_refuses_an_unknown_format_or_source_with_exit_2(
    aws: AwsClients, stack: ProvisionedStack, tmp_path: Path
) -> None:
    for args in (("--format", "voc"), ("--format", "coco", "--source", "people")):
        done = _export(aws, tmp_path / "x.json", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert not (tmp_path / "x.json").exists()
