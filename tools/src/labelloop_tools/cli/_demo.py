"""``labelloop demo``: run the loop on a fresh embedded stack, show it live, write the report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop.logs import get_logger
from labelloop.topology import StackNames
from labelloop_selector.for_tools import CalibrationStore
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from labelloop_tools.demo import report
from labelloop_tools.demo.loop import DemoLoop, DemoResult, Snapshot
from labelloop_tools.demo.plan import DemoPlan
from labelloop_tools.demo.showcase import Showcased, run_showcase
from labelloop_tools.local.stack import EmbeddedStack, local_clients

log = get_logger()


def render(snapshot: Snapshot) -> Group:
    """The live view: phase, frames per fate, queues, model versions."""
    o = snapshot.outcomes
    frames = Table(title="frames", show_edge=False)
    for column in ("clips", "extracted", "auto-accepted", "at people", "labeled by people", "audited"):
        frames.add_column(column, justify="right")
    people = o.get("human", 0) + o.get("control", 0)
    extracted = sum(o.values())
    cells = (snapshot.uploaded_clips, extracted, o.get("auto", 0), o.get("labeling", 0), people, o.get("control", 0))
    frames.add_row(*map(str, cells))
    queues = Table(title="queues", show_edge=False)
    for column in ("service", "waiting", "in flight", "dead letters"):
        queues.add_column(column, justify="left" if column == "service" else "right")
    for row in snapshot.queues:
        queues.add_row(row.service, str(row.waiting), str(row.in_flight),
                       f"[red]{row.dead_letters}[/]" if row.dead_letters else "0")  # fmt: skip
    models = Table(title="model versions", show_edge=False)
    for column in ("version", "status", "labels", "pose mAP50", "head mAP50"):
        models.add_column(column, justify="right")
    for v in snapshot.versions:
        status = v.status + (" [green](serving)[/]" if v.version == snapshot.serving else "")
        models.add_row(str(v.version), status, str(v.labels), f"{v.metrics.get('pose_map50', 0):.3f}",
                       f"{v.metrics.get('head_map50', 0):.3f}")  # fmt: skip
    training = "  [yellow](trainer busy)[/]" if snapshot.training else ""
    header = Text.from_markup(
        f"[bold]round {snapshot.round}/{snapshot.rounds}[/]  {snapshot.phase}{training}  "
        f"[dim]{snapshot.elapsed_s:.0f} s[/]"
    )
    return Group(header, frames, queues, models)


@dataclass
class DemoRun:
    """The demo driver's thread, started once the stack is up; it stops the stack when done."""

    plan: DemoPlan
    out: Path
    initial_models: Path
    console: Console
    real_set: Path | None = None
    """The real model set folder: its photos end the report (None: skipped)."""
    stop: threading.Event = field(default_factory=threading.Event)
    result: DemoResult | None = None
    report: dict[str, Any] | None = None
    html: Path | None = None
    _thread: threading.Thread | None = None

    def start(self, stack: EmbeddedStack) -> None:
        self._thread = threading.Thread(target=self._run, args=(stack,), name="demo", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Called as the stack stops (finished, or Ctrl-C): let the driver write its report first."""
        self.stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self, stack: EmbeddedStack) -> None:
        clients = local_clients(stack.endpoint_url)
        names = StackNames(stack.stack)
        live = Live(console=self.console, refresh_per_second=2, transient=False)
        interactive = self.console.is_terminal
        last_phase = ""

        def show(snapshot: Snapshot) -> None:
            nonlocal last_phase
            if interactive:
                live.update(render(snapshot))
            elif snapshot.phase != last_phase or snapshot.round == 0:
                self.console.print(f"round {snapshot.round}/{snapshot.rounds}: {snapshot.phase} "
                                   f"({snapshot.elapsed_s:.0f} s, {snapshot.outcomes})")  # fmt: skip
            last_phase = snapshot.phase

        loop = DemoLoop(self.plan, clients, names, workdir=self.out / "work", initial_models=self.initial_models,
                        on_progress=show, stop=self.stop)  # fmt: skip
        try:
            if interactive:
                live.start()
            self.result = loop.run()
        except Exception:
            log.exception("demo.failed")
        finally:
            if interactive:
                live.stop()
        photos = self._showcase(stack, loop) if self.result is not None and self.result.finished else []
        try:
            if self.result is not None:
                self.console.print("writing the report…")
                calibrations = CalibrationStore(
                    clients.dynamodb, names.physical("selector-state"), fixed_threshold=None
                )
                self.report = report.build(self.result, loop.ledger, clients.s3, calibrations)
                self.html = report.write(self.report, self.result, self.out, photos)
        except Exception:
            log.exception("demo.report_failed")
        finally:
            stack.stop()

    def _showcase(self, stack: EmbeddedStack, loop: DemoLoop) -> list[Showcased]:
        """The real set on the ultralytics wheel's two photos, in the same stack; [] if it cannot run."""
        if self.real_set is None or stack.triton_url is None:
            return []
        self.console.print(f"real photos through the real model set ({self.real_set})…")
        try:
            return run_showcase(loop.target, self.plan.modalities, self.real_set, repository=stack.model_repository,
                                triton_url=stack.triton_url, timeout_s=self.plan.round_timeout_s)  # fmt: skip
        except Exception:
            log.exception("demo.real_photos_failed")
            return []
