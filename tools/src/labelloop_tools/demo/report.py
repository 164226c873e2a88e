"""``report.json`` and a self-contained ``report.html`` (plots embedded) for a demo run.

Every number is computed here from what the run read back from the stack (the ledger, the
registry, the hidden truth); nothing is taken from the services' own logs.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from labelloop.label_quality import Score, labels_of, score
from labelloop.model_registry import METRICS
from labelloop.truth_layout import TruthReader, truth_line

from labelloop_tools.demo.audits import audits_html, round_audits
from labelloop_tools.demo.ledger import FINAL

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labelloop_selector.for_tools import CalibrationStore
    from matplotlib.figure import Figure
    from mypy_boto3_s3 import S3Client

    from labelloop_tools.demo.ledger import FrameRecord, Ledger
    from labelloop_tools.demo.loop import DemoResult, Sample
    from labelloop_tools.demo.showcase import Showcased

STAGES = ("extracted", "judged", "labeled")


def accounting(ledger: Ledger) -> dict[str, int]:
    """Frames per fate; ``lost``: no final fate; ``duplicated``: judged or sent to people twice."""
    outcomes = ledger.outcomes()
    records = ledger.frames.values()
    return {
        "total": len(ledger.frames),
        **{fate: outcomes[fate] for fate in FINAL},
        "lost": sum(r.outcome(ledger.modalities) not in FINAL for r in records),
        "duplicated": sum(r.duplicated for r in records),
    }


QUALITY_SOURCES = {
    "auto_accepted": "auto-accepted labels",
    "model_on_frames_sent_to_people": "model on frames sent to people",
    "people": "people's labels",
    "control_auto_vs_people": "control arm: auto-labels vs people's",
}


def quality(ledger: Ledger, s3: S3Client) -> dict[str, Score]:
    """Labels scored against the hidden truth, per source; and the control arm's check without truth."""
    truths = TruthReader(s3)
    totals = {name: Score() for name in QUALITY_SOURCES}
    for record in ledger.frames.values():
        fate = record.outcome(ledger.modalities)
        found = truths.truth(record.uri)
        if found is None or fate not in FINAL:
            continue
        truth = labels_of(truth_line(found, record.uri))
        if record.auto_lines:
            totals["auto_accepted"] += score(labels_of(record.auto_lines[-1]), truth)
        if fate in ("human", "control"):
            totals["people"] += score(labels_of(record.human_line()), truth)
            if record.prefill:
                totals["model_on_frames_sent_to_people"] += score(labels_of(record.prefill), truth)
        if fate == "control":
            totals["control_auto_vs_people"] += score(labels_of(record.auto_lines[-1]), labels_of(record.human_line()))
    return totals


EFFORT_KEYS = ("seconds", "points-moved", "boxes-changed", "persons-added", "persons-deleted", "visibility-changes")


def effort(records: Iterable[FrameRecord], modalities: tuple[str, ...]) -> dict[str, Any]:
    """What people did per frame, and what the pre-annotation spared them.

    Measured on the page (its ``effort`` in each answer's metadata: time on task, points moved, persons
    added and deleted), where people answered there; and for every frame people labeled, the model's
    pre-fill scored against their answer: the share of their points it had already placed (PCK@0.1) and
    with the right visibility, the persons they had to add and those they deleted."""
    kept = Score()
    measured: dict[str, list[float]] = {key: [] for key in EFFORT_KEYS}
    frames = 0
    for record in records:
        if record.outcome(modalities) not in ("human", "control") or not record.prefill:
            continue
        frames += 1
        answer = record.human_line()
        kept += score(labels_of(record.prefill), labels_of(answer))
        for label in record.human.values():
            for key, value in label.items():
                if key.endswith("-metadata") and isinstance(value, dict) and isinstance(value.get("effort"), dict):
                    for name in EFFORT_KEYS:
                        measured[name].append(float(value["effort"].get(name, 0)))
    summary = kept.summary()
    return {
        "frames": frames,
        "points_kept_share": summary["keypoint_pck"],
        "visibility_kept_share": summary["visibility_accuracy"],
        "persons_added": kept.persons_true - kept.persons_matched,
        "persons_deleted": kept.persons_given - kept.persons_matched,
        "page": {
            "tasks": len(measured["seconds"]),
            **{
                f"median_{key.replace('-', '_')}": median(values) if values else None
                for key, values in measured.items()
            },
        },
    }


