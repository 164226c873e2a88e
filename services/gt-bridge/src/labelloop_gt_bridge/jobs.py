"""Keeps one live streaming job per configured modality and level.

A streaming job cannot be restarted once Stopped or Failed (Ground Truth stops one after 10 idle
days), so a dead job is replaced by a new incarnation on the same topics; objects in flight are
resent by the sweeper and the new job picks them up.
"""

from __future__ import annotations

from dataclasses import dataclass

from labelloop import AwsClients, StackNames, get_logger
from labelloop.errors import RetryableError
from labelloop.groundtruth import JobSpec
from labelloop.labeling_state import JobItem, LabelingState
from labelloop.provision import subscribe_queue

from labelloop_gt_bridge.backends import JobDefinition, LabelingBackend

log = get_logger()


class JobNotReadyError(RetryableError):
    """The job is not InProgress yet; Ground Truth drops what is published before that."""


@dataclass(frozen=True)
class ActiveJob:
    spec: JobSpec
    name: str
    input_topic: str
    output_topic: str


class JobManager:
    def __init__(
        self,
        *,
        clients: AwsClients,
        names: StackNames,
        state: LabelingState,
        backend: LabelingBackend,
        specs: tuple[JobSpec, ...],
        own_queue_url: str,
        output_s3_uri: str,
    ) -> None:
        self._clients = clients
        self._names = names
        self._state = state
        self._backend = backend
        self.specs = {spec.key: spec for spec in specs}
        self._queue_url = own_queue_url
        self._output_s3_uri = output_s3_uri

    def _topics(self, spec: JobSpec) -> tuple[str, str]:
        sns = self._clients.sns
        base = self._names.physical(f"labeling-{spec.key}")
        input_arn = sns.create_topic(Name=f"{base}-input")["TopicArn"]
        output_arn = sns.create_topic(Name=f"{base}-output")["TopicArn"]
        subscribe_queue(self._clients, output_arn, self._queue_url)
        return input_arn, output_arn

    def ensure(self, spec: JobSpec, now: float) -> JobItem:
        """The spec's live job: created on first use, replaced when found Stopped or Failed."""
        current = self._state.job(spec.key)
        if current is not None:
            status = self._backend.status(current.job_name)
            if status not in {"Stopped", "Failed", "Completed", None}:
                return current
            log.warning("gt_bridge.job_replaced", job=current.job_name, status=status)
        input_arn, output_arn = (current.input_topic, current.output_topic) if current else self._topics(spec)
        incarnation = current.incarnation + 1 if current else 1
        job = JobItem(spec.key, spec.job_name(self._names.stack, incarnation), incarnation, input_arn, output_arn)
        if self._state.record_job(job, current.incarnation if current else None):
            self._backend.create_job(JobDefinition(job.job_name, spec, input_arn, output_arn, self._output_s3_uri), now)
            log.info("gt_bridge.job_created", job=job.job_name, level=spec.level, modality=spec.modality)
            return job
        recorded = self._state.job(spec.key)  # another worker won the race: use its job
        if recorded is None:
            raise JobNotReadyError(f"job for {spec.key} was replaced concurrently; retrying")
        return recorded

    def live(self, spec_key: str, now: float) -> ActiveJob:
        """The job to publish to, which must be InProgress."""
        spec = self.specs[spec_key]
        job = self.ensure(spec, now)
        status = self._backend.status(job.job_name)
        if status != "InProgress":
            raise JobNotReadyError(f"labeling job {job.job_name} is {status}, not InProgress yet")
        return ActiveJob(spec, job.job_name, job.input_topic, job.output_topic)
