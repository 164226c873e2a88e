"""``labelloop export`` on a stack (moto over HTTP): the dataset as the trainer reads it, out as COCO keypoints
that pycocotools loads, or as Ground Truth output-manifest lines; visibility kept, sources filtered."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml
from labelloop import AwsClients, LabelsCompleted
from labelloop.coco import CocoBuilder
from labelloop.dataset import write_snapshot
from labelloop.model_registry import Registry, VersionRecord
from labelloop.provision import ProvisionedStack
from labelloop.rig import COCO17
from labelloop.synth import render, sample_scene
from labelloop_trainer.training import offline_ultralytics
from pycocotools.coco import COCO

from tests.helpers import drain, labelloop_cli, real_model_set
from tests.label_lines import label_line

pytestmark = pytest.mark.integration


def _export(aws: AwsClients, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return labelloop_cli(aws, "export", str(out), *args, check=False)


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
    scene = {
        "uri": "s3://test-data/frames/exp/000001.jpg",
        "attributes": {"occupant": "driver"},
        "taxonomy": {"drive": {"vehicle": "car-7"}, "clip": {"weather": "rain"}},
    }  # as ingest writes it
    aws.s3.put_object(Bucket="test-data", Key="frames/exp/manifest.jsonl", Body=(json.dumps(scene) + "\n").encode())
    coco_path = tmp_path / "out" / "coco.json"
    done = _export(aws, coco_path, "--format", "coco")
    assert done.returncode == 0, done.stderr
    assert "wrote 2 frame(s)" in done.stdout
    assert "rig coco17" in done.stdout
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(coco_path))
    [first] = coco.getImgIds(imgIds=[i["id"] for i in coco.dataset["images"] if i["file_name"].endswith("1.jpg")])
    assert coco.loadImgs(first)[0]["attributes"] == {
        "drive.vehicle": "car-7", "clip.weather": "rain", "frame.occupant": "driver"}  # fmt: skip
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


@pytest.mark.timeout(600)
def test_a_yolo_export_is_a_dataset_ultralytics_checks_and_validates_on(
    aws: AwsClients, stack: ProvisionedStack, tmp_path: Path
) -> None:
    """Six frames labelled by people on the COCO-17 rig: ``--format yolo --split`` writes data.yaml with
    kpt_shape and flip_idx from the rig, images and labels per split, the YOLO flag of each point its
    visibility; Ultralytics' dataset check accepts it and yolo11n-pose validates on it for an epoch's pass."""
    yolo = offline_ultralytics(tmp_path / "ultralytics")  # the trainer's own way: no download, no auto-install
    from ultralytics.data.utils import check_det_dataset

    lines = []
    for n in range(6):
        uri = f"s3://test-data/frames/yolo/{n:06d}.jpg"
        image = render(sample_scene(n, width=640, height=480)).image
        aws.s3.put_object(Bucket="test-data", Key=uri.removeprefix("s3://test-data/"),
                          Body=cv2.imencode(".jpg", image)[1].tobytes())  # fmt: skip
        line = label_line(uri, human=True, persons=1)
        lines.append(line)
        keypoints_only = {k: v for k, v in line.items() if not k.startswith("head")}
        aws.s3.put_object(Bucket="test-data", Key=f"dataset/human/yolo/{n:06d}-keypoints-l1.json",
                          Body=json.dumps(keypoints_only).encode())  # fmt: skip
    out = tmp_path / "yolo"
    done = _export(aws, out, "--format", "yolo", "--split")
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((out / "data.yaml").read_text())
    assert config["kpt_shape"] == [17, 3]
    assert config["flip_idx"] == COCO17.flip_index
    labels = sorted((out / "labels").rglob("*.txt"))
    assert len(labels) == 6
    assert {path.parent.name for path in labels} <= {"train", "val"}
    flags = [int(float(v)) for v in labels[0].read_text().split()[5 + 2 :: 3]]
    rig_order = [p["visibility"] for p in lines[0]["keypoints"]["crowdKeypoint"]["keypoints"]]
    assert sorted(flags) == sorted({"visible": 2, "occluded": 1, "outside": 0}[v] for v in rig_order)
    checked = check_det_dataset(str(out / "data.yaml"))
    assert checked["kpt_shape"] == [17, 3]
    metrics = yolo(str(real_model_set() / "pose_main.pt")).val(
        data=str(out / "data.yaml"), imgsz=320, batch=2, device="cpu", plots=False, verbose=False,
        project=str(tmp_path / "val"), split="val" if (out / "images" / "val").exists() and any(
            (out / "images" / "val").iterdir()) else "train",
    )  # fmt: skip
    assert 0.0 <= metrics.pose.map50 <= 1.0


def test_export_version_gives_exactly_the_set_a_model_version_trained_on(
    aws: AwsClients, stack: ProvisionedStack, tmp_path: Path
) -> None:
    """Version 2 trained on frame 1 alone (its snapshot); frame 2 was labelled after: --version 2 exports frame 1
    only, the plain export both. An unknown version, or one trained before snapshots, exits 1 and says so."""
    lines = [label_line(f"s3://test-data/frames/ver/00000{n}.jpg", human=True, persons=1) for n in (1, 2)]
    for n, line in enumerate(lines, start=1):
        keypoints_only = {k: v for k, v in line.items() if not k.startswith("head")}
        aws.s3.put_object(Bucket="test-data", Key=f"dataset/human/ver/00000{n}-keypoints-l1.json",
                          Body=json.dumps(keypoints_only).encode())  # fmt: skip
    registry = Registry(aws.dynamodb, "test-models")
    write_snapshot(aws.s3, "test-data", "a1b2c3d4e5f60718", [lines[0]])
    for version, data_hash in ((2, "a1b2c3d4e5f60718"), (3, "0000000000000000")):
        registry.record(VersionRecord(version, "promoted", {}, data_hash, None, 0.0, 1))
    out = tmp_path / "v2.manifest"
    done = _export(aws, out, "--format", "gt-manifest", "--version", "2")
    assert done.returncode == 0, done.stderr
    assert [json.loads(t)["source-ref"] for t in out.read_text().splitlines()] == [lines[0]["source-ref"]]
    done = _export(aws, tmp_path / "all.manifest", "--format", "gt-manifest")
    assert len((tmp_path / "all.manifest").read_text().splitlines()) == 2
    for version, reason in (("7", "there is no model version 7"), ("3", "trained before the trainer kept")):
        done = _export(aws, tmp_path / "none.manifest", "--format", "gt-manifest", "--version", version)
        assert done.returncode == 1
        assert reason in done.stderr


def _coco_with_images(tmp_path: Path, frames: int = 3) -> tuple[Path, Path, list[dict[str, Any]]]:
    """A COCO file of ``frames`` frames made by our own exporter from label lines, and the images it names."""
    images = tmp_path / "images"
    builder = CocoBuilder(COCO17)
    lines = []
    for n in range(frames):
        file_name = f"drive 7/{n:06d}.jpg"
        (images / file_name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(images / file_name), render(sample_scene(n, width=640, height=480)).image)
        line = label_line(f"s3://elsewhere/{file_name}", human=True)
        lines.append(line)
        builder.add(line, file_name)
    path = tmp_path / "team.json"
    path.write_text(json.dumps(builder.dataset()))
    return path, images, lines


def _import(aws: AwsClients, *args: str) -> subprocess.CompletedProcess[str]:
    return labelloop_cli(aws, "import", "coco", *args, check=False)


def test_a_coco_set_imported_then_exported_keeps_every_visibility_flag_and_counts_for_training(
    aws: AwsClients, stack: ProvisionedStack, tmp_path: Path
) -> None:
    """export (COCO) → import → export: every point's (x, y, v) identical; the frames are people's labels with
    source "imported", their images in the data bucket, and a LabelsCompleted each tells the trainer."""
    path, images, _ = _coco_with_images(tmp_path)
    done = _import(aws, str(path), "--images", str(images), "--name", "Team Set")
    assert done.returncode == 0, done.stderr
    assert "imported 3 frame(s) on rig coco17 as imported-team-set" in done.stdout
    out = tmp_path / "again.json"
    done = _export(aws, out, "--format", "coco", "--source", "imported")
    assert done.returncode == 0, done.stderr
    before, after = json.loads(path.read_text()), json.loads(out.read_text())

    def points(document: dict[str, Any]) -> dict[str, list[list[float]]]:
        names = {image["id"]: image["file_name"].rsplit("/", 1)[-1] for image in document["images"]}
        found: dict[str, list[list[float]]] = {}
        for annotation in document["annotations"]:
            if annotation["category_id"] == 1:
                found.setdefault(names[annotation["image_id"]], []).append(annotation["keypoints"])
        return found

    assert points(after) == points(before)
    assert {a["labelloop_source"] for a in after["annotations"]} == {"imported"}
    stored = aws.s3.list_objects_v2(Bucket="test-data", Prefix="frames/imported-team-set/drive 7/")["KeyCount"]
    assert stored == 3
    events = [e for e in drain(aws, stack.queue_urls["trainer"]) if isinstance(e, LabelsCompleted)]
    assert sorted((e.frame.frame_no, e.modality) for e in events) == [
        (n, m) for n in range(3) for m in ("head", "keypoints")
    ]


def test_a_bad_coco_file_is_refused_whole_with_every_problem_listed(
    aws: AwsClients, stack: ProvisionedStack, tmp_path: Path
) -> None:
    path, images, _ = _coco_with_images(tmp_path)
    document = json.loads(path.read_text())
    document["images"].append({**document["images"][0]})  # a duplicate image id
    document["images"].append({"id": 99, "file_name": "missing.jpg", "width": 640, "height": 480})
    people = [a for a in document["annotations"] if a["category_id"] == 1]
    people[0]["bbox"] = [600, 400, 100, 100]  # beyond the 640x480 image
    people[1]["keypoints"] = people[1]["keypoints"][:-3]  # 16 points
    people[2]["keypoints"][2] = 3  # no such flag
    document["annotations"].append({**people[3], "id": 500, "image_id": 12345})
    path.write_text(json.dumps(document))
    done = _import(aws, str(path), "--images", str(images))
    assert done.returncode == 2
    for problem in ("appears 2 times", "missing.jpg does not exist", "lies outside its 640x480 image",
                    "keypoints must hold 51 numbers", "visibility flag 3", "image 12345 is not in images"):  # fmt: skip
        assert problem in done.stderr, (problem, done.stderr)
    assert "nothing was imported" in " ".join(done.stderr.split())
    assert aws.s3.list_objects_v2(Bucket="test-data", Prefix="frames/imported-")["KeyCount"] == 0
    assert aws.s3.list_objects_v2(Bucket="test-data", Prefix="dataset/")["KeyCount"] == 0
    for text, reason in (("{not json", "is not readable JSON"), (json.dumps({**document, "categories": [
            {"id": 1, "name": "person", "keypoints": ["a", "b"]}]}), "match no rig")):  # fmt: skip
        path.write_text(text)
        done = _import(aws, str(path), "--images", str(images))
        assert done.returncode == 2
        assert reason in " ".join(done.stderr.split())