def _stage_seconds(samples: list[Sample], start: float, end: float, stage: str) -> float | None:
    """Seconds from a round's start until the stage's count last grew within it."""
    window = [s for s in samples if start <= s.t <= end]
    if not window:
        return None
    final = getattr(window[-1], stage)
    first_done = next((s.t for s in window if getattr(s, stage) == final), window[-1].t)
    return first_done - start


def throughput(result: DemoResult) -> list[dict[str, Any]]:
    rows = []
    for record in result.rounds:
        end = record.trained_s
        row: dict[str, Any] = {"round": record.round, "frames": record.frames}
        for stage in STAGES:
            seconds = _stage_seconds(result.samples, record.started_s, end, stage)
            row[f"{stage}_s"] = seconds
        row["training_s"] = record.trained_s - record.settled_s
        row["frames_per_s"] = record.frames / (record.settled_s - record.started_s) if record.frames else 0.0
        rows.append(row)
    return rows


def learning_curves(result: DemoResult) -> dict[str, list[dict[str, Any]]]:
    """Holdout metrics against the frames people labeled: the loop's candidates and the random arm."""
    by_version = {v.version: v for v in result.versions}
    first = by_version.get(1)
    start = [{"human_frames": 0, "version": 1, "status": "initial", **(first.metrics if first else {})}]
    loop, arm = list(start), list(start)
    previous = 1
    for record in result.rounds:
        newest = record.newest_version
        if newest is not None and newest > previous and newest in by_version:
            previous = newest
            version = by_version[newest]
            loop.append({"human_frames": record.human_frames_total, "version": newest, "status": version.status,
                         **version.metrics})  # fmt: skip
        if record.random_arm:
            arm.append({"human_frames": record.random_arm["frames"], **record.random_arm["metrics"]})
    return {"loop": loop, "random_arm": arm if len(arm) > 1 else []}


def build(result: DemoResult, ledger: Ledger, s3: S3Client, calibrations: CalibrationStore) -> dict[str, Any]:
    counts = accounting(ledger)
    plan = result.plan
    people = counts["human"] + counts["control"]
    everyone = counts["total"] * plan.cost_per_frame_usd
    scored = quality(ledger, s3)
    return {
        "finished": result.finished,
        "seconds": round(result.seconds, 1),
        "plan": plan.as_dict(),
        "frames": counts,
        "auto_share": counts["auto"] / counts["total"] if counts["total"] else 0.0,
        "human_share": people / counts["total"] if counts["total"] else 0.0,
        "cost": {
            "per_frame_usd": round(plan.cost_per_frame_usd, 4),
            "all_frames_by_people_usd": round(everyone, 2),
            "spent_usd": round(people * plan.cost_per_frame_usd, 2),
            "saved_usd": round(everyone - people * plan.cost_per_frame_usd, 2),
            "assumption": f"{plan.annotator_seconds:g} s per task, {len(plan.modalities)} tasks per frame, "
            f"${plan.hourly_rate_usd:g}/h",
        },
        "quality": {name: total.summary() for name, total in scored.items()},
        # Which of the rig's points each source gets wrong: PCK@0.1 per point.
        "quality_by_point": {name: total.point_pck() for name, total in scored.items()},
        "effort": effort(ledger.frames.values(), ledger.modalities),
        "versions": [asdict(v) for v in result.versions],
        "serving": result.serving,
        "promotions": sum(v.status == "promoted" and v.parent is not None for v in result.versions),
        "rounds": [asdict(r) for r in result.rounds],
        "audits": round_audits(result.rounds, ledger, s3, calibrations),
        "learning_curves": learning_curves(result),
        "throughput": throughput(result),
        "dead_letters": result.dead_letters,
    }


