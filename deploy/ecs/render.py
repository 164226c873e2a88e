"""Render deploy/ecs/labelloop.yaml (CloudFormation) from the one topology declaration.

    .venv/bin/python deploy/ecs/render.py            # rewrite the template
    .venv/bin/python deploy/ecs/render.py --check    # exit 1 if the committed template is stale

Queues, DLQs, topics, subscriptions, buckets, tables and the S3 notification come from
``labelloop.topology.TOPOLOGY``; what each service may touch (ACCESS below) becomes its task
role, with no ``*`` action anywhere. CPU services run on Fargate; Triton runs on an EC2 GPU
capacity provider and shares the model repository with the trainer on EFS.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from labelloop.topology import PROCESSES, TOPOLOGY, Queue
from labelloop_gt_bridge.settings import TASK_TYPES
from labelloop_portal.frame_links import FRAMES_PATH
from labelloop_portal.web import WEBHOOK_PATH

TEMPLATE = Path(__file__).with_name("labelloop.yaml")
SERVICE_PORT_TRITON = 8000


@dataclass(frozen=True)
class Access:
    """What one service's task role allows, beyond consuming its own queue."""

    publishes: tuple[str, ...] = ()  # event types (→ topics)
    read: tuple[str, ...] = ()  # "bucket:prefix"
    write: tuple[str, ...] = ()  # "bucket:prefix"
    tables: tuple[str, ...] = ()
    extra: tuple[dict[str, Any], ...] = ()  # further statements (labeling topics, jobs, queues)
    cpu: int = 512
    memory: int = 1024


def _labeling(stack_sub: str) -> str:
    return f"arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{stack_sub}-labeling-*"


ACCESS: dict[str, Access] = {
    "ingest": Access(
        publishes=("FramesExtracted",),
        read=("uploads:*",),
        write=("data:frames/*",),
        tables=("idempotency",),
        cpu=2048,
        memory=4096,
    ),
    "inference": Access(
        publishes=("PredictionsReady",),
        read=("data:frames/*",),
        write=("data:tracking/*",),  # a clip's predicted batches and tracker snapshots (clip_order)
        tables=("idempotency", "models"),
        cpu=1024,
        memory=2048,
    ),
    "selector": Access(
        publishes=("AutoAcceptedBatch", "HumanReviewRequested", "ThresholdChanged"),
        read=("data:dataset/human/*",),  # people's labels of audited frames: the evidence of its thresholds
        write=("data:dataset/auto/*", "data:dataset/deferred/*"),
        tables=("idempotency", "selector-state"),
    ),
    "gt-bridge": Access(
        publishes=("LabelsCompleted",),
        write=("data:dataset/human/*",),
        tables=("idempotency", "labeling", "portal"),
        extra=(
            {
                "Effect": "Allow",
                "Action": ["sns:CreateTopic", "sns:Publish", "sns:Subscribe", "sns:ListSubscriptionsByTopic"],
                "Resource": {"Fn::Sub": _labeling("${Stack}")},
            },
            {
                "Effect": "Allow",
                "Action": ["sagemaker:CreateLabelingJob", "sagemaker:DescribeLabelingJob"],
                "Resource": {
                    "Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:labeling-job/${Stack}-*"  # noqa: E501 - one ARN or sentence
                },
            },
            {
                "Effect": "Allow",
                "Action": ["sqs:GetQueueAttributes", "sqs:SetQueueAttributes"],
                "Resource": {"Fn::GetAtt": ["GtBridgeQueue", "Arn"]},
            },
            {  # LABELLOOP_GT_BRIDGE_ROLE_ARN (ground-truth): a role named <Stack>-ground-truth*, to SageMaker only
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Stack}-ground-truth*"},
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
            {  # a labeling job given up on (LabelingJobFailedAlarm); metrics have no ARN, the namespace is the bound
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": "Labelloop"}},
            },
        ),
    ),
    "trainer": Access(
        publishes=("ModelPromoted",),
        read=("data:dataset/*", "data:frames/*"),
        write=("models:registry/*",),
        tables=("idempotency", "models"),
        cpu=4096,
        memory=16384,
    ),
    "portal": Access(
        read=("data:frames/*", "data:truth/*"),
        write=("data:labeling/*",),
        tables=("portal",),
        extra=(
            {
                "Effect": "Allow",
                "Action": ["sns:Publish", "sns:Subscribe", "sns:ListSubscriptionsByTopic"],
                "Resource": {"Fn::Sub": _labeling("${Stack}")},
            },
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:CreateQueue",
                    "sqs:GetQueueAttributes",
                    "sqs:SetQueueAttributes",
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",  # a take that failed hands its messages back at once
                    "sqs:SendMessage",  # invalid input lines to the job's DLQ, with the reason
                    "sqs:GetQueueUrl",
                ],
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Stack}-portal-*"},
            },
        ),
    ),
}


def logical(name: str) -> str:
    """``gt-bridge`` → ``GtBridge``: CloudFormation logical-id form of a declared name."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def physical(name: str) -> dict[str, str]:
    return {"Fn::Sub": f"${{Stack}}-{name}"}


CHECKOV_SKIPS = {
    "CKV_AWS_27": "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov counts only KMS keys as encryption.",
    "CKV_AWS_158": "CloudWatch Logs encrypts every log group at rest; the services log decisions and S3 URIs, no "
    "secrets or personal data, so a customer key would add cost and a key policy for nothing.",
    "CKV_AWS_119": "Encrypted at rest with DynamoDB's AWS-owned key (SSESpecification); the tables hold pipeline "
    "state, and a customer key would put a KMS request behind every read and write.",
    "CKV_AWS_18": "Object access is audited by the account's CloudTrail data events; server access logs would "
    "need a further bucket that this stack does not own.",
    "CKV_AWS_91": "Sign-ins are logged by Cognito and every answer by the portal (with the person's id); ALB "
    "access logs would need a log bucket with ELB's regional account in its policy.",
    "CKV_AWS_116": "Ground Truth invokes its task Lambdas synchronously and retries them itself; a dead-letter "
    "queue only ever receives asynchronous invocations.",
    "CKV_AWS_117": "The task Lambdas read their payload from S3 and nothing in the VPC; a VPC would only add NAT.",
    "CKV_AWS_173": "The task Lambdas' one variable, TASK_TYPE, names the task type: nothing secret to encrypt.",
    "CKV_AWS_149": "Label Studio's token and the webhook's secret are encrypted with Secrets Manager's AWS-managed "
    "key, which the execution role may use without a key policy; a customer key would add one for two strings.",
    "CKV2_AWS_57": "Neither rotates by a Lambda: Label Studio makes the token (an operator replaces it), and keeps "
    "the webhook secret in each project's webhook headers (a rotated one would refuse those webhooks).",
}
"""checkov findings that do not apply here, each with the reason (tests/unit/test_deploy_ecs.py runs checkov)."""


def checkov_skips(*checks: str) -> dict[str, Any]:
    """A resource's ``Metadata`` waiving ``checks``, each with its reason from :data:`CHECKOV_SKIPS`."""
    return {"Metadata": {"checkov": {"skip": [{"id": check, "comment": CHECKOV_SKIPS[check]} for check in checks]}}}


