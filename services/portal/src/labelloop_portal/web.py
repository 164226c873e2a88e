"""The portal's web page for people: a task list, and a canvas to adjust boxes and skeletons.

Served by the portal process (FastAPI under uvicorn, on a thread beside the work loop). A task page
shows the frame pre-annotated with the model's labels (level 1; a person of a track corrected in a
nearby frame starts from that correction, :mod:`labelloop_portal.propagation`) or with the level-1
labels to adjust (level 2), and the clip's frame before (or the one a correction came from). A person
drags points and boxes, sets each point visible, occluded or outside, and submits. The answer goes
through the same path as the simulated annotator's.
"""

from __future__ import annotations

import hmac
import html
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from labelloop.frame_layout import neighbour_uri
from labelloop.groundtruth import FRAME_ATTRIBUTE, PREFILL_ATTRIBUTE
from labelloop.logs import get_logger
from labelloop.portal_api import PortalJob, get_job
from labelloop.s3_uri import split_s3_uri
from pydantic import BaseModel, Field

from labelloop_portal.frame_links import FRAMES_PATH
from labelloop_portal.label_studio import WEBHOOK_HEADER
from labelloop_portal.label_studio_api import LabelStudioError
from labelloop_portal.labels import head_content, keypoints_content, output_label
from labelloop_portal.persons import person_boxes_metadata, persons_of, starting_persons
from labelloop_portal.portal import TaskNotOpenError
from labelloop_portal.propagation import propagated, with_track_attributes

if TYPE_CHECKING:
    from labelloop_portal.portal import Portal
    from labelloop_portal.tasks import Task

log = get_logger()
WEBHOOK_PATH = "/label-studio/webhook"
LABEL_STUDIO_PATHS = "/label-studio/"
"""Where Label Studio (its server, its page) reaches the portal without the portal's own sign-in."""
TASK_PAGE = resources.files("labelloop_portal").joinpath("static/task.html").read_text()


class BoxIn(BaseModel):
    left: float
    top: float
    width: float = Field(ge=0)
    height: float = Field(ge=0)


class PointIn(BaseModel):
    label: str
    x: float
    y: float
    visibility: Literal["visible", "occluded", "outside"]
    person: int = Field(default=0, ge=0)


class Effort(BaseModel):
    """What the page measured of the person's work on the task (the report's annotator effort)."""

    seconds: float = Field(ge=0)
    points_moved: int = Field(default=0, ge=0)
    boxes_changed: int = Field(default=0, ge=0)
    persons_added: int = Field(default=0, ge=0)
    persons_deleted: int = Field(default=0, ge=0)
    visibility_changes: int = Field(default=0, ge=0)
    changed_points: list[str] | None = Field(default=None, description="Level 2: 'person/point' the adjuster changed.")


class Answer(BaseModel):
    boxes: list[BoxIn] | None = None
    keypoints: list[PointIn] | None = None
    person_boxes: list[BoxIn | None] | None = Field(default=None, description="Each person's box, by person number.")
    person_tracks: list[int | None] | None = Field(
        default=None, description="Each person's track in the clip, by person number (kept from the model's person)."
    )
    person_attributes: list[dict[str, str]] | None = Field(
        default=None, description="Each person's track attributes (the rig's: seat, glasses...), by person number."
    )
    effort: Effort | None = None


def _metadata_extra(answer: Answer) -> dict[str, Any]:
    """The answer's person boxes, effort and (level 2) changed points, in the label's metadata."""
    extra: dict[str, Any] = {}
    if answer.person_boxes is not None:
        boxes = [b.model_dump() if b else None for b in answer.person_boxes]
        extra["persons"] = person_boxes_metadata(boxes, answer.person_tracks, answer.person_attributes)
    if answer.effort is not None:
        effort = answer.effort.model_dump(exclude={"changed_points"})
        extra["effort"] = {key.replace("_", "-"): value for key, value in effort.items()}
        if answer.effort.changed_points is not None:
            extra["adjusted-points"] = answer.effort.changed_points
    return extra