# -- plots -------------------------------------------------------------------------------------


def _figure() -> Figure:
    from matplotlib.figure import Figure  # noqa: PLC0415 - the plotting stack loads only for a report

    return Figure(figsize=(6.4, 3.6), dpi=110, layout="constrained")


def plot_fates(report: dict[str, Any]) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    rounds = report["rounds"]
    labels = [f"round {r['round']}" for r in rounds]
    bottom = [0] * len(rounds)
    colours = {"auto": "#4c9f70", "human": "#d1495b", "control": "#edae49"}
    names = {"auto": "auto-accepted", "human": "to people (uncertain)", "control": "auto + audited by people"}
    for fate, colour in colours.items():
        values = [r["outcomes"].get(fate, 0) for r in rounds]
        ax.bar(labels, values, bottom=bottom, color=colour, label=names[fate])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("frames")
    ax.set_ylim(0, 1.35 * max(bottom, default=1))  # room for the legend above the bars
    ax.set_title("Where each round's frames went")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    return fig


def plot_learning(report: dict[str, Any], metric: str = "pose_map50") -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    curves = report["learning_curves"]
    loop = [p for p in curves["loop"] if metric in p]
    ax.plot([p["human_frames"] for p in loop], [p[metric] for p in loop], "o-", color="#2e86ab",
            label="active learning (the loop's candidates)")  # fmt: skip
    for point in loop:
        if point["status"] == "rejected":
            ax.plot(point["human_frames"], point[metric], "x", color="#d1495b", markersize=10)
    arm = [p for p in curves["random_arm"] if metric in p]
    if arm:
        ax.plot([p["human_frames"] for p in arm], [p[metric] for p in arm], "s--", color="#888888",
                label="random arm (same number of frames)")  # fmt: skip
    ax.set_xlabel("frames labeled by people")
    ax.set_ylabel(f"holdout {metric}")
    ax.set_title("Model quality against human labels (x: candidate not promoted)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_quality(report: dict[str, Any]) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    groups = {name: QUALITY_SOURCES[name] for name in ("auto_accepted", "model_on_frames_sent_to_people", "people")}
    measures = ("head_recall", "keypoint_pck", "visibility_accuracy")
    width = 0.8 / len(groups)
    for index, (group, name) in enumerate(groups.items()):
        values = [report["quality"][group].get(m) or 0.0 for m in measures]
        positions = [m + index * width for m in range(len(measures))]
        ax.bar(positions, values, width=width, label=name)
    ax.set_xticks([m + width for m in range(len(measures))], ["head recall", "keypoint PCK@0.1", "visibility acc."])
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title("Label accuracy against the hidden ground truth")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    return fig


def plot_progress(result: DemoResult) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    times = [s.t for s in result.samples]
    for stage, colour in zip(STAGES, ("#2e86ab", "#4c9f70", "#d1495b"), strict=True):
        ax.plot(times, [getattr(s, stage) for s in result.samples], color=colour, label=f"frames {stage}")
    # A demo stopped in its first round has no round record: its report still shows how far it came.
    for index, record in enumerate(result.rounds):
        following = result.rounds[index + 1] if index + 1 < len(result.rounds) else None
        ax.axvspan(record.settled_s, record.trained_s, color="#edae49", alpha=0.3, linewidth=0)
        if record.random_arm is not None:  # the demo's own baseline training, until the next round
            arm_end = following.started_s if following else result.seconds
            ax.axvspan(record.trained_s, arm_end, color="#bbbbbb", alpha=0.3, linewidth=0)
    ax.set_xlabel("seconds since start (orange: training; grey: random arm)")
    ax.set_ylabel("frames (cumulative)")
    ax.set_title("Frames through each stage")
    ax.legend(loc="upper left", fontsize=8)
    return fig


# -- writing -----------------------------------------------------------------------------------


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write(report: dict[str, Any], result: DemoResult, out: Path, photos: list[Showcased] | None = None) -> Path:
    """Write report.json, plots/*.png (and the real photos) and report.html into ``out``; returns the HTML's path."""
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    figures = {"fates": plot_fates(report), "learning": plot_learning(report), "quality": plot_quality(report),
               "progress": plot_progress(result)}  # fmt: skip
    images: dict[str, bytes] = {}
    for name, fig in figures.items():
        images[name] = _png(fig)
        (plots_dir / f"{name}.png").write_bytes(images[name])
    report["plots"] = {name: f"plots/{name}.png" for name in figures}
    report["real_photos"] = []
    for photo in photos or []:
        picture = f"plots/real-{Path(photo.name).stem}.png"
        (out / picture).write_bytes(photo.picture)
        report["real_photos"].append({"name": photo.name, "decision": photo.decision, "persons": photo.persons,
                                      "heads": photo.heads, "picture": picture})  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2))
    page = out / "report.html"
    page.write_text(_html(report, images, photos or []))
    return page


