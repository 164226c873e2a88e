"""Keeps one live streaming job per configured modality and level.

A streaming job cannot be restarted once Stopped or Failed (Ground Truth stops one after 10 idle
days), so a dead job is replaced by a new incarnation on the same topics; objects in flight are
resent by the sweeper and the new job picks them up.

A job that dies again before it ever ran (a wrong role, a deleted workteam) is not replaced on
every sweep: replacements back off by the shared :class:`~labelloop.retry.RetryPolicy`, and after
``max_replacements`` in a row the spec is marked failed with the reason (``labelloop jobs`` shows
it, a metric alarms) until an operator fixes the cause and clears it (``labelloop jobs --retry SPEC``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labelloop import AwsClients, StackNames, get_logger
from labelloop.errors import RetryableError
from labelloop.groundtruth import JobSpec, JobStatus
from labelloop.labeling_state import JobItem, LabelingState
from labelloop.provision import subscribe_queue
from labelloop.retry import RetryPolicy

from labelloop_gt_bridge.backends import JobDefinition, LabelingBackend

log = get_logger()


class JobNotReadyError(RetryableError):
    """The job is not InProgress yet; Ground Truth drops what is published before that."""


class JobFailedError(JobNotReadyError):
    """Replacing the job was given up after too many incarnations in a row died; the reason says why.

    Retryable: objects for it wait in the state table and go out once an operator has fixed it."""


DEAD = frozenset({"Stopped", "Failed", "Completed", None})
"""Statuses after which a job takes nothing more: replaced by a new incarnation."""


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
        replace_policy: RetryPolicy,
        max_replacements: int,
        on_failure: Callable[[str], None],
        topic_kms_key: str = "",
    ) -> None:
        self._clients = clients
        self._names = names
        self._state = state
        self._backend = backend
        self.specs = {spec.key: spec for spec in specs}
        self._queue_url = own_queue_url
        self._output_s3_uri = output_s3_uri
        self.replace_policy = replace_policy
        self.max_replacements = max_replacements
        self._on_failure = on_failure
        self._topic_kms_key = topic_kms_key

    def _topics(self, spec: JobSpec) -> tuple[str, str]:
        sns = self._clients.sns
        base = self._names.physical(f"labeling-{spec.key}")
        encrypted = {"KmsMasterKeyId": self._topic_kms_key} if self._topic_kms_key else {}
        input_arn = sns.create_topic(Name=f"{base}-input", Attributes=encrypted)["TopicArn"]
        output_arn = sns.create_topic(Name=f"{base}-output", Attributes=encrypted)["TopicArn"]
        subscribe_queue(self._clients, output_arn, self._queue_url)
        return input_arn, output_arn

    def ensure(self, spec: JobSpec, now: float) -> JobItem:
        """The spec's job: created on first use, replaced when found dead (with backoff, up to
        ``max_replacements`` in a row); JobFailedError once given up, JobNotReadyError while waiting."""
        return self._ensure(spec, now)[0]

    def _ensure(self, spec: JobSpec, now: float) -> tuple[JobItem, JobStatus | None]:
        """:meth:`ensure`, with the status it read of a job it kept (None: it created or adopted one)."""
        current = self._state.job(spec.key)
        if current is None:
            return self._incarnate(spec, None, now), None
        if current.failure:
            raise JobFailedError(f"labeling job {spec.key} failed: {current.failure}")
        status = self._backend.status(current.job_name)
        if status not in DEAD:
            if status == "InProgress" and current.replacements:  # it runs: the next death starts a fresh count
                self._state.update_job(spec.key, current.incarnation, replacements=0)
            return current, status
        if current.replacements >= self.max_replacements:
            reason = f"{current.replacements} incarnations in a row ended {status} before running"
            if self._state.update_job(spec.key, current.incarnation, replacements=current.replacements,
                                      failure=reason):  # fmt: skip
                log.error("gt_bridge.job_failed", job=current.job_name, spec=spec.key, reason=reason)
                self._on_failure(spec.key)
            raise JobFailedError(f"labeling job {spec.key} failed: {reason}")
        if now < current.replace_after:
            raise JobNotReadyError(
                f"labeling job {current.job_name} is {status}; replaced from {current.replace_after}"
            )
        log.warning("gt_bridge.job_replaced", job=current.job_name, status=status, replacements=current.replacements)
        return self._incarnate(spec, current, now), None

    def _incarnate(self, spec: JobSpec, current: JobItem | None, now: float) -> JobItem:
        """The spec's next job (the first, or one replacing ``current``), unless another worker made it first."""
        input_arn, output_arn = (current.input_topic, current.output_topic) if current else self._topics(spec)
        incarnation = current.incarnation + 1 if current else 1
        replacements = current.replacements + 1 if current else 0
        replace_after = now + self.replace_policy.delay_s(replacements) if replacements else 0.0
        job = JobItem(spec.key, spec.job_name(self._names.stack, incarnation), incarnation, input_arn, output_arn,
                      replacements=replacements, replace_after=replace_after)  # fmt: skip
        if self._state.record_job(job, current.incarnation if current else None):
            self._backend.create_job(JobDefinition(job.job_name, spec, input_arn, output_arn, self._output_s3_uri), now)
            log.info("gt_bridge.job_created", job=job.job_name, level=spec.level, modality=spec.modality)
            return job
        recorded = self._state.job(spec.key)  # another worker won the race: use its job
        if recorded is None:
            raise JobNotReadyError(f"job for {spec.key} was replaced concurrently; retrying")
        return recorded

    def heal_subscription(self, spec_key: str) -> None:
        """Re-assert that the job's output topic may deliver to our queue (a stack update that
        rewrote the queue's policy would otherwise leave gt-bridge deaf to the job's answers)."""
        if (current := self._state.job(spec_key)) is not None:
            subscribe_queue(self._clients, current.output_topic, self._queue_url)

    def live(self, spec_key: str, now: float) -> ActiveJob:
        """The job to publish to, which must be InProgress."""
        spec = self.specs[spec_key]
        job, status = self._ensure(spec, now)
        if status is None:  # created just now (here or by another worker): ask how it is
            status = self._backend.status(job.job_name)
        if status != "InProgress":
            raise JobNotReadyError(f"labeling job {job.job_name} is {status}, not InProgress yet")
        return ActiveJob(spec, job.job_name, job.input_topic, job.output_topic)