def _answer_label(job: PortalJob, task: Task, answer: Answer, now: float) -> dict[str, Any]:
    """The page's answer as the job's output label; 422 for track attributes the task's rig does not declare."""
    frame = task.line.get(FRAME_ATTRIBUTE) or {}
    width, height = int(frame.get("width", 0)), int(frame.get("height", 0))
    if unknown := _undeclared(answer.person_attributes or [], frame.get("track_attributes") or {}):
        raise HTTPException(422, f"track attributes the rig does not declare: {unknown}")
    if job.modality == "head":
        content = head_content(width, height, [b.model_dump() for b in answer.boxes or []])
    else:
        content = keypoints_content(width, height, [p.model_dump() for p in answer.keypoints or []])
    return output_label(job, content, now, task.line, **_metadata_extra(answer))


def _undeclared(said: list[dict[str, str]], declared: dict[str, list[str]]) -> list[str]:
    """``name=value`` pairs of an answer that the task's rig does not allow."""
    return [f"{name}={value}" for values in said for name, value in values.items()
            if value not in declared.get(name, [])]  # fmt: skip


def _starting_persons(portal: Portal, task: Task, job: PortalJob) -> dict[str, Any]:
    """What the page starts from (level-1 labels at level 2, else the model's, each tracked person carried
    from people's nearest correction of its track), the model's guess, the model's other modality to draw
    beside it (a head task shows the skeletons, a keypoint task the heads), and the frame before."""
    model = task.line.get(PREFILL_ATTRIBUTE) or {}
    other = "keypoints" if job.modality == "head" else "head"
    persons = starting_persons(task.line, job.modality, job.level)
    previous: dict[str, Any] | None = None
    try:
        persons, previous = _carried_from_neighbours(portal, job, task, persons)
    except ClientError as error:  # a throttled read costs the head start, never the page
        log.warning("portal.propagation_unavailable", job=job.name, object_id=task.object_id, error=str(error))
    return {
        "persons": persons,
        "model": persons_of(model, job.modality, job.modality),
        "context": persons_of(model, other, other),
        "previous": previous,
    }


