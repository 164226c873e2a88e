"""The README and docker-compose.yml stay true to the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from labelloop import SERVICES, WorkerSettings
from labelloop.topology import PROCESSES
from labelloop_gt_bridge.settings import GtBridgeSettings
from labelloop_inference.settings import InferenceSettings
from labelloop_ingest.settings import IngestSettings
from labelloop_portal import label_studio_setup
from labelloop_portal.settings import PortalSettings
from labelloop_portal.web import WEBHOOK_PATH as WEBHOOK_ROUTE
from labelloop_selector.settings import SelectorSettings
from labelloop_tools.local.label_studio import VERSION as LABEL_STUDIO_VERSION
from labelloop_tools.local.stack import service_env_prefix, service_module
from labelloop_trainer.settings import TrainerSettings

REPO = Path(__file__).parents[2]


def _settings_table(readme: str, heading: str) -> set[str]:
    section = readme.split(heading, 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_readme_documents_every_setting_and_prefix() -> None:
    """Every WorkerSettings field, every service's env prefix and ingest's own fields are in the README."""
    readme = (REPO / "README.md").read_text()
    assert _settings_table(readme, "## Configuration") == {name.upper() for name in WorkerSettings.model_fields}
    for service in SERVICES:
        assert f"`{service_env_prefix(service)}`" in readme
    for settings, heading in (
        (IngestSettings, "### ingest (`LABELLOOP_INGEST_`)"),
        (SelectorSettings, "### selector (`LABELLOOP_SELECTOR_`)"),
        (InferenceSettings, "### inference (`LABELLOOP_INFERENCE_`)"),
        (GtBridgeSettings, "### gt-bridge (`LABELLOOP_GT_BRIDGE_`)"),
        (PortalSettings, "### portal (`LABELLOOP_PORTAL_`)"),
        (TrainerSettings, "### trainer (`LABELLOOP_TRAINER_`)"),
    ):
        own = set(settings.model_fields) - set(WorkerSettings.model_fields)
        assert _settings_table(readme, heading) == {name.upper() for name in own}


def test_readme_first_screen_has_the_two_commands() -> None:
    """The set-up block on the first screen is exactly `make demo` and `make test`."""
    first_screen = (REPO / "README.md").read_text().splitlines()[:20]
    commands = [line.split("#")[0].strip() for line in first_screen if line.startswith("make ")]
    assert commands == ["make demo", "make test"]


def test_compose_builds_every_service_from_the_one_dockerfile() -> None:
    """docker-compose.yml builds each service from the root Dockerfile with its SERVICE arg, after provisioning."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for service in PROCESSES:
        definition = compose["services"][service]
        assert definition["build"] == {"context": ".", "args": {"SERVICE": service}}
        assert definition["depends_on"]["provision"]["condition"] == "service_completed_successfully"
        assert definition["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert compose["services"]["provision"]["command"] == ["python", "-m", "labelloop.provision"]
    assert not list(REPO.glob("services/*/Dockerfile")), "one Dockerfile for every service"


def test_the_dockerfile_is_pinned_layered_non_root_and_healthchecked() -> None:
    """Base image by digest; dependencies installed from pyproject files before any source is copied; a user;
    a HEALTHCHECK; CPU-only torch unless TORCH=cuda; each service's console script (one per service) as CMD."""
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:[0-9.]+-slim-bookworm@sha256:[0-9a-f]{64}$", dockerfile, re.MULTILINE)
    dependencies = dockerfile.index("dependencies_of.py shared")
    assert dependencies < dockerfile.index("COPY shared shared") < dockerfile.index("pip install --no-deps")
    assert "USER labelloop" in dockerfile
    assert re.search(r'^HEALTHCHECK .*CMD \["python", "-m", "labelloop.healthcheck"\]$', dockerfile, re.MULTILINE)
    assert 'pip install --index-url "${TORCH_CPU_INDEX}"' in dockerfile
    assert "ARG TORCH=cpu" in dockerfile
    assert 'CMD ["sh", "-c", "exec labelloop-${LABELLOOP_IMAGE_SERVICE}"]' in dockerfile
    for service in PROCESSES:
        project = (REPO / "services" / service / "pyproject.toml").read_text()
        assert f'labelloop-{service} = "{service_module(service)}.entrypoint:main"' in project


def test_the_dependency_layer_lists_third_party_requirements_only() -> None:
    """requirements/dependencies_of.py follows labelloop-* requirements to their pyproject files and prints
    every other one once: the trainer's image gets torch from its [train] extra and numpy from shared[vision]."""
    script = REPO / "requirements" / "dependencies_of.py"
    printed = subprocess.run([sys.executable, str(script), "shared", "services/trainer[train]"], capture_output=True,
                             text=True, check=True).stdout.splitlines()  # fmt: skip
    assert not [line for line in printed if line.startswith("labelloop")]
    assert len(printed) == len(set(printed))
    assert {"torch==2.14.1", "numpy<2", "tritonclient[http]>=2.40", "boto3>=1.34"} <= set(printed)
    selector = subprocess.run([sys.executable, str(script), "shared", "services/selector"], capture_output=True,
                              text=True, check=True).stdout  # fmt: skip
    assert "torch" not in selector


def test_compose_label_studio_profile_is_wired_like_labelloop_up() -> None:
    """The `label-studio` profile: the pinned image of the version we test, the portal pointed at it with the
    same token Label Studio's admin gets, its webhook at the portal's route, and the one-shot set-up step;
    gt-bridge's backend stays `portal` unless asked."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    studio, setup, portal = services["label-studio"], services["label-studio-setup"], services["portal"]["environment"]
    assert studio["image"] == f"heartexlabs/label-studio:{LABEL_STUDIO_VERSION}"
    assert studio["profiles"] == setup["profiles"] == ["label-studio"]
    assert studio["environment"]["SSRF_PROTECTION_ENABLED"] == "false"
    assert portal["LABELLOOP_PORTAL_LABEL_STUDIO_TOKEN"] == studio["environment"]["LABEL_STUDIO_USER_TOKEN"]
    assert portal["LABELLOOP_PORTAL_LABEL_STUDIO_WEBHOOK_URL"] == f"http://portal:8088{WEBHOOK_ROUTE}"
    assert portal["LABELLOOP_PORTAL_LABEL_STUDIO_URL"] == setup["environment"]["LABEL_STUDIO_URL"]
    assert portal["LABELLOOP_PORTAL_LABEL_STUDIO_FRAMES_URL"] == "http://127.0.0.1:8088"  # the published port
    assert setup["command"] == ["python", "-m", label_studio_setup.__name__]
    assert (
        services["gt-bridge"]["environment"]["LABELLOOP_GT_BRIDGE_BACKEND"] == "${LABELLOOP_GT_BRIDGE_BACKEND:-portal}"
    )
