"""``labelloop export``: the stack's labels as COCO keypoints or Ground Truth output-manifest lines.

Both read the dataset as the trainer does (:func:`labelloop.dataset.effective_lines`: per frame the
newest auto-label, each modality replaced by people's highest-level label) and keep each point's
visibility exactly. ``sources`` keeps only labels given by auto-acceptance, people, or an import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from labelloop.coco import SOURCES, CocoBuilder, label_source
from labelloop.dataset import MODALITIES, effective_lines
from labelloop.model_registry import Registry
from labelloop.rig import COCO17, Rig
from labelloop.s3_uri import split_s3_uri

if TYPE_CHECKING:
    from labelloop_tools.cli._target import Target

ExportFormat = Literal["coco", "gt-manifest"]


def serving_rig(target: Target) -> Rig:
    """The rig of the set the stack serves (COCO-17 before any is installed)."""
    serving = Registry(target.clients.dynamodb, target.names.physical("models")).serving_set()
    return serving[1].rig if serving else COCO17


def dataset_lines(target: Target) -> list[dict[str, Any]]:
    """The stack's current label lines, by frame URI."""
    lines = effective_lines(target.clients.s3, target.names.physical("data"))
    return [lines[uri] for uri in sorted(lines)]


def manifest_line(line: dict[str, Any], sources: Iterable[str]) -> dict[str, Any] | None:
    """``line`` with only the modalities whose label came from ``sources``; None when none did."""
    keep = frozenset(sources)
    kept = dict(line)
    for modality in MODALITIES:
        if modality in line and label_source(line, modality) not in keep:
            kept.pop(modality)
            kept.pop(f"{modality}-metadata", None)
    return kept if any(modality in kept for modality in MODALITIES) else None


def export(
    lines: list[dict[str, Any]],
    out: Path,
    fmt: ExportFormat,
    rig: Rig,
    *,
    sources: Iterable[str] = SOURCES,
    advance: Callable[[], None] = lambda: None,
) -> int:
    """Write ``lines`` to ``out`` in ``fmt``; how many frames it holds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "coco":
        builder = CocoBuilder(rig, sources)
        for line in lines:
            builder.add(line, split_s3_uri(line["source-ref"])[1])
            advance()
        out.write_text(json.dumps(builder.dataset()))
        return len(builder.images)
    written = 0
    with out.open("w") as manifest:
        for line in lines:
            if (kept := manifest_line(line, sources)) is not None:
                manifest.write(json.dumps(kept) + "\n")
                written += 1
            advance()
    return written