def _carried_from_neighbours(
    portal: Portal, job: PortalJob, task: Task, persons: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``persons`` with their tracks' attributes and nearby corrections, and the frame to show before
    (nothing for a frame that is not a clip's)."""
    frame = task.line.get(FRAME_ATTRIBUTE) or {}
    clip_id, frame_no = frame.get("clip_id"), frame.get("frame_no")
    if not isinstance(clip_id, str) or not isinstance(frame_no, int):
        return persons, None
    previous: dict[str, Any] | None = None
    tracks = [person["track"] for person in persons if person["track"]]
    if job.modality == "keypoints" and tracks:
        persons = with_track_attributes(persons, portal.corrections.attributes(clip_id, tracks))
    if job.modality == "keypoints" and job.level == 1 and tracks and portal.propagate_window:
        corrections = portal.corrections.nearest(clip_id, tracks, frame_no, portal.propagate_window)
        persons = propagated(persons, corrections)
        if corrections:  # the frame the nearest correction came from, with people's persons of it
            nearest = min(corrections.values(), key=lambda c: (abs(c.frame_no - frame_no), c.frame_no))
            there = [{"box": c.box, "points": c.points, "track": c.track}
                     for c in corrections.values() if c.frame_no == nearest.frame_no]  # fmt: skip
            previous = {"frame_no": nearest.frame_no, "corrected": True, "persons": there}
    if previous is None and frame_no > 0 and neighbour_uri(task.line["source-ref"], frame_no - 1):
        previous = {"frame_no": frame_no - 1, "corrected": False, "persons": []}
    return persons, previous


def _frame_bytes(portal: Portal, task: Task, uri: str | None = None) -> bytes:
    """The task's frame (or ``uri``, another frame of its clip) from S3, for the portal's page and Label
    Studio's."""
    uri = uri or task.line["source-ref"]
    bucket, key = split_s3_uri(uri)
    try:
        return bytes(portal.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except portal.s3.exceptions.NoSuchKey:
        raise HTTPException(404, f"the frame {uri} is gone from S3") from None


def add_label_studio_routes(app: FastAPI, portal: Portal, webhook_secret: str) -> None:
    """Label Studio's webhook and the frames its page shows: both outside the portal's sign-in."""

    @app.post(WEBHOOK_PATH)
    async def label_studio_webhook(request: Request) -> dict[str, str]:
        """Label Studio says an annotation was made or changed: the task is read back from Label Studio and,
        if it is still open here, closed with it (the poll would find it too, later)."""
        offered = request.headers.get(WEBHOOK_HEADER, "")
        if not webhook_secret or not hmac.compare_digest(offered.encode(), webhook_secret.encode()):
            raise HTTPException(401, f"a Label Studio webhook must carry {WEBHOOK_HEADER}")
        try:
            payload = await request.json()
            task = payload.get("task") or {}
            external_id = int(task["id"] if isinstance(task, dict) else (payload.get("annotation") or {})["task"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise HTTPException(400, f"not a Label Studio annotation webhook: {error!r}") from error
        try:
            closed = await run_in_threadpool(portal.label_studio_answered, external_id)
        except LabelStudioError as error:  # the poll collects it once Label Studio answers again
            raise HTTPException(503, str(error)) from error
        return {"status": "closed" if closed else "ignored"}

    @app.get(FRAMES_PATH + "/{job_name}/{object_id}")
    def label_studio_frame(job_name: str, object_id: int, expires: int, sig: str) -> Response:
        """A task's frame for Label Studio's page, by the signed link the task was imported with."""
        links = portal.frame_links
        if links is None or not links.valid(job_name, object_id, expires, sig, portal.now()):
            raise HTTPException(403, "not a valid or current frame link")
        task = portal.task(job_name, object_id)
        if task is None:
            raise HTTPException(404, f"no task {object_id} in job {job_name}")
        body = _frame_bytes(portal, task)
        # Label Studio's page is on another origin and may read the pixels (a canvas): let it.
        headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "private, max-age=3600"}
        return Response(body, media_type="image/jpeg", headers=headers)


ACCESS_COOKIE = "labelloop_portal_access"
SIGN_IN_PAGE = (
    "<h2>Labelloop portal</h2><p>This portal needs its access token: the one <code>labelloop up</code> printed."
    '</p><form method="get" action="/"><input name="token" type="password" autofocus> <button>Open</button></form>'
)


def _offered_token(request: Request) -> str:
    """The token a request carries: ``?token=`` (the link ``labelloop up`` prints), the cookie it set, or
    ``Authorization: Bearer``."""
    bearer = request.headers.get("authorization", "")
    return (
        request.query_params.get("token")
        or request.cookies.get(ACCESS_COOKIE)
        or (bearer.removeprefix("Bearer ") if bearer.startswith("Bearer ") else "")
    )


def create_app(portal: Portal, *, access_token: str = "", webhook_secret: str = "") -> FastAPI:
    """The web page; with ``access_token`` every request but the health check, Label Studio's webhook
    (which carries ``webhook_secret`` instead) and its frames (signed links) must carry it (a local
    stack's one-time token; on ECS the load balancer signs people in instead)."""
    app = FastAPI(title="Labelloop portal", docs_url=None, redoc_url=None)

    if access_token:

        @app.middleware("http")
        async def require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            # Label Studio's calls and its page's frames carry their own proof (the shared secret, a signature).
            if request.url.path == "/healthz" or request.url.path.startswith(LABEL_STUDIO_PATHS):
                return await call_next(request)
            offered = _offered_token(request)
            if not hmac.compare_digest(offered.encode(), access_token.encode()):
                return HTMLResponse(SIGN_IN_PAGE, status_code=401)
            response = await call_next(request)
            if request.query_params.get("token"):  # remembered for the pages and API calls that follow
                response.set_cookie(ACCESS_COOKIE, access_token, httponly=True, samesite="strict")
            return response

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The load balancer's health check (no token, no task data)."""
        return {"status": "ok"}

    add_label_studio_routes(app, portal, webhook_secret)

    def job_and_task(job_name: str, object_id: int) -> tuple[PortalJob, Task]:
        job = get_job(portal.dynamodb, portal.table, job_name)
        task = portal.task(job_name, object_id)
        if job is None or task is None:
            raise HTTPException(404, f"no task {object_id} in job {job_name}")
        if task.status != "open":  # answered (in another tab, by another person) or expired meanwhile
            raise HTTPException(409, f"task {object_id} of {job_name} is {task.status}: it takes no more answers")
        return job, task

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        rows = [
            f'<li><a href="/tasks/{html.escape(job)}/{task.object_id}">{html.escape(job)} · task {task.object_id}</a> '
            f"— {html.escape(task.line['source-ref'])}</li>"
            for job in portal.job_names()
            for task in portal.open_tasks(job)
        ]
        return "<h2>Labelloop portal: open tasks</h2><ul>" + ("".join(rows) or "<li>none</li>") + "</ul>"

    @app.get("/tasks/{job_name}/{object_id}", response_class=HTMLResponse)
    def task_page(job_name: str, object_id: int) -> str:
        job_and_task(job_name, object_id)
        return TASK_PAGE

    @app.get("/api/tasks/{job_name}/{object_id}")
    def task_json(job_name: str, object_id: int) -> dict[str, Any]:
        job, task = job_and_task(job_name, object_id)
        frame = task.line.get(FRAME_ATTRIBUTE) or {}
        return {"job": job.name, "object_id": object_id, "modality": job.modality, "level": job.level,
                "source_ref": task.line["source-ref"], "skeleton": frame.get("skeleton", []),
                "keypoint_names": frame.get("keypoint_names", []), "track_attributes": frame.get("track_attributes")
                or {}, **_starting_persons(portal, task, job)}  # fmt: skip

    @app.get("/api/tasks/{job_name}/{object_id}/image")
    def task_image(job_name: str, object_id: int) -> Response:
        _, task = job_and_task(job_name, object_id)
        return Response(_frame_bytes(portal, task), media_type="image/jpeg")

    @app.get("/api/tasks/{job_name}/{object_id}/frames/{frame_no}")
    def neighbour_image(job_name: str, object_id: int, frame_no: int) -> Response:
        """Another frame of the task's clip, near it (the page shows the frame before, or the one a person
        was carried from): never a frame of another clip, nor one farther than the propagation window."""
        _, task = job_and_task(job_name, object_id)
        own = (task.line.get(FRAME_ATTRIBUTE) or {}).get("frame_no")
        uri = neighbour_uri(task.line["source-ref"], frame_no)
        if not isinstance(own, int) or uri is None or abs(frame_no - own) > max(1, portal.propagate_window):
            raise HTTPException(404, f"task {object_id} of {job_name} has no neighbouring frame {frame_no}")
        return Response(_frame_bytes(portal, task, uri), media_type="image/jpeg")

    @app.post("/api/tasks/{job_name}/{object_id}")
    def submit(job_name: str, object_id: int, answer: Answer, request: Request) -> dict[str, str]:
        job, task = job_and_task(job_name, object_id)
        label = _answer_label(job, task, answer, portal.now())
        # Behind the ECS load balancer the signed-in person's id comes with every request (Cognito's `sub`).
        worker = request.headers.get("x-amzn-oidc-identity") or "web"
        try:
            portal.submit(job, object_id, label, worker=worker)
        except TaskNotOpenError as error:  # answered in another tab or by another person, or expired meanwhile
            raise HTTPException(409, str(error)) from error
        return {"status": "submitted"}

    return app
