"""``labelloop jobs``: per labeling job and level, where the data objects are."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from labelloop.labeling_state import LabelingState

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
    state: str = "live"  # live, or failed: why replacing the job was given up

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def job_rows(target: Target) -> list[JobRow]:
    state = LabelingState(target.clients.dynamodb, target.names.physical("labeling"))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in state.objects():
        tally = counts[item.job_key]
        tally["sent"] += 1
        tally["completed" if item.status == "completed" else "in_portal"] += 1
        tally["expired"] += item.expiries
        tally["resent"] += item.resends
    rows = []
    for key in sorted(counts, key=lambda k: (k.rsplit("-l", 1)[1], k)):
        job = state.job(key)
        tally = counts[key]
        job_state = "?" if job is None else f"failed: {job.failure}" if job.failure else "live"
        rows.append(JobRow(key, job.job_name if job else "?", tally["sent"], tally["in_portal"],
                           tally["completed"], tally["expired"], tally["resent"], job_state))  # fmt: skip
    return rows


def retry_failed(target: Target, spec_keys: list[str]) -> list[str]:
    """Clear the failure of each named job, so gt-bridge's next sweep replaces it; the ones cleared."""
    state = LabelingState(target.clients.dynamodb, target.names.physical("labeling"))
    return [key for key in spec_keys if state.clear_failure(key)]