def _photos_html(photos: list[Showcased]) -> str:
    if not photos:
        return ""
    figures = "".join(
        f'<figure><img alt="{html.escape(p.name)}" src="data:image/png;base64,{base64.b64encode(p.picture).decode()}">'
        f"<figcaption><b>{html.escape(p.name)}</b>: {p.persons} person(s), {p.heads} head box(es); "
        f"the selector: <b>{html.escape(p.decision)}</b></figcaption></figure>"
        for p in photos
    )
    return f"""<h2>Real photos, real model set</h2>
<p>After the loop, the default real set (Ultralytics yolo11n-pose, COCO-17 keypoints; visibility from pose_main's
confidence, head boxes from the face keypoints) was imported into the same stack and the two photos the ultralytics
wheel ships were uploaded. White: person boxes; green: visible points and bones; orange: occluded; blue: head boxes.
These labels are the model's (what people were shown, when the selector sent the photo to them).</p>
<div class="grid">{figures}</div>"""


def _effort_html(effort_: dict[str, Any]) -> str:
    page = effort_["page"]
    measured = (
        f"On the portal page ({page['tasks']} answers) a task took a median {page['median_seconds']:.0f} s, with "
        f"{page['median_points_moved']:g} points moved and {page['median_persons_added']:g} persons added."
        if page["tasks"] else "No answer came from the portal page in this run (the simulated annotator answered), "
        "so time on task was not measured; the page measures it for people."
    )  # fmt: skip
    table = _table(
        ["frames people labeled", "their points the pre-fill had placed (PCK@0.1)", "visibility already right",
         "persons people added", "persons people deleted"],
        [[str(effort_["frames"]), _pct(effort_["points_kept_share"]), _pct(effort_["visibility_kept_share"]),
          str(effort_["persons_added"]), str(effort_["persons_deleted"])]],
    )  # fmt: skip
    return f"<p>What pre-annotation saved: the model's pre-fill scored against people's answers. {measured}</p>{table}"


def points_html(by_point: dict[str, dict[str, float]]) -> str:
    """Per rig point, each source's PCK@0.1: where the keypoint accuracy above goes."""
    names = list(dict.fromkeys(name for values in by_point.values() for name in values))
    if not names:
        return ""
    sources = list(by_point)
    rows = [[name, *(_pct(by_point[source].get(name)) for source in sources)] for name in names]
    return f"""<h2>Which points are wrong</h2>
<p>Keypoint PCK@0.1 per point of the rig, against the hidden truth; the last column needs no truth: on the
control arm, how many of each point people left where the model put it.</p>
{_table(["point", *(QUALITY_SOURCES[source] for source in sources)], rows)}"""