def _queue_resources(queue: Queue) -> dict[str, Any]:
    base = logical(queue.name)
    topics = [{"Ref": f"{logical(t)}Topic"} for t in queue.topics]
    resources: dict[str, Any] = {
        f"{base}Dlq": {
            "Type": "AWS::SQS::Queue",
            **checkov_skips("CKV_AWS_27"),
            "Properties": {
                "QueueName": physical(queue.dlq_name),
                "MessageRetentionPeriod": queue.retention_s,
                "SqsManagedSseEnabled": True,
            },
        },
        f"{base}Queue": {
            "Type": "AWS::SQS::Queue",
            **checkov_skips("CKV_AWS_27"),
            "Properties": {
                "QueueName": physical(queue.name),
                "VisibilityTimeout": queue.visibility_timeout_s,
                "MessageRetentionPeriod": queue.retention_s,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [f"{base}Dlq", "Arn"]},
                    "maxReceiveCount": queue.max_receive_count,
                },
            },
        },
        f"{base}QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": f"{base}Queue"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AllowSubscribedTopics",
                            "Effect": "Allow",
                            "Principal": {"Service": "sns.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": {"Fn::GetAtt": [f"{base}Queue", "Arn"]},
                            "Condition": {"ArnEquals": {"aws:SourceArn": topics}},
                        }
                    ],
                },
            },
        },
        f"{base}DlqAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": {"Fn::Sub": f"${{Stack}}-{queue.dlq_name}-not-empty"},
                "AlarmDescription": f"{queue.service} dead-lettered messages: see `labelloop dlq list {queue.service}`",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [f"{base}Dlq", "QueueName"]}}],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "AlarmTopic"}],
            },
        },
    }
    for topic in queue.topics:
        resources[f"{base}From{logical(topic)}"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": f"{logical(topic)}Topic"},
                "Protocol": "sqs",
                "RawMessageDelivery": True,
                "Endpoint": {"Fn::GetAtt": [f"{base}Queue", "Arn"]},
            },
        }
    return resources


# inference's tracking state (labelloop_inference.clip_order: a clip's predicted batches and tracker
# snapshots) is needed only while the clip is tracked, or until a dead-lettered batch of it is replayed,
# which SQS keeps 14 days: gone after 30, and its overwritten versions after a day.
LIFECYCLE: dict[str, list[dict[str, Any]]] = {
    "data": [
        {
            "Id": "tracking-state",
            "Prefix": "tracking/",
            "Status": "Enabled",
            "ExpirationInDays": 30,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        }
    ]
}


