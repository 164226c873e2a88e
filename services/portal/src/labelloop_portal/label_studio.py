"""Label Studio as the place people answer a job's tasks: the portal keeps one project per job in step.

The portal still does everything Ground Truth's protocol asks (its job queue, dedup ids, the bound on
open tasks, expiry, outputs in S3 and on the output topic: :mod:`labelloop_portal.portal`); this
module only mirrors its open tasks into Label Studio and reads the answers back:

* **a project per job**, made when the job opens, titled after the job, its labeling config from the
  rig of the lines it shows (:mod:`labelloop_portal.label_studio_regions`; a rig point that arrives
  later is added to the config), with a webhook when the portal can be reached;
* **a task per open task**, its frame a signed link to the portal (:mod:`labelloop_portal.frame_links`;
  re-linked by the poll when the portal's URL or key changed), pre-annotated with the model's labels (its
  model versions and score) or, at level 2, with the level-1 answer;
* **an answer** (an annotation that was not skipped) closes the task through the same path as an answer
  at the portal's page: by webhook at once, or by the poll every ``label_studio_poll_s``;
* **a task deleted in Label Studio** counts as expired, and so does every task of a project deleted
  there (the job gets a new project and goes on);
* **Label Studio unreachable or refusing the token**: the job takes no new tasks, so messages wait in
  its queue (nothing is dead-lettered); the reason is on the job (``labelloop jobs`` shows it) and in
  the log, once per change; the poll tries again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labelloop import get_logger
from labelloop.groundtruth import FRAME_ATTRIBUTE, judgement
from labelloop.portal_api import PortalJob
from labelloop.rig import COCO17

from labelloop_portal.frame_links import FrameLinks
from labelloop_portal.label_studio_api import LabelStudioClient, LabelStudioError, LabelStudioNotFoundError
from labelloop_portal.label_studio_regions import labeling_config, persons_from_results, prediction_results
from labelloop_portal.labels import head_content, keypoints_content, output_label
from labelloop_portal.persons import person_boxes_metadata, starting_persons

if TYPE_CHECKING:
    from labelloop_portal.tasks import Task

log = get_logger()
WEBHOOK_HEADER = "X-Labelloop-Webhook-Secret"
WEBHOOK_ACTIONS = ["ANNOTATION_CREATED", "ANNOTATION_UPDATED"]


class ProjectDeletedError(LabelStudioNotFoundError):
    """The job's project is gone from Label Studio (deleted by someone there)."""


@dataclass
class PollResult:
    """What one poll of a job's project found among its open tasks."""

    answered: list[tuple[Task, dict[str, Any]]] = field(default_factory=list)  # with the annotation
    deleted: list[Task] = field(default_factory=list)  # gone from Label Studio: they expire
    shown: list[tuple[Task, int]] = field(default_factory=list)  # newly shown, or found shown: their task ids
    project_changed: bool = False  # its config took new rig points (the job is to be saved)


def rig_points(lines: Iterable[dict[str, Any]]) -> list[str]:
    """The keypoint names the lines' frames carry (their rig's), each once, in order."""
    names = (str(name) for line in lines for name in (line.get(FRAME_ATTRIBUTE) or {}).get("keypoint_names", []))
    return list(dict.fromkeys(names))


def answer_label(job: PortalJob, line: dict[str, Any], annotation: dict[str, Any], now: float) -> dict[str, Any]:
    """A Label Studio annotation as the job's output label, the shape a portal page's answer has."""
    frame = line.get(FRAME_ATTRIBUTE) or {}
    width, height = int(frame.get("width", 0)), int(frame.get("height", 0))
    persons = persons_from_results(annotation.get("result") or [], job.modality)
    boxes = [person["box"] for person in persons]
    started = starting_persons(line, job.modality, job.level)
    if job.modality == "head":
        content = head_content(width, height, [box for box in boxes if box])
        extra: dict[str, Any] = {}
    else:
        points = [{**point, "person": index} for index, person in enumerate(persons) for point in person["points"]]
        content = keypoints_content(width, height, points)
        # A pre-annotated person keeps its number in Label Studio, so its track (and what was said of it) too.
        kept = [started[p["number"]] if p["number"] < len(started) else {} for p in persons]
        extra = {"persons": person_boxes_metadata(boxes, [k.get("track") for k in kept],
                                                  [k.get("attributes") or {} for k in kept])}  # fmt: skip
    effort = {"seconds": round(float(annotation.get("lead_time") or 0.0), 1),
              "persons-added": max(0, len(persons) - len(started)),
              "persons-deleted": max(0, len(started) - len(persons))}  # fmt: skip
    return output_label(job, content, now, line, effort=effort, **extra)


def answer_of(ls_task: dict[str, Any]) -> dict[str, Any] | None:
    """The task's latest annotation that was not skipped, or None."""
    kept = [a for a in ls_task.get("annotations") or [] if not a.get("was_cancelled")]
    return max(kept, key=lambda a: (str(a.get("updated_at", "")), int(a.get("id", 0)))) if kept else None


