"""Re-record the SQS bodies in this folder from a real moto server: ``python tests/events/record.py``.

Bodies are recorded as SQS delivers them: S3 notifications through SNS with raw delivery (as the
topology subscribes them), a Labelloop event inside an SNS envelope (raw delivery off), the
``s3:TestEvent``. Hand-written payloads (bad input) sit beside them and are not touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from labelloop.events import FrameRef, FramesExtracted, Taxonomy
from labelloop.provision import provision
from labelloop.publisher import EventPublisher
from labelloop.topology import StackNames
from labelloop_tools.local import MotoServer
from labelloop_tools.local.stack import local_clients

HERE = Path(__file__).parent
FRAMES = FramesExtracted(
    event_id="5b0c2f0d6f7a4e55a1b0f4b2c86a3a01",
    correlation_id="clip-0001",
    occurred_at="2026-11-23T10:00:00Z",  # type: ignore[arg-type]
    clip_id="clip-0001",
    source_uri="s3://labelloop-uploads/clips/cabin 01.mp4",
    frames=[
        FrameRef(
            uri="s3://labelloop-data/frames/clip-0001/000000.jpg", frame_no=0, timestamp_s=0.0, width=640, height=480
        ),
        FrameRef(
            uri="s3://labelloop-data/frames/clip-0001/000030.jpg", frame_no=30, timestamp_s=1.0, width=640, height=480
        ),
    ],
    batch_index=0,
    batch_count=1,
    total_frames=2,
    manifest_uri="s3://labelloop-data/frames/clip-0001/manifest.jsonl",
    taxonomy=Taxonomy(drive={"vehicle": "test-car"}, clip={"weather": "rain", "time_of_day": "night"}),
)


def _drain(clients, url: str) -> list[str]:  # type: ignore[no-untyped-def]
    bodies: list[str] = []
    while messages := clients.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        bodies += [m["Body"] for m in messages]
    return bodies


def main() -> None:
    with MotoServer() as moto:
        clients = local_clients(moto.url)
        names = StackNames("labelloop")
        stack = provision(clients, names)
        envelope_queue = clients.sqs.create_queue(QueueName="recorder")["QueueUrl"]
        arn = clients.sqs.get_queue_attributes(QueueUrl=envelope_queue, AttributeNames=["QueueArn"])["Attributes"]
        clients.sns.subscribe(TopicArn=stack.topic_arns["frames-extracted"], Protocol="sqs", Endpoint=arn["QueueArn"])

        ingest_bodies = _drain(clients, stack.queue_urls["ingest"])
        test_event = next(b for b in ingest_bodies if "s3:TestEvent" in b)
        clients.s3.put_object(Bucket="labelloop-uploads", Key="clips/cabin 01 (rain)+night.mp4", Body=b"not a video")
        created = next(b for b in _drain(clients, stack.queue_urls["ingest"]) if "ObjectCreated" in b)

        EventPublisher.for_stack(clients, names).publish(FRAMES)
        enveloped = _drain(clients, envelope_queue)[0]
        raw = _drain(clients, stack.queue_urls["inference"])[0]

    for name, body in {
        "s3_test_event.json": test_event,
        "s3_object_created.json": created,
        "sns_envelope_frames_extracted.json": enveloped,
        "raw_frames_extracted.json": raw,
    }.items():
        (HERE / name).write_text(json.dumps(json.loads(body), indent=2) + "\n")


if __name__ == "__main__":
    main()