def _topology_resources() -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for bucket in TOPOLOGY.buckets:
        notify = [n for n in TOPOLOGY.notifications if n.bucket == bucket.name]
        properties: dict[str, Any] = {
            "BucketName": physical(bucket.name),
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "VersioningConfiguration": {"Status": "Enabled"},
        }
        if bucket.name in LIFECYCLE:
            properties["LifecycleConfiguration"] = {"Rules": LIFECYCLE[bucket.name]}
        if notify:
            properties["NotificationConfiguration"] = {
                "TopicConfigurations": [
                    {"Event": "s3:ObjectCreated:*", "Topic": {"Ref": f"{logical(n.topic)}Topic"}} for n in notify
                ]
            }
        resources[f"{logical(bucket.name)}Bucket"] = {
            "Type": "AWS::S3::Bucket",
            **KEEP,
            **checkov_skips("CKV_AWS_18"),
            "Properties": properties,
            **({"DependsOn": [f"{logical(n.topic)}TopicPolicy" for n in notify]} if notify else {}),
        }
    for topic in TOPOLOGY.topics:
        resources[f"{logical(topic.name)}Topic"] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": physical(topic.name), "KmsMasterKeyId": {"Ref": "MessagingKey"}},
        }
    for note in TOPOLOGY.notifications:
        resources[f"{logical(note.topic)}TopicPolicy"] = {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [{"Ref": f"{logical(note.topic)}Topic"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AllowBucketNotifications",
                            "Effect": "Allow",
                            "Principal": {"Service": "s3.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": f"{logical(note.topic)}Topic"},
                            "Condition": {
                                "ArnLike": {
                                    "aws:SourceArn": {
                                        "Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{Stack}}-{note.bucket}"
                                    }
                                }
                            },
                        }
                    ],
                },
            },
        }
    for queue in TOPOLOGY.queues:
        resources |= _queue_resources(queue)
    for table in TOPOLOGY.tables:
        keys = [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
        properties = {
            "TableName": physical(table.name),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": table.attribute_definitions(),
            "KeySchema": keys,
            "SSESpecification": {"SSEEnabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        }
        if table.ttl_attribute:
            properties["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
        if table.indexes:
            properties["GlobalSecondaryIndexes"] = [index.declaration() for index in table.indexes]
        resources[f"{logical(table.name)}Table"] = {
            "Type": "AWS::DynamoDB::Table",
            **KEEP,
            **checkov_skips("CKV_AWS_119"),
            "Properties": properties,
        }
    return resources


def _indexed(table_name: str) -> bool:
    return any(table.name == table_name and table.indexes for table in TOPOLOGY.tables)


def _s3_statements(access: Access) -> list[dict[str, Any]]:
    statements = []
    for actions, paths in (
        (["s3:GetObject"], access.read),
        (["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], access.write),
    ):
        if paths:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": [
                        {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{Stack}}-{p.split(':')[0]}/{p.split(':')[1]}"}
                        for p in paths
                    ],
                }
            )
    buckets = sorted({p.split(":")[0] for p in (*access.read, *access.write)})
    if buckets:
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [{"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::${{Stack}}-{b}"} for b in buckets],
            }
        )
    return statements


def _task_role(service: str, access: Access) -> dict[str, Any]:
    statements: list[dict[str, Any]] = []
    if service in {q.service for q in TOPOLOGY.queues}:
        queue = logical(TOPOLOGY.queue_for(service).name)
        statements.append(
            {
                "Effect": "Allow",
                "Action": [
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                ],
                "Resource": {"Fn::GetAtt": [f"{queue}Queue", "Arn"]},
            }
        )
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                "Resource": {"Fn::GetAtt": [f"{queue}Dlq", "Arn"]},
            }
        )
    topics = sorted({TOPOLOGY.topic_for(event) for event in access.publishes})
    if topics:
        statements.append(
            {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": [{"Ref": f"{logical(t)}Topic"} for t in topics]}
        )
    if topics or service in {"gt-bridge", "portal"}:  # publishing to a topic encrypted with the messaging key
        statements.append({
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": [{"Fn::GetAtt": ["MessagingKey", "Arn"]}],
        })  # fmt: skip
    if access.tables:
        statements.append(
            {
                "Effect": "Allow",
                "Action": [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:BatchWriteItem",
                    "dynamodb:Scan",
                    "dynamodb:Query",
                ],
                "Resource": [
                    *({"Fn::GetAtt": [f"{logical(t)}Table", "Arn"]} for t in access.tables),
                    *({"Fn::Sub": f"${{{logical(t)}Table.Arn}}/index/*"} for t in access.tables if _indexed(t)),
                ],
            }
        )
    statements += _s3_statements(access)
    statements += list(access.extra)
    statements.append(
        {"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}
    )  # no resource-level scope exists
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": _trust("ecs-tasks.amazonaws.com"),
            "Policies": [
                {
                    "PolicyName": f"{service}-least-privilege",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def _service_resources(service: str, access: Access) -> dict[str, Any]:
    base = logical(service)
    prefix = "LABELLOOP_" + service.replace("-", "_").upper() + "_"
    environment = [
        {"Name": f"{prefix}STACK", "Value": {"Ref": "Stack"}},
        {"Name": f"{prefix}LOG_FORMAT", "Value": "json"},
    ]
    if service == "gt-bridge":  # the labeling topics it creates at run time are encrypted like the stack's
        environment.append({"Name": f"{prefix}TOPIC_KMS_KEY", "Value": {"Ref": "MessagingKey"}})
        environment += _ground_truth_environment(prefix)
    if service in {"inference", "trainer"}:
        environment.append(
            {"Name": f"{prefix}TRITON_URL", "Value": {"Fn::Sub": f"triton.${{Stack}}.internal:{SERVICE_PORT_TRITON}"}}
        )
    container: dict[str, Any] = {
        "Name": service,
        "Essential": True,
        "Image": {"Fn::Sub": f"${{ImageRegistry}}/labelloop/{service}:${{ImageTag}}"},
        "Environment": environment,
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": {"Ref": f"{base}Logs"},
                "awslogs-region": {"Ref": "AWS::Region"},
                "awslogs-stream-prefix": service,
            },
        },
        "StopTimeout": 30,
    }
    volumes: list[dict[str, Any]] = []
    if service == "portal":
        environment += [
            # People label in production; `simulated` (answers from hidden truth) is for a demo stack only.
            {"Name": f"{prefix}MODE", "Value": {"Ref": "PortalMode"}},
            {"Name": f"{prefix}HTTP_HOST", "Value": "0.0.0.0"},  # noqa: S104 - in its own task, behind the ALB
            {"Name": f"{prefix}HTTP_PORT", "Value": str(PORTAL_PORT)},
        ]
        label_studio_environment, container["Secrets"] = _label_studio_environment(prefix)
        environment += label_studio_environment
        container["PortMappings"] = [{"ContainerPort": PORTAL_PORT, "Protocol": "tcp"}]
    if service == "trainer":
        environment.append({"Name": f"{prefix}MODEL_REPOSITORY", "Value": "/models/repository"})
        environment.append({"Name": f"{prefix}TRITON_BACKEND", "Value": "onnxruntime"})
        container["MountPoints"] = [{"SourceVolume": "model-repository", "ContainerPath": "/models/repository"}]
        volumes = [_efs_volume()]
    resources: dict[str, Any] = {
        f"{base}Logs": {
            "Type": "AWS::Logs::LogGroup",
            **checkov_skips("CKV_AWS_158"),
            "Properties": {"LogGroupName": {"Fn::Sub": f"/labelloop/${{Stack}}/{service}"}, "RetentionInDays": 30},
        },
        f"{base}TaskRole": _task_role(service, access),
        f"{base}TaskDefinition": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": {"Fn::Sub": f"${{Stack}}-{service}"},
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": str(access.cpu),
                "Memory": str(access.memory),
                "ExecutionRoleArn": {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
                "TaskRoleArn": {"Fn::GetAtt": [f"{base}TaskRole", "Arn"]},
                "ContainerDefinitions": [container],
                **({"Volumes": volumes} if volumes else {}),
            },
        },
        f"{base}Service": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "ServiceName": service,
                "Cluster": {"Ref": "Cluster"},
                "LaunchType": "FARGATE",
                "TaskDefinition": {"Ref": f"{base}TaskDefinition"},
                # The portal too: its tasks live in DynamoDB and its outputs are immutable objects.
                "DesiredCount": {"Ref": "DesiredCount"},
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": {"Ref": "SubnetIds"},
                        "SecurityGroups": [{"Ref": "ServiceSecurityGroup"}],
                    }
                },
            },
        },
    }
    if service == "portal":
        resources[f"{base}Service"]["DependsOn"] = ["PortalHttpsListener"]
        resources[f"{base}Service"]["Properties"]["LoadBalancers"] = [
            {"ContainerName": "portal", "ContainerPort": PORTAL_PORT, "TargetGroupArn": {"Ref": "PortalTargetGroup"}}
        ]
        resources |= _portal_entrance()
    if service in {q.service for q in TOPOLOGY.queues}:
        resources |= _autoscaling(service, base)
    return resources


PORTAL_PORT = 8088


