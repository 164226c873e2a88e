"""The demo's last act: two real photos through the real model set, drawn for the report.

The loop runs on synthetic cabins because only they have hidden truth. To show what Labelloop does
with real footage, the demo then imports the default real set (yolo11n-pose, COCO-17) into the
same running stack, exactly as ``labelloop models import`` would, uploads the two photos the
``ultralytics`` wheel ships, waits for the selector's decision and draws each photo with the
model's boxes, skeletons and visibility next to that decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from labelloop.rig import COCO17, Rig

from labelloop_tools.demo.ledger import FINAL, FrameRecord, Ledger
from labelloop_tools.model_sets import import_checkpoint

if TYPE_CHECKING:
    from labelloop_tools.cli._target import Target

PHOTOS = ("bus.jpg", "zidane.jpg")
SHOWCASE_PREFIX = "images/real-photos/"
COLOURS = {"visible": (80, 200, 60), "occluded": (0, 165, 255)}  # BGR: green, orange; outside is not drawn
PERSON_COLOUR, HEAD_COLOUR = (255, 255, 255), (255, 200, 0)
DECISIONS = {"uncertain": "sent to people (uncertain)", "control_arm": "auto-accepted, audited by people"}


@dataclass(frozen=True)
class Showcased:
    name: str
    decision: str
    persons: int
    heads: int
    picture: bytes
    """The photo with the model's labels drawn, as PNG."""


def ultralytics_photos() -> dict[str, Path]:
    """The photos the installed ``ultralytics`` wheel ships (``ultralytics/assets``)."""
    import ultralytics  # noqa: PLC0415 - only to find its assets; the demo has it installed

    assets = Path(ultralytics.__file__).parent / "assets"
    return {name: assets / name for name in PHOTOS}


def run_showcase(
    target: Target,
    modalities: tuple[str, ...],
    real_set: Path,
    *,
    repository: Path,
    triton_url: str,
    timeout_s: float,
) -> list[Showcased]:
    """Serve the real set, upload the photos, wait for their fates, draw them. Its own ledger: the
    demo's keeps the loop's frames, which the report accounts for."""
    ledger = Ledger(target.clients, target.names, modalities)
    import_checkpoint(target, real_set / "pose_main.onnx", slot="pose_main", rig=COCO17, repository=repository,
                      triton_url=triton_url)  # fmt: skip
    photos = ultralytics_photos()
    bucket = target.names.physical("uploads")
    keys = {SHOWCASE_PREFIX + name: path for name, path in photos.items()}
    for key, path in keys.items():
        target.clients.s3.upload_file(str(path), bucket, key)
    deadline = time.monotonic() + timeout_s
    while True:
        records = [r for r in ledger.refresh(set(keys)) if r.upload_key in keys]
        if len(records) == len(keys) and all(r.outcome(ledger.modalities) in FINAL for r in records):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"the real photos did not settle in {timeout_s:.0f} s")
        time.sleep(1.0)
    return [_showcased(record, keys[record.upload_key], ledger) for record in records]


def _showcased(record: FrameRecord, photo: Path, ledger: Ledger) -> Showcased:
    line = record.auto_lines[0] if record.auto_lines else record.prefill
    outcome = record.outcome(ledger.modalities)
    decision = "auto-accepted" if outcome == "auto" else DECISIONS.get(record.reason or "", "sent to people")
    image = cv2.imread(str(photo))
    drawn = draw_labels(image, line, COCO17)
    ok, png = cv2.imencode(".png", drawn)
    if not ok:
        raise ValueError(f"could not encode the drawing of {photo.name}")
    persons = len((line.get("keypoints-metadata") or {}).get("persons", []))
    heads = len((line.get("head") or {}).get("annotations", []))
    return Showcased(photo.name, decision, persons, heads, png.tobytes())


def draw_labels(image: np.ndarray[Any, Any], line: dict[str, Any], rig: Rig) -> np.ndarray[Any, Any]:
    """A copy of ``image`` with a manifest line's person boxes, skeletons (by visibility) and head boxes."""
    canvas = image.copy()
    thickness = max(2, round(max(canvas.shape[:2]) / 400))
    for person in (line.get("keypoints-metadata") or {}).get("persons", []):
        box = person["box"]
        _rectangle(canvas, box, PERSON_COLOUR, thickness)
    by_person: dict[int, dict[str, dict[str, Any]]] = {}
    for point in (line.get("keypoints") or {}).get("crowdKeypoint", {}).get("keypoints", []):
        if point.get("visibility") in COLOURS:
            by_person.setdefault(int(point.get("person", 0)), {})[point["label"]] = point
    for points in by_person.values():
        for a, b in rig.skeleton:
            if a in points and b in points:
                start, end = points[a], points[b]
                colour = COLOURS["occluded" if "occluded" in {start["visibility"], end["visibility"]} else "visible"]
                cv2.line(canvas, (round(start["x"]), round(start["y"])), (round(end["x"]), round(end["y"])), colour,
                         thickness, cv2.LINE_AA)  # fmt: skip
        for point in points.values():
            cv2.circle(canvas, (round(point["x"]), round(point["y"])), thickness + 2, COLOURS[point["visibility"]], -1,
                       cv2.LINE_AA)  # fmt: skip
    for head in (line.get("head") or {}).get("annotations", []):
        _rectangle(canvas, head, HEAD_COLOUR, thickness)
    return canvas


def _rectangle(
    canvas: np.ndarray[Any, Any], box: dict[str, float], colour: tuple[int, int, int], thickness: int
) -> None:
    """A Ground Truth style box (left, top, width, height) drawn on ``canvas``."""
    left, top = round(box["left"]), round(box["top"])
    cv2.rectangle(canvas, (left, top), (left + round(box["width"]), top + round(box["height"])), colour, thickness)
