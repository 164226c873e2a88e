"""deploy/ecs: the CloudFormation template is current, lints clean, matches the topology, and is least-privilege."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.validate import ParamValidator
from labelloop.topology import PROCESSES, TOPOLOGY
from labelloop_gt_bridge.entrypoint import FAILED_JOB_METRIC
from labelloop_gt_bridge.settings import GROUND_TRUTH_SHAPES, TASK_TYPES

REPO = Path(__file__).parents[2]
DEPLOY = REPO / "deploy" / "ecs"
TEMPLATE = DEPLOY / "labelloop.yaml"


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return dict(yaml.safe_load(TEMPLATE.read_text())["Resources"])


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _name(value: Any) -> str:
    """The logical name of a ``${Stack}-<name>`` physical name."""
    return str(value["Fn::Sub"]).removeprefix("${Stack}-")


def test_the_committed_template_is_the_rendered_one() -> None:
    """deploy/ecs/labelloop.yaml is what render.py makes of today's topology (edit the renderer, not the YAML)."""
    check = subprocess.run([sys.executable, str(DEPLOY / "render.py"), "--check"], capture_output=True, text=True,
                           check=False, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_cfn_lint_passes_on_every_template() -> None:
    """cfn-lint (errors and warnings) on every template under deploy/."""
    templates = sorted(str(p) for p in (REPO / "deploy").rglob("*.yaml"))
    assert templates
    cfn_lint = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))
    result = subprocess.run([cfn_lint, *templates], capture_output=True, text=True, check=False, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_queues_topics_and_subscriptions_match_the_topology(resources: dict[str, Any]) -> None:
    """Every declared queue (with its DLQ), topic and subscription is in the template, and nothing else."""
    queues = {_name(r["Properties"]["QueueName"]) for r in _of_type(resources, "AWS::SQS::Queue").values()}
    assert queues == {q.name for q in TOPOLOGY.queues} | {q.dlq_name for q in TOPOLOGY.queues}
    topics = {
        logical: _name(r["Properties"]["TopicName"]) for logical, r in _of_type(resources, "AWS::SNS::Topic").items()
    }
    assert set(topics.values()) - {"alarms"} == {t.name for t in TOPOLOGY.topics}
    queue_names = {
        logical: _name(r["Properties"]["QueueName"]) for logical, r in _of_type(resources, "AWS::SQS::Queue").items()
    }
    subscriptions = {
        (topics[r["Properties"]["TopicArn"]["Ref"]], queue_names[r["Properties"]["Endpoint"]["Fn::GetAtt"][0]])
        for r in _of_type(resources, "AWS::SNS::Subscription").values()
    }
    assert subscriptions == {(topic, q.name) for q in TOPOLOGY.queues for topic in q.topics}
    assert all(r["Properties"]["RawMessageDelivery"] for r in _of_type(resources, "AWS::SNS::Subscription").values())
    for queue in TOPOLOGY.queues:
        declared = next(r["Properties"] for r in _of_type(resources, "AWS::SQS::Queue").values()
                        if _name(r["Properties"]["QueueName"]) == queue.name)  # fmt: skip
        assert declared["VisibilityTimeout"] == queue.visibility_timeout_s
        assert declared["RedrivePolicy"]["maxReceiveCount"] == queue.max_receive_count
    tables = {_name(r["Properties"]["TableName"]) for r in _of_type(resources, "AWS::DynamoDB::Table").values()}
    assert tables == {t.name for t in TOPOLOGY.tables}


def test_everything_at_rest_is_encrypted_and_every_dlq_alarms(resources: dict[str, Any]) -> None:
    """SSE on buckets, queues, topics and tables; one alarm per dead-letter queue."""
    assert all(r["Properties"]["BucketEncryption"] for r in _of_type(resources, "AWS::S3::Bucket").values())
    assert all(r["Properties"]["SqsManagedSseEnabled"] for r in _of_type(resources, "AWS::SQS::Queue").values())
    assert all(r["Properties"]["KmsMasterKeyId"] for r in _of_type(resources, "AWS::SNS::Topic").values())
    assert all(
        r["Properties"]["SSESpecification"]["SSEEnabled"] for r in _of_type(resources, "AWS::DynamoDB::Table").values()
    )
    alarmed = {
        r["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for r in _of_type(resources, "AWS::CloudWatch::Alarm").values()
        if r["Properties"]["Namespace"] == "AWS/SQS"
    }
    assert alarmed == {f"{name}" for name in resources if name.endswith("Dlq")}


def _statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in _of_type(resources, "AWS::IAM::Role").items():
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def test_iam_policies_grant_no_wildcard_actions(resources: dict[str, Any]) -> None:
    """No statement allows `*` or `service:*`; each service role names its own queue only."""
    for role, statement in _statements(resources):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if a == "*" or a.endswith(":*")], (role, actions)
    for queue in TOPOLOGY.queues:
        role = "".join(part.capitalize() for part in queue.service.split("-")) + "TaskRole"
        consumed = {s["Resource"]["Fn::GetAtt"][0] for r, s in _statements(resources)
                    if r == role and "sqs:ReceiveMessage" in s["Action"] and "Fn::GetAtt" in s["Resource"]}  # fmt: skip
        assert consumed == {"".join(p.capitalize() for p in queue.name.split("-")) + "Queue"}


_API_NAMES = {"EFSVolumeConfiguration": "efsVolumeConfiguration", "FilesystemId": "fileSystemId", "IAM": "iam"}


def _api_shape(value: Any) -> Any:
    """CloudFormation properties → RegisterTaskDefinition parameters (camelCase, intrinsics as strings; a
    condition's first branch, which holds the more settings)."""
    if isinstance(value, dict):
        if list(value) == ["Fn::If"]:
            return _api_shape(value["Fn::If"][1])
        if len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref")):
            return "resolved-at-deploy"
        return {_API_NAMES.get(k, k[0].lower() + k[1:]) if not re.match(r"^awslogs-", k) else k: _api_shape(v)
                for k, v in value.items()}  # fmt: skip
    if isinstance(value, list):
        return [_api_shape(v) for v in value]
    return value


def test_task_definitions_validate_against_botocores_ecs_model(resources: dict[str, Any]) -> None:
    """Every task definition is a valid RegisterTaskDefinition request; every process has one, plus Triton on a GPU."""
    shape = (
        boto3.session.Session().get_available_services()
        and boto3.client("ecs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        .meta.service_model.operation_model("RegisterTaskDefinition")
        .input_shape
    )
    definitions = _of_type(resources, "AWS::ECS::TaskDefinition")
    for name, definition in definitions.items():
        params = _api_shape(definition["Properties"])
        for container in params["containerDefinitions"]:
            if isinstance(container.get("memory"), str):
                container["memory"] = 1024  # a parameter reference: a number at deploy time
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), (name, report.generate_report())
    families = {_name(d["Properties"]["Family"]) for d in definitions.values()}
    assert families == {*PROCESSES, "triton"}
    triton = definitions["TritonTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert triton["ResourceRequirements"] == [{"Type": "GPU", "Value": "1"}]


def test_a_labeling_job_given_up_on_alarms(resources: dict[str, Any]) -> None:
    """The alarm watches the metric gt-bridge counts (same namespace, name and stack dimension), and only
    gt-bridge may put metrics, into that namespace only."""
    namespace, metric = FAILED_JOB_METRIC
    alarm = resources["LabelingJobFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    assert [d["Name"] for d in alarm["Dimensions"]] == ["Stack"]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    putters = {
        name: statement["Condition"]
        for name, role in _of_type(resources, "AWS::IAM::Role").items()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if "cloudwatch:PutMetricData" in statement["Action"]
    }
    assert putters == {"GtBridgeTaskRole": {"StringEquals": {"cloudwatch:namespace": namespace}}}


def test_the_sweep_index_is_declared_and_gt_bridge_may_query_it(resources: dict[str, Any]) -> None:
    """The labeling table carries the sparse `pending` index (job, last send) gt-bridge's sweep queries."""
    table = resources["LabelingTable"]["Properties"]
    [index] = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "pending"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["job_key", "pending_since"]
    declared = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert declared == {"pk": "S", "job_key": "S", "pending_since": "N"}
    granted = [
        resource
        for statement in resources["GtBridgeTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if "dynamodb:Query" in statement["Action"]
        for resource in statement["Resource"]
    ]
    assert {"Fn::Sub": "${LabelingTable.Arn}/index/*"} in granted


def test_people_reach_the_portal_only_through_https_and_a_sign_in(resources: dict[str, Any]) -> None:
    """The portal listens in its container (0.0.0.0:8088) in people mode unless PortalMode says otherwise;
    its ALB takes HTTPS only, signs every request in with Cognito before forwarding, and the portal's tasks
    accept traffic from that ALB alone; as many tasks as any service, since its tasks live in DynamoDB."""
    template = yaml.safe_load(TEMPLATE.read_text())
    assert template["Parameters"]["PortalMode"]["Default"] == "people"
    [container] = resources["PortalTaskDefinition"]["Properties"]["ContainerDefinitions"]
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert environment["LABELLOOP_PORTAL_MODE"] == {"Ref": "PortalMode"}
    assert environment["LABELLOOP_PORTAL_HTTP_HOST"] == "0.0.0.0"  # noqa: S104
    assert container["PortMappings"] == [{"ContainerPort": 8088, "Protocol": "tcp"}]
    service = resources["PortalService"]["Properties"]
    assert service["DesiredCount"] == {"Ref": "DesiredCount"}
    assert service["LoadBalancers"][0]["TargetGroupArn"] == {"Ref": "PortalTargetGroup"}
    listeners = _of_type(resources, "AWS::ElasticLoadBalancingV2::Listener")
    assert [
        (listener["Properties"]["Protocol"], listener["Properties"]["Port"]) for listener in listeners.values()
    ] == [("HTTPS", 443)]
    [listener] = listeners.values()
    assert listener["Properties"]["Certificates"] == [{"CertificateArn": {"Ref": "PortalCertificateArn"}}]
    actions = sorted(listener["Properties"]["DefaultActions"], key=lambda action: action["Order"])
    assert [action["Type"] for action in actions] == ["authenticate-cognito", "forward"]
    assert actions[0]["AuthenticateCognitoConfig"]["OnUnauthenticatedRequest"] == "authenticate"
    assert resources["PortalTargetGroup"]["Properties"]["HealthCheckPath"] == "/healthz"
    pool = resources["PortalUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    ingress = resources["PortalFromLoadBalancer"]["Properties"]
    assert (ingress["FromPort"], ingress["SourceSecurityGroupId"]) == (8088, {"Ref": "PortalLoadBalancerSecurityGroup"})
    mapped = [name for name, r in _of_type(resources, "AWS::ECS::TaskDefinition").items()
              if any(c.get("PortMappings") for c in r["Properties"]["ContainerDefinitions"])]  # fmt: skip
    assert sorted(mapped) == ["PortalTaskDefinition", "TritonTaskDefinition"]


CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.skipif(not CHECKOV.exists(), reason="checkov's own virtualenv could not be built (make builds it)")
def test_checkov_finds_nothing_on_the_rendered_template() -> None:
    """checkov 3.3.30 on labelloop.yaml: no failed check; every waived one carries its reason in the template."""
    result = subprocess.run(
        [str(CHECKOV), "-f", str(TEMPLATE), "--framework", "cloudformation", "--output", "json", "--quiet",
         "--skip-download"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0, failed
    assert report["summary"]["passed"] > 100
    waived = [
        skip
        for resource in yaml.safe_load(TEMPLATE.read_text())["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert waived
    assert all(len(skip["comment"]) > 40 for skip in waived)


def test_topics_use_a_key_s3_and_cloudwatch_may_publish_with_and_data_stores_outlive_the_stack(
    resources: dict[str, Any],
) -> None:
    """AWS's alias/aws/sns admits no service: S3 could not notify the uploads topic nor CloudWatch the alarm
    topic. Every topic uses the stack's messaging key, whose policy lets both; publishers may use it; gt-bridge
    encrypts the topics it creates with it. Buckets, tables, the model repository and the key are retained."""
    topics = _of_type(resources, "AWS::SNS::Topic")
    assert topics
    assert all(t["Properties"]["KmsMasterKeyId"] == {"Ref": "MessagingKey"} for t in topics.values())
    statements = resources["MessagingKey"]["Properties"]["KeyPolicy"]["Statement"]
    [services] = [s for s in statements if "Service" in s["Principal"]]
    assert sorted(services["Principal"]["Service"]) == ["cloudwatch.amazonaws.com", "s3.amazonaws.com"]
    assert "kms:GenerateDataKey*" in services["Action"]
    for role in ("IngestTaskRole", "GtBridgeTaskRole", "PortalTaskRole", "TrainerTaskRole"):
        grants = [s for s in resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
                  if "kms:GenerateDataKey" in s["Action"]]  # fmt: skip
        assert grants[0]["Resource"] == [{"Fn::GetAtt": ["MessagingKey", "Arn"]}], role
    [container] = resources["GtBridgeTaskDefinition"]["Properties"]["ContainerDefinitions"]
    assert {"Name": "LABELLOOP_GT_BRIDGE_TOPIC_KMS_KEY", "Value": {"Ref": "MessagingKey"}} in container["Environment"]
    stores = [*_of_type(resources, "AWS::S3::Bucket").values(), *_of_type(resources, "AWS::DynamoDB::Table").values(),
              *_of_type(resources, "AWS::EFS::FileSystem").values(), resources["MessagingKey"]]  # fmt: skip
    assert all(r["DeletionPolicy"] == r["UpdateReplacePolicy"] == "Retain" for r in stores)
    portal = resources["PortalTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [queues] = [s for s in portal if "sqs:ReceiveMessage" in s["Action"]]
    assert {"sqs:SendMessage", "sqs:ChangeMessageVisibility"} <= set(queues["Action"])  # its DLQ; handing back


def test_gt_bridge_may_pass_only_its_ground_truth_role_and_only_to_sagemaker(resources: dict[str, Any]) -> None:
    statements = resources["GtBridgeTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    [passing] = [s for s in statements if "iam:PassRole" in s["Action"]]
    assert passing["Resource"]["Fn::Sub"].endswith(":role/${Stack}-ground-truth*")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert not [s for name, s in _statements(resources) if "iam:PassRole" in s["Action"] and name != "GtBridgeTaskRole"]


def test_the_ground_truth_backend_comes_with_a_lambda_pair_per_task_type_and_its_role(
    resources: dict[str, Any],
) -> None:
    """LabelingBackend=ground-truth deploys, per task type (head, keypoints, adjustment), a pre-annotation and a
    consolidation Lambda running gt-bridge's own code inline, the role Ground Truth assumes (a name gt-bridge
    may pass) allowed to invoke exactly those six, and hands gt-bridge every setting it checks at start."""
    source = (REPO / "services/gt-bridge/src/labelloop_gt_bridge/ground_truth_lambda.py").read_text()
    assert len(source) <= 4096  # CloudFormation's limit on inline (ZipFile) code
    namespace: dict[str, Any] = {}
    exec(compile(source, "index.py", "exec"), namespace)  # noqa: S102 - our own file, as Lambda imports it
    functions = _of_type(resources, "AWS::Lambda::Function")
    assert {(f["Properties"]["Environment"]["Variables"]["TASK_TYPE"], f["Properties"]["Handler"])
            for f in functions.values()} == {
        (task, f"index.{handler}") for task in TASK_TYPES for handler in ("pre", "consolidate")}  # fmt: skip
    for function in functions.values():
        assert function["Condition"] == "UseGroundTruth"
        assert function["Properties"]["Code"]["ZipFile"] == source
        assert callable(namespace[function["Properties"]["Handler"].removeprefix("index.")])
    role = resources["GroundTruthRole"]["Properties"]
    assert role["RoleName"] == {"Fn::Sub": "${Stack}-ground-truth"}  # what gt-bridge's iam:PassRole allows
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    [invoke] = [s for s in statements if s["Action"] == ["lambda:InvokeFunction"]]
    assert sorted(r["Fn::GetAtt"][0] for r in invoke["Resource"]) == sorted(functions)
    [container] = resources["GtBridgeTaskDefinition"]["Properties"]["ContainerDefinitions"]
    environment = {e["Name"].removeprefix("LABELLOOP_GT_BRIDGE_").lower(): e["Value"] for e in container["Environment"]}
    assert environment["backend"] == {"Ref": "LabelingBackend"}
    assert set(GROUND_TRUTH_SHAPES) <= set(environment)  # every setting the backend checks at start
    template = yaml.safe_load(TEMPLATE.read_text())
    assert template["Parameters"]["LabelingBackend"]["Default"] == "portal"