def _portal_entrance() -> dict[str, Any]:
    """How people reach the portal: an internet-facing ALB, HTTPS only (the certificate is a
    parameter), that signs every request in against a Cognito user pool before forwarding it; the
    portal's tasks accept traffic from that ALB alone."""
    return {
        "PortalLoadBalancerSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "Labelloop portal ALB: HTTPS from the annotators",
                "VpcId": {"Ref": "VpcId"},
                "SecurityGroupIngress": [
                    {
                        "IpProtocol": "tcp",
                        "FromPort": 443,
                        "ToPort": 443,
                        "CidrIp": {"Ref": "PortalAllowedCidr"},
                        "Description": "annotators' browsers",
                    }
                ],
            },
        },
        "PortalFromLoadBalancer": _services_ingress(
            PORTAL_PORT, "PortalLoadBalancerSecurityGroup", "the portal's web page, from its ALB only"
        ),
        "PortalLoadBalancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            **checkov_skips("CKV_AWS_91"),
            "Properties": {
                "Type": "application",
                "Scheme": "internet-facing",
                "Subnets": {"Ref": "PublicSubnetIds"},
                "SecurityGroups": [{"Ref": "PortalLoadBalancerSecurityGroup"}],
                "LoadBalancerAttributes": [
                    {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"},
                    {"Key": "deletion_protection.enabled", "Value": "true"},
                ],
            },
        },
        "PortalTargetGroup": {
            "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
            "Properties": {
                "TargetType": "ip",
                "Protocol": "HTTP",
                "Port": PORTAL_PORT,
                "VpcId": {"Ref": "VpcId"},
                "HealthCheckPath": "/healthz",
                "HealthCheckIntervalSeconds": 15,
                "Matcher": {"HttpCode": "200"},
            },
        },
        "PortalHttpsListener": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {
                "LoadBalancerArn": {"Ref": "PortalLoadBalancer"},
                "Protocol": "HTTPS",
                "Port": 443,
                "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "Certificates": [{"CertificateArn": {"Ref": "PortalCertificateArn"}}],
                "DefaultActions": [
                    {
                        "Type": "authenticate-cognito",
                        "Order": 1,
                        "AuthenticateCognitoConfig": {
                            "UserPoolArn": {"Fn::GetAtt": ["PortalUserPool", "Arn"]},
                            "UserPoolClientId": {"Ref": "PortalUserPoolClient"},
                            "UserPoolDomain": {"Ref": "PortalUserPoolDomain"},
                            "OnUnauthenticatedRequest": "authenticate",
                        },
                    },
                    {"Type": "forward", "Order": 2, "TargetGroupArn": {"Ref": "PortalTargetGroup"}},
                ],
            },
        },
        "PortalUserPool": {
            "Type": "AWS::Cognito::UserPool",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "UserPoolName": {"Fn::Sub": "${Stack}-portal"},
                # Annotators are invited by an administrator (`aws cognito-idp admin-create-user`), never self-made.
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "MfaConfiguration": "OPTIONAL",
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 12,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                    }
                },
                "UsernameAttributes": ["email"],
                "AutoVerifiedAttributes": ["email"],
            },
        },
        "PortalUserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": {"Ref": "PortalUserPool"},
                "GenerateSecret": True,
                "AllowedOAuthFlowsUserPoolClient": True,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email"],
                "SupportedIdentityProviders": ["COGNITO"],
                "CallbackURLs": [{"Fn::Sub": "https://${PortalDomainName}/oauth2/idpresponse"}],
            },
        },
        "PortalUserPoolDomain": {
            "Type": "AWS::Cognito::UserPoolDomain",
            "Properties": {
                "UserPoolId": {"Ref": "PortalUserPool"},
                "Domain": {"Fn::Sub": "${Stack}-portal-${AWS::AccountId}"},
            },
        },
    }


def _autoscaling(service: str, base: str) -> dict[str, Any]:
    """Target tracking on backlog per task: visible messages / running tasks, held near BacklogPerTask."""
    queue = logical(TOPOLOGY.queue_for(service).name)
    return {
        f"{base}ScalableTarget": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": {"Fn::Sub": f"service/${{Cluster}}/${{{base}Service.Name}}"},
                "MinCapacity": {"Ref": "DesiredCount"},
                "MaxCapacity": {"Ref": "MaxCount"},
            },
        },
        f"{base}BacklogScaling": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": {"Fn::Sub": f"${{Stack}}-{service}-backlog-per-task"},
                "PolicyType": "TargetTrackingScaling",
                "ScalingTargetId": {"Ref": f"{base}ScalableTarget"},
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": {"Ref": "BacklogPerTask"},
                    "CustomizedMetricSpecification": {
                        "Metrics": [
                            {
                                "Id": "backlog",
                                "ReturnData": False,
                                "MetricStat": {
                                    "Stat": "Average",
                                    "Metric": {
                                        "Namespace": "AWS/SQS",
                                        "MetricName": "ApproximateNumberOfMessagesVisible",
                                        "Dimensions": [
                                            {
                                                "Name": "QueueName",
                                                "Value": {"Fn::GetAtt": [f"{queue}Queue", "QueueName"]},
                                            }
                                        ],
                                    },
                                },
                            },
                            {
                                "Id": "tasks",
                                "ReturnData": False,
                                "MetricStat": {
                                    "Stat": "Average",
                                    "Metric": {
                                        "Namespace": "ECS/ContainerInsights",
                                        "MetricName": "RunningTaskCount",
                                        "Dimensions": [
                                            {"Name": "ClusterName", "Value": {"Ref": "Cluster"}},
                                            {
                                                "Name": "ServiceName",
                                                "Value": {"Fn::GetAtt": [f"{base}Service", "Name"]},
                                            },
                                        ],
                                    },
                                },
                            },
                            {
                                "Id": "backlog_per_task",
                                "Expression": "backlog / MAX([tasks, 1])",
                                "ReturnData": True,
                                "Label": "messages waiting per running task",
                            },
                        ]
                    },
                },
            },
        },
    }


def _efs_volume() -> dict[str, Any]:
    return {
        "Name": "model-repository",
        "EFSVolumeConfiguration": {
            "FilesystemId": {"Ref": "ModelRepository"},
            "TransitEncryption": "ENABLED",
            "AuthorizationConfig": {"AccessPointId": {"Ref": "ModelRepositoryAccessPoint"}, "IAM": "ENABLED"},
        },
    }


