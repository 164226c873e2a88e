"""``labelloop jobs``: per labeling job and level, where the data objects are."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError
from labelloop.labeling_state import JobItem, LabelingState
from labelloop.portal_api import get_job

from labelloop_tools.cli._target import Target


@dataclass(frozen=True)
class JobRow:
    job: str  # the spec key, e.g. keypoints-l2
    job_name: str  # the live incarnation
    sent: int  # objects ever sent to the job
    in_portal: int  # sent and not labeled yet
    completed: int
    expired: int  # task expiries (each answered by a send with a new dedup id)
    resent: int  # resends with the same dedup id (retention sweeps)
    failed: int = 0  # objects given up after their tasks kept failing (their lines are dead-lettered)
    stuck: int = 0  # sent, yet out to no running job: never published, or their job failed
    state: str = "live"  # live; waiting: why the portal takes no new tasks; failed: why replacing it was given up

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _portal_state(target: Target, job: JobItem) -> str:
    """live, or why the portal's job takes no new tasks (Label Studio unreachable, a token refused...)."""
    try:
        portal_job = get_job(target.clients.dynamodb, target.names.physical("portal"), job.job_name)
    except ClientError:  # a stack without the portal's table (the Ground Truth backend on ECS)
        return "live"
    return f"waiting: {portal_job.problem}" if portal_job is not None and portal_job.problem else "live"


def job_rows(target: Target) -> list[JobRow]:
    state = LabelingState(target.clients.dynamodb, target.names.physical("labeling"))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    jobs = {}
    for item in state.objects():
        if item.job_key not in jobs:
            jobs[item.job_key] = state.job(item.job_key)
        job = jobs[item.job_key]
        tally = counts[item.job_key]
        tally["sent"] += 1
        tally[{"completed": "completed", "failed": "failed"}.get(item.status, "in_portal")] += 1
        tally["expired"] += item.expiries
        tally["resent"] += item.resends
        tally["stuck"] += item.status == "sent" and (item.sent_at == 0 or job is None or bool(job.failure))
    rows = []
    for key in sorted(counts, key=lambda k: (k.rsplit("-l", 1)[1], k)):
        job, tally = jobs[key], counts[key]
        job_state = "?" if job is None else f"failed: {job.failure}" if job.failure else _portal_state(target, job)
        rows.append(JobRow(key, job.job_name if job else "?", tally["sent"], tally["in_portal"], tally["completed"],
                           tally["expired"], tally["resent"], tally["failed"], tally["stuck"], job_state))  # fmt: skip
    return rows


def retry_failed(target: Target, spec_keys: list[str]) -> list[str]:
    """Clear the failure of each named job, so gt-bridge's next sweep replaces it; the ones cleared."""
    state = LabelingState(target.clients.dynamodb, target.names.physical("labeling"))
    return [key for key in spec_keys if state.clear_failure(key)]
