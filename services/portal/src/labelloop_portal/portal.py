"""The portal's work loop: take tasks from each job's queue, let them be answered or expire, write
outputs in Ground Truth's S3 layout, and notify the job's output topic.

Ground Truth's rules, kept here:

* a job starts ``Initializing``; the portal creates the job's own queue on its input topic
  (Ground Truth's ``GroundTruth-<job>``), then marks it ``InProgress``;
* an object whose dedup id the job has seen is dropped (the same id never shows twice);
* at most ``MaxConcurrentTaskCount`` tasks are open; the rest wait in the queue;
* a task not answered within ``TaskAvailabilityLifetimeInSeconds`` expires: its output line
  carries ``failure-reason: ClientError: Annotation tasks expired``;
* a job idle for 10 days stops, for good.

Jobs, tasks and dedup ids live in DynamoDB only (:mod:`labelloop_portal.tasks`): a restarted portal
carries on where it stopped, and several portal processes can share the jobs. Outputs are immutable
S3 objects, one per object and kind, never a file rewritten in place.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict
from typing import Any

from botocore.exceptions import ClientError
from labelloop import AwsClients, StackNames, dead_letter_attributes, get_logger
from labelloop.clock import Clock
from labelloop.groundtruth import creation_date, expired_output_line, line_dedup_id
from labelloop.portal_api import IDLE_STOP_S, PortalJob, get_job, list_jobs, save_job
from labelloop.provision import subscribe_queue
from labelloop.s3_uri import split_s3_uri

from labelloop_portal.annotator import SimulatedAnnotator
from labelloop_portal.frame_links import FrameLinks
from labelloop_portal.label_studio import LabelStudioFront, ProjectDeletedError, answer_label, answer_of, rig_points
from labelloop_portal.label_studio_api import LabelStudioError
from labelloop_portal.propagation import CorrectionStore, corrections_in
from labelloop_portal.tasks import Task, TaskStore

log = get_logger()
RETENTION_S = 14 * 24 * 3600
REDELIVER_AFTER_S = 30.0
"""Wall seconds after which any portal process delivers a task another one closed and has not
delivered (it died in between): long enough that a live closer has finished by then."""


def output_line_key(job_base: str, object_id: int) -> str:
    """Where one object's output-manifest line lies. Ground Truth rewrites a single
    ``manifests/output/output.manifest``; rewriting it from several processes loses lines, so each line
    is an immutable object here, numbered so that listing the folder gives the manifest in object order
    (``cat`` of the objects is Ground Truth's file)."""
    return f"{job_base}/manifests/output/lines/{object_id:010d}.jsonl"


class TaskNotOpenError(KeyError):
    """The task was answered, expired or never existed."""


class Portal:
    def __init__(
        self,
        clients: AwsClients,
        names: StackNames,
        clock: Clock,
        annotator: SimulatedAnnotator | None,
        *,
        redeliver_after_s: float = REDELIVER_AFTER_S,
        label_studio: LabelStudioFront | None = None,
        propagate_window: int = 5,
    ) -> None:
        self._clients = clients
        self._names = names
        self._table = names.physical("portal")
        self._clock = clock
        self._annotator = annotator
        self._redeliver_after_s = redeliver_after_s
        self._label_studio = label_studio
        self.propagate_window = propagate_window
        # The loop and the web page's submissions share this process's counters and clients.
        self._lock = threading.RLock()
        self.counts = {"received": 0, "duplicates": 0, "answered": 0, "expired": 0, "invalid": 0}

    # -- what the web page reads -------------------------------------------------------------

    @property
    def dynamodb(self) -> Any:
        return self._clients.dynamodb

    @property
    def s3(self) -> Any:
        return self._clients.s3

    @property
    def table(self) -> str:
        return self._table

    @property
    def _tasks(self) -> TaskStore:
        # Built per use: a test may swap the clients (a throttling DynamoDB) between two ticks.
        return TaskStore(self._clients.dynamodb, self._table)

    @property
    def corrections(self) -> CorrectionStore:
        """People's corrections along tracks, which later tasks of a clip start from."""
        return CorrectionStore(self._clients.dynamodb, self._table)

    def now(self) -> float:
        return self._clock.now()

    @property
    def frame_links(self) -> FrameLinks | None:
        """The signed links Label Studio's tasks show their frames by; None without Label Studio."""
        return self._label_studio.frames if self._label_studio is not None else None

    def job_names(self) -> list[str]:
        return [job.name for job in list_jobs(self._clients.dynamodb, self._table)]

    def open_tasks(self, job_name: str) -> list[Task]:
        """The job's tasks waiting for an answer, by object number."""
        return sorted((t for t in self._tasks.unfinished(job_name) if t.status == "open"), key=lambda t: t.object_id)

    def task(self, job_name: str, object_id: int) -> Task | None:
        """One task in whatever state, read from the table (any portal process may have taken it in)."""
        return self._tasks.get(job_name, object_id)

    def tick(self) -> None:
        with self._lock:
            self._tick()

    def _tick(self) -> None:
        now = self._clock.now()
        for job in list_jobs(self._clients.dynamodb, self._table):
            try:
                self._tick_job(job, now)
            except ClientError as error:  # a throttle on one job's work: logged, retried next tick, others go on
                log.warning("portal.job_tick_failed", job=job.name, error=str(error))

    def _tick_job(self, job: PortalJob, now: float) -> None:
        if job.status == "Initializing":
            self._open(job, now)
        if job.status != "InProgress":
            return
        unfinished = self._tasks.unfinished(job.name)
        active = self._redeliver(job, unfinished)
        open_tasks = [t for t in unfinished if t.status == "open"]
        if job.labeler == "label-studio":
            closed = self._sync_label_studio(job, open_tasks, now)
            if closed is None:  # Label Studio is not there: take nothing new, let the open tasks expire
                self._expire(job, open_tasks, now)
                return
            active |= bool(closed)
            open_tasks = [t for t in open_tasks if t.object_id not in closed]
        taken = self._intake(job, len(unfinished), now)
        if taken and job.labeler == "label-studio":
            taken = self._show_in_label_studio(job, taken)
        open_tasks += taken
        active |= bool(taken)
        active |= self._answer(job, open_tasks, now)
        active |= self._expire(job, open_tasks, now)
        if active:
            job.last_activity_at = now
            save_job(self._clients.dynamodb, self._table, job)
        elif not unfinished and now - job.last_activity_at > IDLE_STOP_S:
            job.status = "Stopped"
            save_job(self._clients.dynamodb, self._table, job)
            log.info("portal.job_stopped_idle", job=job.name)

    # -- jobs ---------------------------------------------------------------------------------

    def _dlq_name(self, job: PortalJob) -> str:
        return self._names.physical(f"portal-{job.name}")[:76] + "-dlq"

    def _open(self, job: PortalJob, now: float) -> None:
        if job.labeler == "label-studio" and not self._label_studio_ready(job, []):
            return  # stays Initializing: gt-bridge keeps its objects until the project exists
        sqs = self._clients.sqs
        # Input that is not a manifest line goes here with its reason (as every service's does).
        dlq_url = sqs.create_queue(QueueName=self._dlq_name(job),
                                   Attributes={"MessageRetentionPeriod": str(RETENTION_S)})["QueueUrl"]  # fmt: skip
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=self._names.physical(f"portal-{job.name}")[:80],
            Attributes={
                "MessageRetentionPeriod": str(RETENTION_S),
                "VisibilityTimeout": "60",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        subscribe_queue(self._clients, job.input_topic_arn, url)
        job.queue_url, job.status, job.last_activity_at = url, "InProgress", now
        save_job(self._clients.dynamodb, self._table, job)
        log.info("portal.job_in_progress", job=job.name, queue=url)

    # -- intake -------------------------------------------------------------------------------

    def _intake(self, job: PortalJob, unfinished: int, now: float) -> list[Task]:
        """New tasks from the job's queue, while fewer than ``max_concurrent_tasks`` are unfinished.
        (Several portal processes count from the index each; together they may overshoot the bound by
        a batch, as the bound is a courtesy to people, not a guarantee anyone relies on.)"""
        room = job.max_concurrent_tasks - unfinished
        taken: list[Task] = []
        while room > 0:
            batch = self._clients.sqs.receive_message(
                QueueUrl=job.queue_url, MaxNumberOfMessages=min(10, room), WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            done = 0
            try:
                for message in batch:
                    task = self._take(job, message, now)
                    if task is not None:
                        taken.append(task)
                        room -= 1
                    done += 1
            finally:
                # Taken, dropped as duplicates or invalid (logged): done with. The rest (a write failed,
                # nothing of it stored) is shown again at once, for the next tick to take.
                self._settle(job, batch[:done], batch[done:])
        return taken

    def _settle(self, job: PortalJob, done: list[Any], undone: list[Any]) -> None:
        sqs = self._clients.sqs
        if done:
            sqs.delete_message_batch(QueueUrl=job.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
            ])  # fmt: skip
        if undone:
            sqs.change_message_visibility_batch(QueueUrl=job.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(undone)
            ])  # fmt: skip

    def _take(self, job: PortalJob, message: Any, now: float) -> Task | None:
        """One input message → a task, or None: dropped as a duplicate or invalid."""
        self.counts["received"] += 1
        try:
            line = json.loads(message["Body"])
            if not isinstance(line, dict) or not isinstance(line.get("source-ref"), str):
                raise ValueError("not a manifest line with a source-ref")
        except ValueError as error:
            self.counts["invalid"] += 1
            log.error("portal.invalid_input", job=job.name, reason=str(error), body=message["Body"][:200])
            dlq_url = self._clients.sqs.get_queue_url(QueueName=self._dlq_name(job))["QueueUrl"]
            self._clients.sqs.send_message(
                QueueUrl=dlq_url,
                MessageBody=message["Body"],
                MessageAttributes=dead_letter_attributes(f"invalid input line: {error}", job.queue_url),
            )
            return None
        dedup = line_dedup_id(line) or message["MessageId"]
        tasks = self._tasks
        if tasks.claimed(job.name, dedup):
            self.counts["duplicates"] += 1
            return None
        plan = self._annotator.plan(dedup) if self._annotator else None
        task = Task(
            job=job.name,
            object_id=tasks.next_object_id(job.name),
            dedup_id=dedup,
            line=line,
            created_at=now,
            expires_at=now + job.task_lifetime_s,
            answer_at=None if plan is None or plan.abandon else now + plan.delay_s,
        )
        if not tasks.claim_with_task(task):
            self.counts["duplicates"] += 1  # another portal process took it between the check and the write
            return None
        return task

    # -- outcomes -----------------------------------------------------------------------------

    def _answer(self, job: PortalJob, open_tasks: list[Task], now: float) -> bool:
        if self._annotator is None:
            return False
        due = [t for t in open_tasks if t.answer_at is not None and t.answer_at <= now and t.expires_at > now]
        for task in due:
            label = self._annotator.answer(task.dedup_id, task.line, job, now)
            if self._close_and_deliver(job, task, {**task.line, **label}, now, worker="simulated-annotator"):
                self.counts["answered"] += 1
        return bool(due)

    def submit(self, job: PortalJob, object_id: int, label: dict[str, Any], worker: str) -> None:
        """A person's answer from the web page. :class:`TaskNotOpenError` when the task is no longer open
        (answered in another tab, expired)."""
        with self._lock:
            task = self.task(job.name, object_id)
            if (
                task is None
                or task.status != "open"
                or not self._close_and_deliver(job, task, {**task.line, **label}, self._clock.now(), worker=worker)
            ):
                raise TaskNotOpenError(f"task {object_id} of {job.name} is not open")

    def _expire(self, job: PortalJob, open_tasks: list[Task], now: float) -> bool:
        gone = [t for t in open_tasks if t.expires_at <= now]
        for task in gone:
            self._expire_task(job, task, now)
        return bool(gone)

    def _expire_task(self, job: PortalJob, task: Task, now: float) -> None:
        line = expired_output_line(task.line, job.label_attribute, job.name, creation_date(now))
        if not self._close_and_deliver(job, task, line, now, worker=None):
            return
        self.counts["expired"] += 1
        if self._label_studio is not None and task.external_id is not None:
            try:  # nobody should answer it there any more; a leftover is only ignored when answered
                self._label_studio.withdraw(task)
            except LabelStudioError as error:
                log.warning("portal.label_studio_withdraw_failed", job=job.name, object_id=task.object_id,
                            error=str(error))  # fmt: skip

    # -- Label Studio -------------------------------------------------------------------------

    def _note_problem(self, job: PortalJob, problem: str) -> None:
        """Keep on the job why it takes no new tasks (``labelloop jobs`` shows it); logged once per change."""
        if problem == job.problem:
            return
        if problem:
            log.error("portal.label_studio_problem", job=job.name, problem=problem)
        else:
            log.info("portal.label_studio_back", job=job.name, was=job.problem)
        job.problem = problem
        save_job(self._clients.dynamodb, self._table, job)

    def _label_studio_ready(self, job: PortalJob, lines: list[dict[str, Any]]) -> bool:
        """The job's project exists (made now if needed) and its config has the lines' rig points."""
        if self._label_studio is None:
            self._note_problem(job, "this portal has no LABELLOOP_PORTAL_LABEL_STUDIO_URL and _TOKEN")
            return False
        try:
            if self._label_studio.ensure_project(job, rig_points(lines)):
                save_job(self._clients.dynamodb, self._table, job)
        except LabelStudioError as error:
            self._note_problem(job, str(error))
            return False
        return True

    def _sync_label_studio(self, job: PortalJob, open_tasks: list[Task], now: float) -> set[int] | None:
        """Poll the job's project when due: close answered tasks, expire deleted ones. The object ids it
        closed; None while Label Studio is unreachable or refuses us (the reason is on the job)."""
        front = self._label_studio
        if front is None or job.label_studio_project is None:
            return set() if self._label_studio_ready(job, []) else None
        if not front.poll_due(job):
            return None if job.problem else set()
        try:
            found = front.poll(job, open_tasks)
        except ProjectDeletedError as error:
            # Its tasks went with it: they expire (gt-bridge sends them again), and the job gets a new project.
            self._note_problem(job, f"{error}; its open tasks expire and a new project is made")
            for task in open_tasks:
                self._expire_task(job, task, now)
            job.label_studio_project, job.label_studio_keypoints = None, []
            save_job(self._clients.dynamodb, self._table, job)
            return {task.object_id for task in open_tasks}
        except LabelStudioError as error:
            self._note_problem(job, str(error))
            return None
        self._note_problem(job, "")
        if found.project_changed:  # the tasks it imported brought rig points the config lacked
            save_job(self._clients.dynamodb, self._table, job)
        for task, external_id in found.shown:
            self._tasks.shown(task, external_id)
        closed = set()
        for task, annotation in found.answered:
            if self._answer_from_label_studio(job, task, annotation, now):
                closed.add(task.object_id)
        for task in found.deleted:
            log.info("portal.label_studio_task_deleted", job=job.name, object_id=task.object_id)
            self._expire_task(job, task, now)
            closed.add(task.object_id)
        return closed

    def _show_in_label_studio(self, job: PortalJob, taken: list[Task]) -> list[Task]:
        """Import the tasks just taken; one that fails is shown by the next poll (it is stored already)."""
        front = self._label_studio
        try:
            if front is not None and self._label_studio_ready(job, [task.line for task in taken]):
                shown = front.show(job, taken)
                return [Task(**{**asdict(t), "external_id": i}) for t, i in shown if self._tasks.shown(t, i)]
        except LabelStudioError as error:
            self._note_problem(job, str(error))
        return taken

    def _answer_from_label_studio(self, job: PortalJob, task: Task, annotation: dict[str, Any], now: float) -> bool:
        label = answer_label(job, task.line, annotation, now)
        worker = f"label-studio:{annotation.get('completed_by', '?')}"
        if self._close_and_deliver(job, task, {**task.line, **label}, now, worker=worker):
            self.counts["answered"] += 1
            return True
        return False

    def label_studio_answered(self, external_id: int) -> bool:
        """A webhook said a Label Studio task was annotated: close the task it shows if it is still open
        (read back from Label Studio, so a forged payload cannot make up an answer). False: nothing to do."""
        if self._label_studio is None:
            return False
        ls_task = self._label_studio.client.task(external_id)
        data = (ls_task or {}).get("data") or {}
        job_name, object_id = data.get("labelloop_job"), data.get("labelloop_object")
        if ls_task is None or not isinstance(job_name, str) or not isinstance(object_id, int):
            return False
        annotation = answer_of(ls_task)
        with self._lock:
            job = get_job(self._clients.dynamodb, self._table, job_name)
            task = self.task(job_name, object_id)
            if job is None or annotation is None or task is None or task.status != "open":
                log.info("portal.label_studio_answer_ignored", job=job_name, object_id=object_id,
                         reason="skipped" if annotation is None else "task not open")  # fmt: skip
                return False
            return self._answer_from_label_studio(job, task, annotation, self._clock.now())

    def _close_and_deliver(
        self, job: PortalJob, task: Task, output: dict[str, Any], now: float, worker: str | None
    ) -> bool:
        """Decide the task's outcome (False: another process or path decided it first), then deliver it."""
        closing = self._tasks.close(task, output, worker, now, wall=time.time())
        if closing is None:
            return False
        self._deliver(job, closing)
        return True

    def _redeliver(self, job: PortalJob, unfinished: list[Task]) -> bool:
        """Deliver the tasks a process closed and then died before delivering."""
        stale = [
            t for t in unfinished if t.status == "closing" and time.time() - t.closing_since >= self._redeliver_after_s
        ]
        for task in stale:
            log.warning("portal.redelivering", job=job.name, object_id=task.object_id)
            self._deliver(job, task)
        return bool(stale)

    def _deliver(self, job: PortalJob, task: Task) -> None:
        """Write the closed task's outputs in Ground Truth's layout, notify, and mark it delivered. Every key
        is fixed by the task, so delivering twice writes the same objects."""
        if task.output is None or task.closed_at is None:
            raise ValueError(f"task {task.object_id} of {job.name} is not closed: nothing to deliver")
        bucket, prefix = split_s3_uri(job.output_s3_uri)
        base = f"{prefix.rstrip('/')}/{job.name}"
        stamp = creation_date(task.closed_at).replace(":", "-")
        s3 = self._clients.s3
        if task.worker is not None:
            response = {"answers": [{
                "workerId": task.worker,
                "answerContent": {job.label_attribute: task.output.get(job.label_attribute)},
                "acceptanceTime": creation_date(task.created_at), "submissionTime": creation_date(task.closed_at),
                "timeSpentInSeconds": round(task.closed_at - task.created_at, 1),
            }]}  # fmt: skip
            s3.put_object(Bucket=bucket, Key=f"{base}/annotations/worker-response/iteration-1/{task.object_id}/"
                          f"{stamp}.json", Body=json.dumps(response).encode())  # fmt: skip
        body = json.dumps(task.output)
        s3.put_object(Bucket=bucket, Key=f"{base}/annotations/consolidated-annotation/output/{task.object_id}/"
                      f"{stamp}.json", Body=body.encode())  # fmt: skip
        # Ground Truth rewrites one output.manifest; here each line is its own object (see output_line_key).
        s3.put_object(Bucket=bucket, Key=output_line_key(base, task.object_id), Body=(body + "\n").encode())
        self._clients.sns.publish(TopicArn=job.output_topic_arn, Message=body)
        if task.worker is not None and job.modality == "keypoints":
            self._record_corrections(job, task)
        self._tasks.delivered(task)

    def _record_corrections(self, job: PortalJob, task: Task) -> None:
        """Keep the answer's tracked persons for the clip's later tasks (propagation). Only a head start
        for people depends on it, never the label: a failed write is logged and the delivery goes on."""
        try:
            self.corrections.record(corrections_in(task.output or {}, job.label_attribute))
        except ClientError as error:
            log.warning("portal.correction_not_kept", job=job.name, object_id=task.object_id, error=str(error))