def _services_ingress(port: int, source_group: str, description: str) -> dict[str, Any]:
    """The services' security group admits TCP ``port`` from ``source_group`` (and nothing else does)."""
    return {
        "Type": "AWS::EC2::SecurityGroupIngress",
        "Properties": {
            "GroupId": {"Ref": "ServiceSecurityGroup"},
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
            "SourceSecurityGroupId": {"Ref": source_group},
            "Description": description,
        },
    }


KEEP = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
"""On a data store: deleting or replacing the stack never deletes uploads, labels, state or models."""


def _messaging_key() -> dict[str, Any]:
    """The topics' KMS key. AWS's own ``alias/aws/sns`` key admits no other service, so S3 could not
    notify the uploads topic nor CloudWatch the alarm topic; this key's policy lets both (from this
    account only) and leaves everything else to IAM (the task roles' grants)."""
    this_account = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    return {
        "MessagingKey": {
            "Type": "AWS::KMS::Key",
            **KEEP,
            "Properties": {
                "Description": {"Fn::Sub": "Labelloop ${Stack}: SNS topics (S3 and CloudWatch may publish)"},
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministersThroughIam",
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
                            "Action": "kms:*",
                            "Resource": "*",
                        },
                        {
                            "Sid": "S3AndCloudWatchPublishToTopics",
                            "Effect": "Allow",
                            "Principal": {"Service": ["s3.amazonaws.com", "cloudwatch.amazonaws.com"]},
                            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                            "Resource": "*",
                            "Condition": this_account,
                        },
                    ],
                },
            },
        },
        "MessagingKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": {"Fn::Sub": "alias/${Stack}-messaging"},
                "TargetKeyId": {"Ref": "MessagingKey"},
            },
        },
    }


def _platform() -> dict[str, Any]:
    """Cluster, networking, the shared model repository and Triton on GPU capacity."""
    return {
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Properties": {
                "ClusterName": {"Ref": "Stack"},
                "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
                "CapacityProviders": ["FARGATE"],
            },
        },
        "ClusterCapacity": {
            "Type": "AWS::ECS::ClusterCapacityProviderAssociations",
            "Properties": {
                "Cluster": {"Ref": "Cluster"},
                "CapacityProviders": ["FARGATE", {"Ref": "GpuCapacityProvider"}],
                "DefaultCapacityProviderStrategy": [{"CapacityProvider": "FARGATE", "Weight": 1}],
            },
        },
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {"TopicName": {"Fn::Sub": "${Stack}-alarms"}, "KmsMasterKeyId": {"Ref": "MessagingKey"}},
        },
        **_messaging_key(),
        "ServiceSecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "Labelloop services (egress only; Triton takes 8000 from them)",
                "VpcId": {"Ref": "VpcId"},
            },
        },
        "TritonIngress": _services_ingress(
            SERVICE_PORT_TRITON, "ServiceSecurityGroup", "Triton's HTTP API, from inference and the trainer"
        ),
        "EfsIngress": _services_ingress(
            2049, "ServiceSecurityGroup", "NFS to the model repository, from the trainer and Triton"
        ),
        "ExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _trust("ecs-tasks.amazonaws.com"),
                "ManagedPolicyArns": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}
                ],
            },
        },
        "ModelRepository": {
            "Type": "AWS::EFS::FileSystem",
            **KEEP,
            "Properties": {"Encrypted": True, "PerformanceMode": "generalPurpose"},
        },
        "ModelRepositoryAccessPoint": {
            "Type": "AWS::EFS::AccessPoint",
            "Properties": {
                "FileSystemId": {"Ref": "ModelRepository"},
                "PosixUser": {"Uid": "10001", "Gid": "10001"},
                "RootDirectory": {
                    "Path": "/repository",
                    "CreationInfo": {"OwnerUid": "10001", "OwnerGid": "10001", "Permissions": "750"},
                },
            },
        },
        "ModelRepositoryMountA": {
            "Type": "AWS::EFS::MountTarget",
            "Properties": {
                "FileSystemId": {"Ref": "ModelRepository"},
                "SubnetId": {"Fn::Select": [0, {"Ref": "SubnetIds"}]},
                "SecurityGroups": [{"Ref": "ServiceSecurityGroup"}],
            },
        },
        "ModelRepositoryMountB": {
            "Type": "AWS::EFS::MountTarget",
            "Properties": {
                "FileSystemId": {"Ref": "ModelRepository"},
                "SubnetId": {"Fn::Select": [1, {"Ref": "SubnetIds"}]},
                "SecurityGroups": [{"Ref": "ServiceSecurityGroup"}],
            },
        },
        "Namespace": {
            "Type": "AWS::ServiceDiscovery::PrivateDnsNamespace",
            "Properties": {"Name": {"Fn::Sub": "${Stack}.internal"}, "Vpc": {"Ref": "VpcId"}},
        },
        "TritonDiscovery": {
            "Type": "AWS::ServiceDiscovery::Service",
            "Properties": {
                "Name": "triton",
                "NamespaceId": {"Ref": "Namespace"},
                "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 10}], "RoutingPolicy": "MULTIVALUE"},
            },
        },
        "GpuInstanceRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": _trust("ec2.amazonaws.com"),
                "ManagedPolicyArns": [
                    {
                        "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"  # noqa: E501 - one ARN or sentence
                    }
                ],
            },
        },
        "GpuInstanceProfile": {
            "Type": "AWS::IAM::InstanceProfile",
            "Properties": {"Roles": [{"Ref": "GpuInstanceRole"}]},
        },
        "GpuLaunchTemplate": {
            "Type": "AWS::EC2::LaunchTemplate",
            "Properties": {
                "LaunchTemplateData": {
                    "ImageId": {"Ref": "GpuAmi"},
                    "InstanceType": {"Ref": "TritonInstanceType"},
                    "IamInstanceProfile": {"Arn": {"Fn::GetAtt": ["GpuInstanceProfile", "Arn"]}},
                    "SecurityGroupIds": [{"Ref": "ServiceSecurityGroup"}],
                    "MetadataOptions": {"HttpTokens": "required"},
                    "UserData": {
                        "Fn::Base64": {"Fn::Sub": "#!/bin/bash\necho ECS_CLUSTER=${Cluster} >> /etc/ecs/ecs.config\n"}
                    },
                }
            },
        },
        "GpuAutoScalingGroup": {
            "Type": "AWS::AutoScaling::AutoScalingGroup",
            "Properties": {
                "MinSize": "0",
                "MaxSize": {"Ref": "TritonMaxInstances"},
                "VPCZoneIdentifier": {"Ref": "SubnetIds"},
                "LaunchTemplate": {
                    "LaunchTemplateId": {"Ref": "GpuLaunchTemplate"},
                    "Version": {"Fn::GetAtt": ["GpuLaunchTemplate", "LatestVersionNumber"]},
                },
                "NewInstancesProtectedFromScaleIn": True,
            },
        },
        "GpuCapacityProvider": {
            "Type": "AWS::ECS::CapacityProvider",
            "Properties": {
                "AutoScalingGroupProvider": {
                    "AutoScalingGroupArn": {"Ref": "GpuAutoScalingGroup"},
                    "ManagedTerminationProtection": "ENABLED",
                    "ManagedScaling": {"Status": "ENABLED", "TargetCapacity": 100},
                }
            },
        },
        "TritonLogs": {
            "Type": "AWS::Logs::LogGroup",
            **checkov_skips("CKV_AWS_158"),
            "Properties": {"LogGroupName": {"Fn::Sub": "/labelloop/${Stack}/triton"}, "RetentionInDays": 30},
        },
        "TritonTaskDefinition": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": {"Fn::Sub": "${Stack}-triton"},
                "RequiresCompatibilities": ["EC2"],
                "NetworkMode": "awsvpc",
                "ExecutionRoleArn": {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
                "Volumes": [_efs_volume()],
                "ContainerDefinitions": [
                    {
                        "Name": "triton",
                        "Essential": True,
                        "Image": {"Ref": "TritonImage"},
                        "Memory": {"Ref": "TritonMemory"},
                        "Command": [
                            "tritonserver",
                            "--model-repository=/models/repository",
                            "--model-control-mode=explicit",
                            "--load-model=*",
                            "--strict-readiness=true",
                        ],
                        "PortMappings": [{"ContainerPort": SERVICE_PORT_TRITON, "Protocol": "tcp"}],
                        "ResourceRequirements": [{"Type": "GPU", "Value": "1"}],
                        "MountPoints": [
                            {
                                "SourceVolume": "model-repository",
                                "ContainerPath": "/models/repository",
                                "ReadOnly": True,
                            }
                        ],
                        "HealthCheck": {
                            "Command": [
                                "CMD-SHELL",
                                f"curl -sf localhost:{SERVICE_PORT_TRITON}/v2/health/ready || exit 1",
                            ],
                            "Interval": 15,
                            "Timeout": 5,
                            "Retries": 3,
                            "StartPeriod": 60,
                        },
                        "LogConfiguration": {
                            "LogDriver": "awslogs",
                            "Options": {
                                "awslogs-group": {"Ref": "TritonLogs"},
                                "awslogs-region": {"Ref": "AWS::Region"},
                                "awslogs-stream-prefix": "triton",
                            },
                        },
                    }
                ],
            },
        },
        "TritonService": {
            "Type": "AWS::ECS::Service",
            "DependsOn": ["ClusterCapacity"],
            "Properties": {
                "ServiceName": "triton",
                "Cluster": {"Ref": "Cluster"},
                "TaskDefinition": {"Ref": "TritonTaskDefinition"},
                "DesiredCount": 1,
                "CapacityProviderStrategy": [{"CapacityProvider": {"Ref": "GpuCapacityProvider"}, "Weight": 1}],
                "ServiceRegistries": [{"RegistryArn": {"Fn::GetAtt": ["TritonDiscovery", "Arn"]}}],
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "Subnets": {"Ref": "SubnetIds"},
                        "SecurityGroups": [{"Ref": "ServiceSecurityGroup"}],
                    }
                },
            },
        },
    }


