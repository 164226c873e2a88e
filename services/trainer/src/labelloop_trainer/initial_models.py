"""Train the small initial models that Labelloop ships, from synthetic in-cabin scenes only.

    python -m labelloop_trainer.initial_models --out models/initial

``pose_main`` is trained from scratch; ``pose_visible`` and ``head`` start from its weights (same
backbone), which is what makes the whole set affordable on a 2-core CPU. No weights from
elsewhere, nothing downloaded. The output folder holds, per model, ``<name>.pt`` (what the
trainer fine-tunes from) and ``<name>.onnx`` (what Triton serves), plus ``initial-models.json``
with the metrics and the exact command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from labelloop.model_set import ModelName, ModelSet, SlotModel, file_sha256, write_set_folder
from labelloop.rig import IN_CABIN_17, Rig
from labelloop.synth import Camera, render, sample_scene
from labelloop.synth.scene import Rendered

from labelloop_trainer.training import export_onnx, train
from labelloop_trainer.yolo_data import LabeledFrame, LabeledPerson, write_dataset

VALIDATION_SEED_OFFSET = 1_000_000  # validation scenes never share a seed with training scenes


def synthetic_frames(seeds: range, *, width: int, height: int, camera: Camera = "standard") -> Iterator[LabeledFrame]:
    """Rendered scenes as labeled frames, named by seed."""
    for seed in seeds:
        yield labeled_frame(f"synthetic-{seed:07d}", render(sample_scene(seed, width=width, height=height,
                                                                         camera=camera)))  # fmt: skip


def labeled_frame(name: str, rendered: Rendered) -> LabeledFrame:
    """A rendered scene with its truth as a training frame."""
    return LabeledFrame(
        name=name,
        image=rendered.image,
        persons=tuple(LabeledPerson(box=p.box, keypoints=p.keypoints) for p in rendered.persons),
        heads=tuple(p.head for p in rendered.persons if p.head is not None),
    )


def build(args: argparse.Namespace, rig: Rig = IN_CABIN_17) -> dict[str, object]:
    out: Path = args.out
    work: Path = args.workdir
    out.mkdir(parents=True, exist_ok=True)
    train_seeds = range(args.images)
    val_seeds = range(VALIDATION_SEED_OFFSET, VALIDATION_SEED_OFFSET + args.val_images)
    plan: list[tuple[ModelName, int]] = [
        ("pose_main", args.epochs),
        ("pose_visible", args.finetune_epochs),
        ("head", args.finetune_epochs),
    ]
    summary: dict[str, object] = {}
    for model, epochs in plan:
        started = time.monotonic()
        data_yaml = write_dataset(
            work / "data" / model,
            {
                "train": synthetic_frames(train_seeds, width=args.width, height=args.height),
                "val": synthetic_frames(val_seeds, width=args.width, height=args.height),
            },
            model,
            rig,
        )
        parent = None if model == "pose_main" else out / "pose_main.pt"
        result = train(model, data_yaml, work / "runs", parent=parent, epochs=epochs, imgsz=args.imgsz, seed=args.seed)
        shutil.copy(result.weights, out / f"{model}.pt")
        export_onnx(out / f"{model}.pt", out / f"{model}.onnx", imgsz=args.imgsz, workdir=work)
        summary[model] = {
            "epochs": epochs,
            "parent": None if parent is None else parent.name,
            "metrics": result.metrics,
            "train_seconds": round(time.monotonic() - started, 1),
        }
        print(json.dumps({model: summary[model]}), flush=True)  # noqa: T201 - the script's progress report
    record = {
        "command": "python -m labelloop_trainer.initial_models " + shlex.join(sys.argv[1:]),
        "rig": list(rig.keypoints),
        "imgsz": args.imgsz,
        "frame_size": [args.width, args.height],
        "train_images": args.images,
        "val_images": args.val_images,
        "models": summary,
    }
    (out / "initial-models.json").write_text(json.dumps(record, indent=2) + "\n")
    write_set_folder(out, ModelSet(
        name="in-cabin-synthetic", rig=rig, imgsz=args.imgsz,
        models={model: SlotModel(version=1, source="shipped", sha256=file_sha256(out / f"{model}.onnx"),
                                 origin=f"{out} (trained by labelloop_trainer.initial_models)")
                for model, _ in plan},
    ))  # fmt: skip
    return record


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("models/initial"))
    parser.add_argument("--workdir", type=Path, default=Path(".labelloop/initial-models"))
    parser.add_argument("--images", type=int, default=640, help="synthetic training scenes")
    parser.add_argument("--val-images", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=80, help="pose_main, from scratch")
    parser.add_argument("--finetune-epochs", type=int, default=20, help="pose_visible and head, from pose_main")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    build(parse_args(argv))


if __name__ == "__main__":
    main()
