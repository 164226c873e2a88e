"""The README and docker-compose.yml stay true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from labelloop import SERVICES, WorkerSettings
from labelloop.local.stack import service_env_prefix, service_module
from labelloop.topology import PROCESSES
from labelloop_gt_bridge.settings import GtBridgeSettings
from labelloop_inference.settings import InferenceSettings
from labelloop_ingest.settings import IngestSettings
from labelloop_portal.settings import PortalSettings
from labelloop_selector.settings import SelectorSettings
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


def test_compose_builds_every_service_from_its_own_dockerfile() -> None:
    """docker-compose.yml runs each service from services/<name>/Dockerfile after the bootstrap."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for service in PROCESSES:
        definition = compose["services"][service]
        dockerfile = definition["build"]["dockerfile"]
        assert dockerfile == f"services/{service}/Dockerfile"
        assert (REPO / dockerfile).is_file()
        assert definition["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
        assert definition["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"


def test_each_dockerfile_runs_its_own_module_as_non_root() -> None:
    """Each image installs the shared library and its service only, runs as a user, and starts the right module."""
    for service in PROCESSES:
        dockerfile = (REPO / "services" / service / "Dockerfile").read_text()
        assert f'CMD ["python", "-m", "{service_module(service)}"]' in dockerfile
        assert "USER labelloop" in dockerfile
        installs = re.search(r"pip install .*", dockerfile)
        assert installs is not None
        # The service itself, optionally with extras (the trainer's [train] brings torch).
        assert re.search(rf'\./shared "?\./services/{service}(\[[a-z,]+\])?"?$', installs.group(0))