PARAMETERS: dict[str, Any] = {
    "Stack": {
        "Type": "String",
        "Default": "labelloop",
        "AllowedPattern": "^[a-z][a-z0-9-]{1,30}$",
        "Description": "Prefix of every resource name (LABELLOOP_<SVC>_STACK).",
    },
    "ImageRegistry": {
        "Type": "String",
        "Description": "Registry holding labelloop/<service> images, e.g. <acct>.dkr.ecr.<region>.amazonaws.com.",
    },
    "ImageTag": {
        "Type": "String",
        "Default": "latest",
        "Description": "Tag of every service image (roll back by deploying the previous tag).",
    },
    "TritonImage": {
        "Type": "String",
        "Default": "nvcr.io/nvidia/tritonserver:24.10-py3",
        "Description": "Triton image with the onnxruntime backend.",
    },
    "TritonInstanceType": {"Type": "String", "Default": "g4dn.xlarge", "Description": "GPU instance type for Triton."},
    "TritonMemory": {"Type": "Number", "Default": 12288, "Description": "MiB reserved for the Triton container."},
    "TritonMaxInstances": {"Type": "Number", "Default": 2},
    "GpuAmi": {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Default": "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id",
    },
    "VpcId": {"Type": "AWS::EC2::VPC::Id"},
    "PublicSubnetIds": {
        "Type": "List<AWS::EC2::Subnet::Id>",
        "Description": "Public subnets (two AZs at least) for the portal's load balancer.",
    },
    "PortalDomainName": {
        "Type": "String",
        "Description": "DNS name people open the portal at (point it at the PortalUrl output's load balancer).",
    },
    "PortalCertificateArn": {"Type": "String", "Description": "ACM certificate of PortalDomainName (HTTPS)."},
    "PortalAllowedCidr": {
        "Type": "String",
        "Default": "0.0.0.0/0",
        "Description": "Addresses that may reach the portal's sign-in (narrow it to an office's range).",
    },
    "PortalMode": {
        "Type": "String",
        "Default": "people",
        "AllowedValues": ["people", "simulated"],
        "Description": "people: annotators label at the portal; simulated only for a demo stack with hidden truth.",
    },
    "LabelingBackend": {
        "Type": "String",
        "Default": "portal",
        "AllowedValues": ["portal", "ground-truth", "label-studio"],
        "Description": "portal: the self-hosted portal; ground-truth: SageMaker Ground Truth (its Lambdas and role "
        "come with the stack; GroundTruthWorkteamArn names the private workteam); label-studio: an existing Label "
        "Studio (LabelStudioUrl; its token goes into the <Stack>/label-studio-token secret) that the portal keeps in "
        "step.",
    },
    "LabelStudioUrl": {
        "Type": "String",
        "Default": "",
        "Description": "Base URL of the Label Studio people label in (LabelingBackend=label-studio only), reachable "
        "from the portal's tasks; its webhooks come back to https://<PortalDomainName>/label-studio/webhook.",
    },
    "GroundTruthWorkteamArn": {
        "Type": "String",
        "Default": "",
        "Description": "Private workteam of the Ground Truth jobs (LabelingBackend=ground-truth only).",
    },
    "SubnetIds": {"Type": "List<AWS::EC2::Subnet::Id>", "Description": "Private subnets in two AZs at least."},
    "DesiredCount": {"Type": "Number", "Default": 1, "MinValue": 1, "Description": "Tasks per service at rest."},
    "MaxCount": {"Type": "Number", "Default": 10, "Description": "Most tasks per service under backlog."},
    "BacklogPerTask": {
        "Type": "Number",
        "Default": 100,
        "Description": "Messages waiting per task that autoscaling holds.",
    },
}