class LabelStudioFront:
    def __init__(
        self,
        client: LabelStudioClient,
        frames: FrameLinks,
        *,
        webhook_url: str = "",
        webhook_secret: str = "",
        poll_s: float = 30.0,
    ) -> None:
        self.client = client
        self.frames = frames
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        self._poll_s = poll_s
        self._polled_at: dict[str, float] = {}  # job → wall time of its last poll (this process's)

    # -- the project ----------------------------------------------------------------------------

    def ensure_project(self, job: PortalJob, keypoints: list[str]) -> bool:
        """Make the job's project if it has none, or add rig points its config lacks; True if the job changed."""
        wanted = list(job.label_studio_keypoints) + [k for k in keypoints if k not in job.label_studio_keypoints]
        if job.label_studio_project is None:
            names = wanted or list(COCO17.keypoints)
            title = f"{job.name} ({job.modality}, level {job.level})"
            job.label_studio_project = self.client.create_project(
                title, labeling_config(job.modality, names), description=f"Labelloop labeling job {job.name}"
            )
            job.label_studio_keypoints = names
            log.info("portal.label_studio_project_created", job=job.name, project=job.label_studio_project)
            self._add_webhook(job, job.label_studio_project)
            return True
        if job.modality == "keypoints" and wanted != job.label_studio_keypoints:
            self.client.set_label_config(job.label_studio_project, labeling_config(job.modality, wanted))
            added = wanted[len(job.label_studio_keypoints) :]
            log.info("portal.label_studio_config_extended", job=job.name, added=added)
            job.label_studio_keypoints = wanted
            return True
        return False

    def _add_webhook(self, job: PortalJob, project: int) -> None:
        """Ask Label Studio to call us on each answer. Refused (its SSRF guard, an instance that cannot reach
        us) or failed, the project stands and the poll collects the answers: raising here would lose the
        project just made, and the next tick would make another."""
        if not self._webhook_url:
            return
        try:
            self.client.add_webhook(project, self._webhook_url, {WEBHOOK_HEADER: self._webhook_secret}, WEBHOOK_ACTIONS)
        except LabelStudioError as error:
            log.warning("portal.label_studio_webhook_refused", job=job.name, project=project, error=str(error),
                        fallback=f"polling every {self._poll_s:g} s")  # fmt: skip

    # -- tasks ----------------------------------------------------------------------------------

    def _task_data(self, job: PortalJob, task: Task) -> dict[str, Any]:
        link = self.frames.link(job.name, task.object_id, expires=int(task.expires_at) + 1)
        return {"image": link, "source_ref": task.line["source-ref"], "labelloop_job": job.name,
                "labelloop_object": task.object_id}  # fmt: skip

    def _import(self, job: PortalJob, task: Task) -> dict[str, Any]:
        frame = task.line.get(FRAME_ATTRIBUTE) or {}
        width, height = int(frame.get("width", 0)), int(frame.get("height", 0))
        result = prediction_results(starting_persons(task.line, job.modality, job.level), job.modality, width, height)
        judged = judgement(task.line)
        version = "level-1 answer" if job.level == 2 else ",".join(
            f"{slot}:{v}" for slot, v in sorted((judged.get("model_versions") or {}).items())
        ) or "model"  # fmt: skip
        prediction: dict[str, Any] = {"model_version": version, "result": result}
        if job.level == 1 and judged.get("score") is not None:
            prediction["score"] = float(judged["score"])
        return {"data": self._task_data(job, task), "predictions": [prediction]}

    def show(self, job: PortalJob, tasks: list[Task]) -> list[tuple[Task, int]]:
        """Import ``tasks`` into the job's project, which :meth:`ensure_project` made ready for their rig
        points; each with its Label Studio task id."""
        if not tasks:
            return []
        project = job.label_studio_project
        if project is None:
            raise ProjectDeletedError(f"job {job.name} has no Label Studio project")
        ids = self.client.import_tasks(project, [self._import(job, task) for task in tasks])
        return list(zip(tasks, ids, strict=True))

    def withdraw(self, task: Task) -> None:
        """Take an expired task out of Label Studio (nobody should answer it there any more)."""
        if task.external_id is not None:
            self.client.delete_task(task.external_id)

    def poll_due(self, job: PortalJob) -> bool:
        return time.time() - self._polled_at.get(job.name, 0.0) >= self._poll_s

    def poll(self, job: PortalJob, open_tasks: list[Task]) -> PollResult:
        """Read the job's project: answers, deletions, tasks shown but not recorded (a crash between the
        import and the write), tasks never shown (an import that failed); image links renewed.
        :class:`ProjectDeletedError` when the project is gone."""
        project = job.label_studio_project
        if project is None:
            raise ProjectDeletedError(f"job {job.name} has no Label Studio project")
        self._polled_at[job.name] = time.time()  # a failed poll, too, waits poll_s for the next
        try:
            self.client.project(project)
        except LabelStudioNotFoundError:
            raise ProjectDeletedError(f"Label Studio project {project} of {job.name} was deleted") from None
        listed = self.client.tasks(project)
        by_object: dict[int, dict[str, Any]] = {}
        for ls_task in listed:
            data = ls_task.get("data") or {}
            if data.get("labelloop_job") == job.name and isinstance(data.get("labelloop_object"), int):
                by_object.setdefault(data["labelloop_object"], ls_task)
        result = PollResult()
        unshown: list[Task] = []
        for task in open_tasks:
            found = by_object.get(task.object_id)
            if found is None:
                (result.deleted if task.external_id is not None else unshown).append(task)
                continue
            if task.external_id != found["id"]:
                result.shown.append((task, int(found["id"])))
            if (annotation := answer_of(found)) is not None:
                result.answered.append((task, annotation))
            elif (data := self._task_data(job, task))["image"] != (found.get("data") or {}).get("image"):
                self.client.set_task_data(int(found["id"]), data)  # the portal moved, or its key changed
        if unshown:
            result.project_changed = self.ensure_project(job, rig_points(task.line for task in unshown))
            result.shown += self.show(job, unshown)
        return result
