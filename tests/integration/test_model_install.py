"""Installing a model set into a stack (the launcher's and docker compose's first step) on a real moto server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from labelloop import AwsClients, ExitCode, StackNames
from labelloop.model_install import install_first_set
from labelloop.model_registry import Registry
from labelloop.model_set import read_set_folder
from labelloop.provision import ProvisionedStack

pytestmark = pytest.mark.integration
IN_CABIN = Path(__file__).parents[2] / "models" / "initial"


def test_the_first_set_is_installed_once_and_never_over_a_serving_one(
    aws: AwsClients, stack: ProvisionedStack, names: StackNames, tmp_path: Path
) -> None:
    """Version 1: Triton's repository, the registry's files and record (rig, slots, empty metrics), serving;
    a second install over a serving set changes nothing."""
    registry = Registry(aws.dynamodb, names.physical("models"))
    installed = install_first_set(IN_CABIN, registry=registry, s3=aws.s3, models_bucket=names.physical("models"),
                                  repository=tmp_path / "repo", backend="onnxruntime")  # fmt: skip
    assert installed == read_set_folder(IN_CABIN)
    assert registry.serving_set() == (1, installed)
    [record] = registry.versions()
    assert (record.version, record.status, record.metrics) == (1, "promoted", {})
    for model in ("pose_main", "pose_visible", "head"):
        assert (tmp_path / "repo" / model / "1" / "model.onnx").is_file()
        assert 'backend: "onnxruntime"' in (tmp_path / "repo" / model / "config.pbtxt").read_text()
        for suffix in (".onnx", ".pt"):
            aws.s3.head_object(Bucket=names.physical("models"), Key=f"registry/1/{model}{suffix}")
    again = install_first_set(IN_CABIN, registry=registry, s3=aws.s3, models_bucket=names.physical("models"),
                              repository=tmp_path / "other", backend="onnxruntime")  # fmt: skip
    assert again is None
    assert not (tmp_path / "other").exists()


def test_an_image_installs_with_python_m_and_names_a_missing_set(
    aws: AwsClients, stack: ProvisionedStack, local_env: dict[str, str], names: StackNames, tmp_path: Path
) -> None:
    """`python -m labelloop.model_install` (docker compose's models-init) installs the folder's set; a folder
    without a set is exit 78 with the reason, and nothing is registered."""
    env = local_env | {"LABELLOOP_MODEL_INSTALL_STACK": names.stack,
                       "LABELLOOP_MODEL_INSTALL_REPOSITORY": str(tmp_path / "repo")}  # fmt: skip
    empty = env | {"LABELLOOP_MODEL_INSTALL_FOLDER": str(tmp_path / "nothing-here")}
    missing = subprocess.run([sys.executable, "-m", "labelloop.model_install"], env=empty, capture_output=True,
                             text=True, timeout=120, check=False)  # fmt: skip
    assert missing.returncode == ExitCode.CONFIG
    assert "holds no model set" in missing.stdout + missing.stderr
    assert Registry(aws.dynamodb, names.physical("models")).serving() is None
    done = subprocess.run([sys.executable, "-m", "labelloop.model_install"],
                          env=env | {"LABELLOOP_MODEL_INSTALL_FOLDER": str(IN_CABIN)}, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    assert Registry(aws.dynamodb, names.physical("models")).serving() == 1
