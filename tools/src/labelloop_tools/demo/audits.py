"""The report's check of the selector's own estimates: per round, what the audits said the
auto-accepted labels are worth (the selector's calibration for the model versions that judged the
round) beside what they are worth against the hidden truth, which the selector never sees."""

from __future__ import annotations

import html
from collections import Counter
from typing import TYPE_CHECKING, Any

from labelloop.dataset import MODEL_VERSIONS_ATTRIBUTE
from labelloop.groundtruth import judgement
from labelloop.label_quality import MEASURES, frame_measures, labels_of, score
from labelloop.model_set import ModelName
from labelloop.truth_layout import TruthReader, truth_line
from labelloop_selector.for_tools import version_tag

if TYPE_CHECKING:
    from labelloop_selector.for_tools import CalibrationStore
    from mypy_boto3_s3 import S3Client

    from labelloop_tools.demo.ledger import FrameRecord, Ledger
    from labelloop_tools.demo.loop import RoundRecord


def _versions_of(record: FrameRecord) -> str | None:
    """The model versions that judged the frame, as the selector tags them."""
    found: dict[ModelName, str] | None = None
    if record.auto_lines:
        found = record.auto_lines[-1].get(MODEL_VERSIONS_ATTRIBUTE)
    for line in record.human.values():
        found = found or judgement(line).get("model_versions")
    return version_tag(found) if found else None


def _audited(record: FrameRecord) -> bool:
    return any(judgement(line).get("audit") for line in record.human.values())


def round_audits(
    rounds: list[RoundRecord], ledger: Ledger, s3: S3Client, calibrations: CalibrationStore
) -> list[dict[str, Any]]:
    """Per round: the share auto-accepted, the audits it took, and per measure the selector's
    estimate and lower bound (audits only) beside the true accuracy of what it auto-accepted."""
    truths = TruthReader(s3)
    rows = []
    for round_ in rounds:
        uploads = set(round_.uploads)
        records = [r for r in ledger.frames.values() if r.upload_key in uploads]
        tags = Counter(tag for r in records if (tag := _versions_of(r)))
        versions = tags.most_common(1)[0][0] if tags else None
        estimates = {e.measure: e for e in calibrations.calibration(versions).estimates} if versions else {}
        truth_sums: dict[str, float] = dict.fromkeys(MEASURES, 0.0)
        auto = [r for r in records if r.auto_lines]
        judged = 0
        for record in auto:
            truth = truths.truth(record.uri)
            if truth is None:
                continue
            judged += 1
            for measure, value in frame_measures(score(labels_of(record.auto_lines[-1]),
                                                       labels_of(truth_line(truth, record.uri)))).items():  # fmt: skip
                truth_sums[measure] += value
        people = sum(bool(r.human) for r in records)
        rows.append({
            "round": round_.round,
            "versions": versions,
            "frames": len(records),
            "auto_share": len(auto) / len(records) if records else 0.0,
            "audits": sum(_audited(r) for r in records),
            "saved_share": 1.0 - people / len(records) if records else 0.0,  # audits count as labels people made
            "measures": {
                measure: {
                    "estimated": estimates[measure].mean if measure in estimates else None,
                    "bound": estimates[measure].bound if measure in estimates else None,
                    "target": estimates[measure].target if measure in estimates else None,
                    "audits_behind": estimates[measure].audits if measure in estimates else 0,
                    "true": truth_sums[measure] / judged if judged else None,
                }
                for measure in MEASURES
            },
        })  # fmt: skip
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def audits_html(rows: list[dict[str, Any]]) -> str:
    """A table per round; a bound above the true accuracy is marked: the estimate claimed too much."""
    head = ["round", "model versions", "frames", "auto-accepted", "audits", "cost saved (audits are labels)"]
    for measure in MEASURES:
        head += [f"{measure}: estimate", "bound (audits behind)", "true"]
    body = []
    for row in rows:
        cells = [str(row["round"]), html.escape(row["versions"] or "-"), str(row["frames"]), _pct(row["auto_share"]),
                 str(row["audits"]), _pct(row["saved_share"])]  # fmt: skip
        for measure in MEASURES:
            found = row["measures"][measure]
            over = found["bound"] is not None and found["true"] is not None and found["bound"] > found["true"]
            bound = f"{_pct(found['bound'])} ({found['audits_behind']})"
            cells += [_pct(found["estimated"]), f"<b>{bound}</b>" if over else bound, _pct(found["true"])]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    return f"<table>{header}{''.join(body)}</table>"
