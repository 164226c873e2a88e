"""Average precision of boxes at one IoU, as COCO computes it (101 recall points), for measuring
head boxes however they were made: by a detector or from a person's face points."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from labelloop.visibility import iou

Box = tuple[float, float, float, float]  # left, top, width, height
RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def average_precision(
    detections: Iterable[tuple[float, str, Box]], truths: Mapping[str, Sequence[Box]], *, min_iou: float = 0.5
) -> float:
    """AP of ``detections`` (confidence, frame, box) against the true boxes per frame.

    Greedy in order of confidence: each detection takes the unmatched true box of its frame it
    overlaps most, if by ``min_iou``; otherwise it is a false positive. 0.0 when there is no true box.
    """
    total = sum(len(boxes) for boxes in truths.values())
    if total == 0:
        return 0.0
    taken = {frame: [False] * len(boxes) for frame, boxes in truths.items()}
    hits = []
    for _, frame, box in sorted(detections, key=lambda detection: -detection[0]):
        candidates = [(iou(box, truth), j) for j, truth in enumerate(truths.get(frame, ())) if not taken[frame][j]]
        overlap, best = max(candidates, default=(0.0, -1))
        hit = overlap >= min_iou
        if hit:
            taken[frame][best] = True
        hits.append(hit)
    if not hits:
        return 0.0
    true_positives = np.cumsum(hits)
    recall = true_positives / total
    precision = true_positives / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # the best precision at this recall or beyond
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.mean([envelope[i] if i < len(envelope) else 0.0 for i in at]))
