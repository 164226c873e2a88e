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

Tasks and dedup ids live in DynamoDB, so a restarted portal carries on where it stopped.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from labelloop import AwsClients, StackNames, dead_letter_attributes, get_logger
from labelloop.clock import Clock
from labelloop.groundtruth import creation_date, expired_output_line, line_dedup_id
from labelloop.portal_api import IDLE_STOP_S, PortalJob, list_jobs, save_job
from labelloop.provision import subscribe_queue
from labelloop.s3_uri import split_s3_uri

from labelloop_portal.annotator import SimulatedAnnotator

log = get_logger()
RETENTION_S = 14 * 24 * 3600


@dataclass
class Task:
    job: str
    object_id: int
    dedup_id: str
    line: dict[str, Any]
    created_at: float
    expires_at: float
    answer_at: float | None  # None: waits for a person (or was abandoned by the simulation)
    status: str = "open"


@dataclass
class JobTasks:
    open: dict[int, Task] = field(default_factory=dict)
    manifest_lines: list[str] = field(default_factory=list)


class Portal:
    def __init__(
        self, clients: AwsClients, names: StackNames, clock: Clock, annotator: SimulatedAnnotator | None
    ) -> None:
        self._clients = clients
        self._names = names
        self._table = names.physical("portal")
        self._clock = clock
        self._annotator = annotator
        self._jobs: dict[str, JobTasks] = {}
        # The loop and the web page's submissions touch the same open tasks.
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

    def now(self) -> float:
        return self._clock.now()

    def job_names(self) -> list[str]:
        with self._lock:
            return sorted(self._jobs)

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
        tasks = self._jobs.setdefault(job.name, JobTasks())
        active = self._intake(job, tasks, now)
        active |= self._answer(job, tasks, now)
        active |= self._expire(job, tasks, now)
        self._flush_manifest(job, tasks)
        if active:
            job.last_activity_at = now
            save_job(self._clients.dynamodb, self._table, job)
        elif not tasks.open and now - job.last_activity_at > IDLE_STOP_S:
            job.status = "Stopped"
            save_job(self._clients.dynamodb, self._table, job)
            log.info("portal.job_stopped_idle", job=job.name)

    # -- jobs ---------------------------------------------------------------------------------

    def _dlq_name(self, job: PortalJob) -> str:
        return self._names.physical(f"portal-{job.name}")[:76] + "-dlq"

    def _open(self, job: PortalJob, now: float) -> None:
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

    def _intake(self, job: PortalJob, tasks: JobTasks, now: float) -> bool:
        room = job.max_concurrent_tasks - len(tasks.open)
        taken = False
        while room > 0:
            batch = self._clients.sqs.receive_message(
                QueueUrl=job.queue_url, MaxNumberOfMessages=min(10, room), WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            done = 0
            try:
                for message in batch:
                    room -= self._take(job, tasks, message, now)
                    done += 1
            finally:
                # Taken, dropped as duplicates or invalid (logged): done with. The rest (a write failed,
                # nothing of it stored) is shown again at once, for the next tick to take.
                self._settle(job, batch[:done], batch[done:])
            taken = True
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

    def _take(self, job: PortalJob, tasks: JobTasks, message: Any, now: float) -> int:
        """One input message → a task (1), or dropped as a duplicate or invalid (0)."""
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
            return 0
        dedup = line_dedup_id(line) or message["MessageId"]
        if self._claimed(f"dedup#{job.name}#{dedup}"):
            self.counts["duplicates"] += 1
            return 0
        # An id drawn for an object that then fails to be stored is a gap in the numbering, nothing worse.
        object_id = self._next_object_id(job.name)
        plan = self._annotator.plan(dedup) if self._annotator else None
        task = Task(
            job=job.name,
            object_id=object_id,
            dedup_id=dedup,
            line=line,
            created_at=now,
            expires_at=now + job.task_lifetime_s,
            answer_at=None if plan is None or plan.abandon else now + plan.delay_s,
        )
        if not self._claim_with_task(f"dedup#{job.name}#{dedup}", task):
            self.counts["duplicates"] += 1  # another portal task took it between the check and the write
            return 0
        tasks.open[object_id] = task
        return 1

    def _claimed(self, key: str) -> bool:
        item = self._clients.dynamodb.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return "Item" in item

    def _claim_with_task(self, key: str, task: Task) -> bool:
        """The dedup id and its task in one transaction: a failure between two writes can no longer
        leave an id claimed without a task (an object never shown, every resend dropped). False: the
        id was claimed already."""
        try:
            self._clients.dynamodb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self._table, "Item": {"pk": {"S": key}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self._table, "Item": self._task_item(task)}},
            ])  # fmt: skip
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            if error.response["Error"]["Code"] == "TransactionCanceledException" and any(
                reason.get("Code") == "ConditionalCheckFailed" for reason in reasons
            ):
                return False
            raise
        return True

    def _next_object_id(self, job: str) -> int:
        result = self._clients.dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"seq#{job}"}},
            UpdateExpression="ADD next_id :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(result["Attributes"]["next_id"]["N"]) - 1

    @staticmethod
    def _task_item(task: Task) -> dict[str, Any]:
        return {"pk": {"S": f"task#{task.job}#{task.object_id}"}, "task": {"S": json.dumps(task.__dict__)}}

    def _save(self, task: Task) -> None:
        self._clients.dynamodb.put_item(TableName=self._table, Item=self._task_item(task))

    def load_open_tasks(self) -> None:
        """The open tasks saved in DynamoDB, so a restarted portal carries on where it stopped."""
        pages = self._clients.dynamodb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :t)",
            ExpressionAttributeValues={":t": {"S": "task#"}},
        )
        for page in pages:
            for item in page["Items"]:
                task = Task(**json.loads(item["task"]["S"]))
                if task.status == "open":
                    self._jobs.setdefault(task.job, JobTasks()).open[task.object_id] = task

    # -- outcomes -----------------------------------------------------------------------------

    def _answer(self, job: PortalJob, tasks: JobTasks, now: float) -> bool:
        if self._annotator is None:
            return False
        due = [t for t in tasks.open.values() if t.answer_at is not None and t.answer_at <= now and t.expires_at > now]
        for task in due:
            label = self._annotator.answer(task.dedup_id, task.line, job, now)
            self._finish(job, tasks, task, {**task.line, **label}, now, worker="simulated-annotator")
            self.counts["answered"] += 1
        return bool(due)

    def submit(self, job: PortalJob, object_id: int, label: dict[str, Any], worker: str) -> None:
        """A person's answer from the web page."""
        with self._lock:
            tasks = self._jobs.setdefault(job.name, JobTasks())
            task = tasks.open.get(object_id)
            if task is None:
                raise KeyError(f"task {object_id} of {job.name} is not open")
            self._finish(job, tasks, task, {**task.line, **label}, self._clock.now(), worker=worker)
            self._flush_manifest(job, tasks)

    def _expire(self, job: PortalJob, tasks: JobTasks, now: float) -> bool:
        gone = [t for t in tasks.open.values() if t.expires_at <= now]
        for task in gone:
            line = expired_output_line(task.line, job.label_attribute, job.name, creation_date(now))
            self._finish(job, tasks, task, line, now, worker=None)
            self.counts["expired"] += 1
        return bool(gone)

    def _finish(  # noqa: PLR0917 - one private call shape for answers, submissions and expiries
        self, job: PortalJob, tasks: JobTasks, task: Task, output: dict[str, Any], now: float, worker: str | None
    ) -> None:
        """Write the task's outputs in Ground Truth's layout, notify, and close the task."""
        bucket, prefix = split_s3_uri(job.output_s3_uri)
        base = f"{prefix.rstrip('/')}/{job.name}/annotations"
        stamp = creation_date(now).replace(":", "-")
        s3 = self._clients.s3
        if worker is not None:
            response = {"answers": [{
                "workerId": worker, "answerContent": {job.label_attribute: output.get(job.label_attribute)},
                "acceptanceTime": creation_date(task.created_at), "submissionTime": creation_date(now),
                "timeSpentInSeconds": round(now - task.created_at, 1),
            }]}  # fmt: skip
            s3.put_object(Bucket=bucket, Key=f"{base}/worker-response/iteration-1/{task.object_id}/{stamp}.json",
                          Body=json.dumps(response).encode())  # fmt: skip
        s3.put_object(Bucket=bucket, Key=f"{base}/consolidated-annotation/output/{task.object_id}/{stamp}.json",
                      Body=json.dumps(output).encode())  # fmt: skip
        self._clients.sns.publish(TopicArn=job.output_topic_arn, Message=json.dumps(output))
        task.status = "done" if worker is not None else "expired"
        self._save(task)
        tasks.open.pop(task.object_id, None)
        tasks.manifest_lines.append(json.dumps(output))

    def _flush_manifest(self, job: PortalJob, tasks: JobTasks) -> None:
        """Append this tick's lines to ``manifests/output/output.manifest`` (Ground Truth updates it periodically)."""
        if not tasks.manifest_lines:
            return
        bucket, prefix = split_s3_uri(job.output_s3_uri)
        key = f"{prefix.rstrip('/')}/{job.name}/manifests/output/output.manifest"
        try:
            existing = self._clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except ClientError:
            existing = ""
        body = existing + "".join(line + "\n" for line in tasks.manifest_lines)
        self._clients.s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        tasks.manifest_lines.clear()

    def open_tasks(self, job_name: str) -> list[Task]:
        with self._lock:
            return sorted(self._jobs.get(job_name, JobTasks()).open.values(), key=lambda t: t.object_id)