def _html(report: dict[str, Any], images: dict[str, bytes], photos: list[Showcased]) -> str:
    frames, cost, quality_ = report["frames"], report["cost"], report["quality"]
    img = {n: f'<img alt="{n}" src="data:image/png;base64,{base64.b64encode(b).decode()}">' for n, b in images.items()}
    verdict = ("every frame accounted for" if frames["lost"] == 0 and frames["duplicated"] == 0
               else f"{frames['lost']} frame(s) lost, {frames['duplicated']} duplicated")  # fmt: skip
    headline = _table(
        ["frames", "auto-accepted", "labeled by people", "of which audit (control arm)", "human cost saved", "books"],
        [[str(frames["total"]), f"{frames['auto']} ({_pct(report['auto_share'])})",
          f"{frames['human'] + frames['control']} ({_pct(report['human_share'])})", str(frames["control"]),
          f"${cost['saved_usd']:.2f} of ${cost['all_frames_by_people_usd']:.2f}", verdict]],
    )  # fmt: skip
    quality_rows = [
        [name.replace("_", " "), *(_pct(values.get(m)) for m in ("head_precision", "head_recall", "keypoint_pck",
                                                                  "visibility_accuracy"))]
        for name, values in quality_.items()
    ]  # fmt: skip
    versions = [
        [str(v["version"]), v["status"] + (", serving" if v["version"] == report["serving"] else ""),
         str(v["parent"] or "-"), str(v["labels"]), *(f"{v['metrics'].get(m, float('nan')):.3f}" for m in METRICS)]
        for v in report["versions"]
    ]  # fmt: skip
    stages = [
        [str(r["round"]), str(r["frames"]), *(f"{r[f'{s}_s']:.0f} s" if r[f"{s}_s"] is not None else "-"
                                              for s in STAGES), f"{r['training_s']:.0f} s", f"{r['frames_per_s']:.2f}"]
        for r in report["throughput"]
    ]  # fmt: skip
    plan = report["plan"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Labelloop demo report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }}
h1 {{ margin-bottom: 0.2rem; }} .sub {{ color: #666; margin-top: 0; }}
table {{ border-collapse: collapse; margin: 0.6rem 0 1.4rem; font-size: 0.92rem; }}
th, td {{ border: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: right; }}
th {{ background: #f4f4f4; }} td:first-child, th:first-child {{ text-align: left; }}
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }} img {{ width: 100%; }}
</style></head><body>
<h1>Labelloop demo report</h1>
<p class="sub">{plan["rounds"]} rounds x {plan["clips_per_round"]} synthetic in-cabin clips, {report["seconds"]:.0f} s,
strategy {html.escape(plan["strategy"])} below {plan["threshold"]}, control arm {_pct(plan["control_fraction"])},
simulated annotator ({html.escape(cost["assumption"])}){"" if report["finished"] else " — <b>stopped early</b>"}.</p>
{headline}
<div class="grid">{img["fates"]}{img["learning"]}{img["quality"]}{img["progress"]}</div>
<h2>Label accuracy</h2>
<p>Against the hidden ground truth; the last row needs no truth: on the control arm, what people changed.</p>
{_table(["labels", "head precision", "head recall", "keypoint PCK@0.1", "visibility accuracy"], quality_rows)}
{points_html(report["quality_by_point"])}
<h2>What the audits said, and the truth</h2>
<p>Per round: the selector's estimate of its auto-accepted labels and the lower bound at its
confidence, from people's labels of audited frames only (frames chosen whatever their score), beside
their accuracy against the hidden truth, which the selector never sees. A bound in bold claimed more
than the truth. Cost saved counts the audits as labels people made.</p>
{audits_html(report["audits"])}
<h2>Annotator effort</h2>
{_effort_html(report["effort"])}
<h2>Model versions</h2>
<p>Evaluated on the fixed synthetic holdout (the new camera); a candidate is promoted only if no metric
is worse by more than the trainer's PROMOTE_TOLERANCE (the holdout's noise, 0.01 by default).</p>
{_table(["version", "status", "parent", "labels", *METRICS], versions)}
<h2>Throughput per round</h2>
<p>Seconds from the round's upload until the last frame was extracted, judged, labeled; then training.</p>
{_table(["round", "frames", "extracted", "judged", "labeled", "training", "frames/s to judged"], stages)}
{_photos_html(photos)}
<p class="sub">Dead letters: {html.escape(json.dumps(report["dead_letters"]))}. Raw numbers: report.json.</p>
</body></html>
"""