GROUND_TRUTH_STEPS = {"pre": "pre", "consolidation": "consolidate"}  # setting's word → the Lambda's handler
USE_GROUND_TRUTH = {"UseGroundTruth": {"Fn::Equals": [{"Ref": "LabelingBackend"}, "ground-truth"]}}
USE_LABEL_STUDIO = {"UseLabelStudio": {"Fn::Equals": [{"Ref": "LabelingBackend"}, "label-studio"]}}
RULES = {
    "LabelStudioNeedsItsUrl": {
        "RuleCondition": {"Fn::Equals": [{"Ref": "LabelingBackend"}, "label-studio"]},
        "Assertions": [
            {"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "LabelStudioUrl"}, ""]}]},
             "AssertDescription": "LabelingBackend=label-studio needs LabelStudioUrl"},
        ],
    }
}  # fmt: skip


def _label_studio_environment(prefix: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The portal's Label Studio settings: the URL and its own webhook URL as variables, the token and the
    webhook's shared secret from Secrets Manager (none of it without ``LabelingBackend=label-studio``)."""
    environment = [
        {"Name": f"{prefix}LABEL_STUDIO_URL", "Value": {"Ref": "LabelStudioUrl"}},
        {"Name": f"{prefix}LABEL_STUDIO_WEBHOOK_URL",
         "Value": {"Fn::If": ["UseLabelStudio", {"Fn::Sub": f"https://${{PortalDomainName}}{WEBHOOK_PATH}"}, ""]}},
        {"Name": f"{prefix}LABEL_STUDIO_FRAMES_URL", "Value": {"Fn::Sub": "https://${PortalDomainName}"}},
    ]  # fmt: skip
    secrets = {
        "Fn::If": [
            "UseLabelStudio",
            [
                {"Name": f"{prefix}LABEL_STUDIO_TOKEN", "ValueFrom": {"Ref": "LabelStudioTokenSecret"}},
                {"Name": f"{prefix}LABEL_STUDIO_WEBHOOK_SECRET", "ValueFrom": {"Ref": "LabelStudioWebhookSecret"}},
            ],
            {"Ref": "AWS::NoValue"},
        ]
    }
    return environment, secrets


def _label_studio_resources() -> dict[str, Any]:
    """With ``LabelingBackend=label-studio``: the secret an operator puts Label Studio's token in, the
    webhook's shared secret (generated), the execution role's right to read both, and a listener rule that
    lets Label Studio's webhook and its page's frames past the Cognito sign-in (a server cannot sign in, and
    the frames load on Label Studio's page; the portal checks the shared secret and the links' signatures)."""
    when = {"Condition": "UseLabelStudio"}
    return {
        "LabelStudioTokenSecret": {
            "Type": "AWS::SecretsManager::Secret",
            **when,
            **checkov_skips("CKV_AWS_149", "CKV2_AWS_57"),
            "Properties": {
                "Name": {"Fn::Sub": "${Stack}/label-studio-token"},
                "Description": "A Label Studio personal access token; put it here with put-secret-value, then "
                "restart the portal (until then `labelloop jobs` says Label Studio refused the token).",
                "SecretString": "put-a-label-studio-personal-access-token-here",
            },
        },
        "LabelStudioWebhookSecret": {
            "Type": "AWS::SecretsManager::Secret",
            **when,
            **checkov_skips("CKV_AWS_149", "CKV2_AWS_57"),
            "Properties": {
                "Name": {"Fn::Sub": "${Stack}/label-studio-webhook-secret"},
                "Description": "Label Studio's webhook sends it in X-Labelloop-Webhook-Secret; the portal refuses "
                "others.",
                "GenerateSecretString": {"PasswordLength": 40, "ExcludePunctuation": True},
            },
        },
        "LabelStudioSecretsAccess": {
            "Type": "AWS::IAM::Policy",
            **when,
            "Properties": {
                "PolicyName": "label-studio-secrets",
                "Roles": [{"Ref": "ExecutionRole"}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": [{"Ref": "LabelStudioTokenSecret"}, {"Ref": "LabelStudioWebhookSecret"}],
                        }
                    ],
                },
            },
        },
        "PortalWebhookRule": {
            "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            **when,
            "Properties": {
                "ListenerArn": {"Ref": "PortalHttpsListener"},
                "Priority": 1,
                "Conditions": [
                    {"Field": "path-pattern", "PathPatternConfig": {"Values": [WEBHOOK_PATH, f"{FRAMES_PATH}/*"]}}
                ],
                "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": "PortalTargetGroup"}}],
            },
        },
    }


def _ground_truth_lambda(task: str, step: str) -> str:
    return f"GroundTruth{logical(task)}{logical(step)}Lambda"


def _ground_truth_environment(prefix: str) -> list[dict[str, Any]]:
    """gt-bridge's backend and, with Ground Truth, its role, workteam and the Lambdas of each task type."""

    def when_ground_truth(value: Any) -> dict[str, Any]:
        return {"Fn::If": ["UseGroundTruth", value, ""]}

    return [
        {"Name": f"{prefix}BACKEND", "Value": {"Ref": "LabelingBackend"}},
        {"Name": f"{prefix}ROLE_ARN", "Value": when_ground_truth({"Fn::GetAtt": ["GroundTruthRole", "Arn"]})},
        {"Name": f"{prefix}WORKTEAM_ARN", "Value": {"Ref": "GroundTruthWorkteamArn"}},
    ] + [
        {"Name": f"{prefix}{task.upper()}_{step.upper()}_LAMBDA_ARN",
         "Value": when_ground_truth({"Fn::GetAtt": [_ground_truth_lambda(task, step), "Arn"]})}
        for task in TASK_TYPES for step in GROUND_TRUTH_STEPS
    ]  # fmt: skip


