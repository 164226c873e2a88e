"""The demo's driver: render clips with hidden truth, upload them round by round, and wait for
the stack to carry every frame through ingest → inference → selection → labeling → training.

It only does what a user would: put files in S3 and watch. Everything else is the services'.
Between rounds it waits for the trainer to finish (so the next round is judged by the model the
previous labels made); meanwhile, if asked, it trains the random arm on a thread of its own: the
same training on as many frames drawn at random and labeled from the truth, the baseline active
learning must beat. The arm needs a round's frames, not the loop's model, so it does not hold the
loop up.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelloop.logs import get_logger
from labelloop.model_registry import Registry, VersionRecord
from labelloop.model_set import MODEL_SET, ModelName
from labelloop.synth.clips import store_truth, write_clip
from labelloop.truth_layout import TruthReader, truth_line
from labelloop.uploads import key_for, metadata_for

from labelloop_tools.cli._status import QueueRow, queue_rows
from labelloop_tools.cli._target import Target
from labelloop_tools.demo.ledger import Ledger
from labelloop_tools.demo.plan import DemoPlan

if TYPE_CHECKING:
    from labelloop.aws import AwsClients
    from labelloop.topology import StackNames

log = get_logger()


@dataclass
class Sample:
    """Cumulative counts at one moment (the throughput plot)."""

    t: float
    uploaded_clips: int
    extracted: int
    judged: int
    labeled: int


@dataclass
class RoundRecord:
    round: int
    uploads: list[str]
    frames: int
    outcomes: dict[str, int]
    human_frames_total: int
    serving_after: int | None
    newest_version: int | None
    started_s: float
    settled_s: float = 0.0
    trained_s: float = 0.0
    random_arm: dict[str, Any] | None = None


@dataclass
class Snapshot:
    """What the live display shows."""

    phase: str
    round: int
    rounds: int
    elapsed_s: float
    uploaded_clips: int
    outcomes: dict[str, int]
    queues: list[QueueRow]
    versions: list[VersionRecord]
    serving: int | None
    training: bool


@dataclass
class DemoResult:
    plan: DemoPlan
    rounds: list[RoundRecord] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    versions: list[VersionRecord] = field(default_factory=list)
    serving: int | None = None
    dead_letters: dict[str, int] = field(default_factory=dict)
    finished: bool = False
    seconds: float = 0.0


class DemoStoppedError(Exception):
    """Ctrl-C, or a round that did not settle in time."""


class DemoLoop:
    def __init__(
        self,
        plan: DemoPlan,
        clients: AwsClients,
        names: StackNames,
        *,
        workdir: Path,
        initial_models: Path,
        on_progress: Callable[[Snapshot], None],
        stop: threading.Event,
    ) -> None:
        self.plan = plan
        self._clients = clients
        self._names = names
        self._workdir = workdir
        self._initial_models = initial_models
        self._on_progress = on_progress
        self._stop = stop
        self.target = Target(clients, names, None, None)
        self.ledger = Ledger(clients, names, plan.modalities)
        self.registry = Registry(clients.dynamodb, names.physical("models"))
        self.uploads: list[str] = []
        self.result = DemoResult(plan)
        self._began = time.monotonic()
        self._phase = "starting"
        self._round = 0
        self._rng = random.Random(plan.seed)  # noqa: S311 - a reproducible draw for the random arm
        self._random_picked: list[str] = []
        self._random_weights: dict[ModelName, Path] | None = None
        self._random_root: Path | None = None  # the arm's latest training (datasets, runs, weights)
        # The random arm trains beside the loop (it needs a round's frames, not its model), one
        # round after another on this single thread; run() waits for the last one.
        self._random_arm_runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="random-arm")
        self._random_arm_rounds: list[Future[None]] = []

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> DemoResult:
        try:
            for round_no in range(1, self.plan.rounds + 1):
                self._round = round_no
                self.result.rounds.append(self._run_round(round_no))
            self._phase = "training the random arm"
            for arm_round in self._random_arm_rounds:
                self._wait(arm_round.done, time.monotonic() + self.plan.round_timeout_s, "the random arm")
                arm_round.result()  # its failure is the demo's
            self.result.finished = True
        except DemoStoppedError as stopped:
            log.warning("demo.stopped", reason=str(stopped), round=self._round)
        finally:
            self._random_arm_runner.shutdown(wait=True, cancel_futures=True)
            if self._random_root is not None:  # ~40 MB of datasets and runs per round; the metrics are kept
                shutil.rmtree(self._random_root, ignore_errors=True)
            self.result.seconds = time.monotonic() - self._began
            self.result.versions = self.registry.versions()
            self.result.serving = self.registry.serving()
            self.result.dead_letters = {row.service: row.dead_letters for row in queue_rows(self.target)}
        return self.result

    def _run_round(self, round_no: int) -> RoundRecord:
        started = self._elapsed()
        self._phase = "rendering clips"
        keys = [self._render_and_upload(round_no, clip) for clip in range(self.plan.clips_per_round)]
        self._phase = "ingest → inference → selection → labeling"
        deadline = time.monotonic() + self.plan.round_timeout_s
        self._wait(lambda: self._round_settled(set(keys)), deadline, "the round's frames")
        round_frames = [r for r in self.ledger.frames.values() if r.upload_key in set(keys)]
        fates = [r.outcome(self.plan.modalities) for r in round_frames]
        record = RoundRecord(
            round=round_no,
            uploads=keys,
            frames=len(round_frames),
            outcomes={fate: fates.count(fate) for fate in ("auto", "human", "control")},
            human_frames_total=0,
            serving_after=None,
            newest_version=None,
            started_s=started,
            settled_s=self._elapsed(),
        )
        record.human_frames_total = self._human_frames()
        if self.plan.random_arm and record.human_frames_total:
            # The same number of frames, drawn now (the ledger is only read on this thread).
            picked = self._draw_random_frames(record.human_frames_total)
            self._random_arm_rounds.append(self._random_arm_runner.submit(self._train_random_arm, picked, record))
        self._phase = "training"
        self._wait(self._trained, deadline + self.plan.round_timeout_s, "the training round")
        record.trained_s = self._elapsed()
        record.serving_after = self.registry.serving()
        record.newest_version = max((v.version for v in self.registry.versions()), default=None)
        return record

    # -- clips --------------------------------------------------------------------------------

    def _render_and_upload(self, round_no: int, clip: int) -> str:
        plan = self.plan
        name = f"demo-r{round_no:02d}-c{clip:02d}.mp4"
        path = self._workdir / "clips" / name
        rendered = write_clip(path, plan.seed * 10_000 + round_no * 100 + clip, seconds=plan.clip_seconds,
                              fps=plan.clip_fps, camera=plan.camera)  # fmt: skip
        key = key_for(name)
        s3, data = self._clients.s3, self._names.physical("data")
        store_truth(s3, data, key, rendered, plan.clip_fps)  # before the upload: the annotator may need it at once
        extra = {"Metadata": metadata_for(fps=plan.sample_fps), "ContentType": "video/mp4"}
        s3.upload_file(str(path), self._names.physical("uploads"), key, ExtraArgs=extra)
        self.uploads.append(key)
        return key

    # -- waiting ------------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return time.monotonic() - self._began

    def _wait(self, done: Callable[[], bool], deadline: float, what: str) -> None:
        while not done():
            if self._stop.wait(1.0):
                raise DemoStoppedError("stopped by the user")
            if time.monotonic() > deadline:
                raise DemoStoppedError(f"{what} did not finish in time; see `labelloop status` and the logs")

    def _round_settled(self, keys: set[str]) -> bool:
        self._sample()
        return len(self.ledger.clips_of(keys)) == len(keys) and self.ledger.settled()

    def _human_frames(self) -> int:
        return sum(r.outcome(self.plan.modalities) in ("human", "control") for r in self.ledger.frames.values())

    def _trained(self) -> bool:
        """Every label people gave was counted and consumed by a finished training."""
        self._sample()
        expected = self._human_frames() * len(self.plan.modalities)
        return (
            self.registry.labels_counted() >= expected
            and self.registry.labels() == 0
            and self.registry.training_owner() is None
        )

    def _sample(self) -> None:
        self.ledger.refresh(set(self.uploads))
        outcomes = self.ledger.outcomes()
        judged = sum(outcomes[k] for k in ("auto", "human", "control", "labeling", "deferred"))
        labeled = outcomes["human"] + outcomes["control"]
        self.result.samples.append(Sample(self._elapsed(), len(self.uploads), len(self.ledger.frames), judged, labeled))
        self._on_progress(
            Snapshot(
                phase=self._phase,
                round=self._round,
                rounds=self.plan.rounds,
                elapsed_s=self._elapsed(),
                uploaded_clips=len(self.uploads),
                outcomes={str(k): v for k, v in outcomes.items()},
                queues=queue_rows(self.target),
                versions=self.registry.versions(),
                serving=self.registry.serving(),
                training=self.registry.training_owner() is not None,
            )
        )

    # -- the random arm -----------------------------------------------------------------------

    def _draw_random_frames(self, budget: int) -> list[str]:
        """The random arm's frames after this round: the previous ones, topped up at random from every
        frame extracted so far to as many as people labeled so far."""
        pool = sorted(set(self.ledger.frames) - set(self._random_picked))
        self._random_picked += self._rng.sample(pool, min(len(pool), budget - len(self._random_picked)))
        return list(self._random_picked)

    def _train_random_arm(self, picked: list[str], record: RoundRecord) -> None:
        """The frames labeled from the truth, trained and evaluated exactly like the loop's models,
        from the arm's previous weights; the metrics go into the round's record."""
        os.environ.setdefault("YOLO_VERBOSE", "False")  # Ultralytics' console output would run over the live view
        try:
            from labelloop_trainer.for_tools import TrainerSettings, train_comparison  # noqa: PLC0415 - needs the trainer
        except ImportError:
            log.warning("demo.random_arm_skipped", reason="the trainer package is not installed")
            return
        truths = TruthReader(self._clients.s3)
        lines = [truth_line(t, uri) for uri in picked if (t := truths.truth(uri)) is not None]
        plan = self.plan
        settings = TrainerSettings(stack=self._names.stack, epochs=plan.epochs, holdout_size=plan.holdout_size,
                                   holdout_camera=plan.camera, initial_models=self._initial_models)  # fmt: skip
        parent = self._random_weights or {m: self._initial_models / f"{m}.pt" for m in MODEL_SET}
        root = Path(tempfile.mkdtemp(prefix=f"random-arm-{self._round}-", dir=self._workdir))
        weights, metrics = train_comparison(settings, self._clients.s3, lines, parent, root)
        if self._random_root is not None:  # its weights were this round's parent; done with them
            shutil.rmtree(self._random_root, ignore_errors=True)
        self._random_root, self._random_weights = root, weights
        log.info("demo.random_arm", labels=len(lines), metrics=metrics)
        record.random_arm = {"frames": len(lines), "metrics": metrics}