def _ground_truth_resources() -> dict[str, Any]:
    """With ``LabelingBackend=ground-truth``: a pre-annotation and a consolidation Lambda per task type (the
    code of ``labelloop_gt_bridge.ground_truth_lambda``, inline), their role, and the role Ground Truth
    assumes (named ``<Stack>-ground-truth``, the only kind gt-bridge may pass)."""
    code = resources.files("labelloop_gt_bridge").joinpath("ground_truth_lambda.py").read_text()
    lambdas = [_ground_truth_lambda(task, step) for task in TASK_TYPES for step in GROUND_TRUTH_STEPS]
    data = "arn:${AWS::Partition}:s3:::${Stack}-data"
    made: dict[str, Any] = {
        name: {
            "Type": "AWS::Lambda::Function",
            "Condition": "UseGroundTruth",
            **checkov_skips("CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"),
            "Properties": {
                "FunctionName": {"Fn::Sub": f"${{Stack}}-gt-{task}-{step}"},
                "Runtime": "python3.12",
                "Handler": f"index.{handler}",
                "Code": {"ZipFile": code},
                "Role": {"Fn::GetAtt": ["GroundTruthLambdaRole", "Arn"]},
                "Timeout": 60,
                "ReservedConcurrentExecutions": 50,
                "TracingConfig": {"Mode": "Active"},
                "Environment": {"Variables": {"TASK_TYPE": task}},
            },
        }
        for task in TASK_TYPES
        for step, handler in GROUND_TRUTH_STEPS.items()
        for name in [_ground_truth_lambda(task, step)]
    }
    made["GroundTruthLambdaRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "UseGroundTruth",
        "Properties": {
            "AssumeRolePolicyDocument": _trust("lambda.amazonaws.com"),
            "ManagedPolicyArns": [
                {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
                {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"},
            ],
            "Policies": [
                {
                    "PolicyName": "read-payloads",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": {"Fn::Sub": f"{data}/labeling/*"},
                            },
                        ],
                    },
                }
            ],
        },
    }
    made["GroundTruthRole"] = {
        "Type": "AWS::IAM::Role",
        "Condition": "UseGroundTruth",
        "Properties": {
            "RoleName": {"Fn::Sub": "${Stack}-ground-truth"},
            "AssumeRolePolicyDocument": _trust("sagemaker.amazonaws.com"),
            "Policies": [
                {
                    "PolicyName": "labeling-jobs",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": {"Fn::Sub": f"{data}/frames/*"},
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:PutObject"],
                                "Resource": {"Fn::Sub": f"{data}/labeling/*"},
                            },
                            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": {"Fn::Sub": data}},
                            {
                                "Effect": "Allow",
                                "Action": ["sns:Publish", "sns:Subscribe"],
                                "Resource": {"Fn::Sub": _labeling("${Stack}")},
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["lambda:InvokeFunction"],
                                "Resource": [{"Fn::GetAtt": [name, "Arn"]} for name in lambdas],
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                "Resource": {"Fn::GetAtt": ["MessagingKey", "Arn"]},
                            },
                        ],
                    },
                }
            ],
        },
    }
    return made


def _trust(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _labeling_alarm() -> dict[str, Any]:
    """gt-bridge gave up replacing a labeling job that kept dying (``labelloop jobs`` says why)."""
    return {
        "LabelingJobFailedAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": {"Fn::Sub": "${Stack}-labeling-job-failed"},
                "AlarmDescription": "A labeling job kept dying and is no longer replaced: see `labelloop jobs`, "
                "fix the cause, then `labelloop jobs --retry JOB`",
                "Namespace": "Labelloop",
                "MetricName": "LabelingJobFailed",
                "Dimensions": [{"Name": "Stack", "Value": {"Ref": "Stack"}}],
                "Statistic": "Sum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": [{"Ref": "AlarmTopic"}],
            },
        }
    }


def template() -> dict[str, Any]:
    resources = (
        _topology_resources() | _platform() | _labeling_alarm() | _ground_truth_resources() | _label_studio_resources()
    )
    for service in PROCESSES:
        resources |= _service_resources(service, ACCESS[service])
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Labelloop on ECS: topology (rendered from labelloop.topology), services, Triton on GPU, autoscaling, alarms.",  # noqa: E501 - one ARN or sentence
        "Parameters": PARAMETERS,
        "Rules": RULES,
        "Conditions": USE_GROUND_TRUTH | USE_LABEL_STUDIO,
        "Resources": dict(sorted(resources.items())),
        "Outputs": {
            "ClusterName": {"Value": {"Ref": "Cluster"}},
            "AlarmTopicArn": {
                "Value": {"Ref": "AlarmTopic"},
                "Description": "Subscribe the on-call to DLQ alarms here.",
            },
            "PortalUrl": {
                "Value": {"Fn::Sub": "https://${PortalDomainName}/"},
                "Description": "Where annotators sign in (a CNAME of PortalDomainName to PortalLoadBalancerDns).",
            },
            "PortalLoadBalancerDns": {"Value": {"Fn::GetAtt": ["PortalLoadBalancer", "DNSName"]}},
            "PortalUserPoolId": {
                "Value": {"Ref": "PortalUserPool"},
                "Description": "Invite annotators here: aws cognito-idp admin-create-user --user-pool-id ...",
            },
        },
    }


def rendered() -> str:
    header = "# Rendered by deploy/ecs/render.py from labelloop.topology; edit the renderer, not this file.\n"
    return header + yaml.safe_dump(template(), sort_keys=False, width=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed template is not the rendered one")
    args = parser.parse_args()
    if args.check:
        if not TEMPLATE.exists() or TEMPLATE.read_text() != rendered():
            sys.exit(f"{TEMPLATE} is stale: run deploy/ecs/render.py")
        return
    TEMPLATE.write_text(rendered())
    print(f"wrote {TEMPLATE}")  # noqa: T201 - a script reporting what it wrote


if __name__ == "__main__":
    main()
