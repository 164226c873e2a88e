"""The house stays layered: rooms by audience, imports only downward, no circles, and every
package declares what it imports (read from the source with ast, nothing imported)."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.structure import REPO, Package, import_cycles, layer_violations, packages, read_modules, third_party_imports

PACKAGES = packages()
# Names that no pip distribution provides, and who provides them instead.
PROVIDED_BY_THE_RUNTIME = {
    # Triton's Python backend hands this module to the model.py it runs (labelloop.triton_onnx_model).
    "triton_python_backend_utils",
}


def test_every_package_is_in_its_room() -> None:
    """The kernel, six services and the tools are the installable packages; nothing else hides in src/."""
    rooms = {package.name: package.room for package in PACKAGES}
    assert rooms == {
        "labelloop": "kernel",
        "labelloop_tools": "tools",
        **{f"labelloop_{s}": "service" for s in ("gt_bridge", "inference", "ingest", "portal", "selector", "trainer")},
    }


def test_imports_only_point_down_and_never_in_a_circle() -> None:
    """No upward or sideways import (tools reach a service only through its for_tools module), no cycle."""
    modules = read_modules(package.source for package in PACKAGES)
    assert layer_violations(modules) == []
    assert import_cycles(modules) == []


def _package(root: Path, files: dict[str, str]) -> Path:
    source = root / "src" / root.name
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    return source


def test_the_checks_name_a_cycle_and_an_upward_import_added_by_hand(tmp_path: Path) -> None:
    """Two handlers importing each other make a circle; a kernel module importing a service is upward:
    each is reported with the files involved (this is what the test above would print)."""
    kernel = _package(tmp_path / "labelloop", {"__init__.py": "", "aws.py": "from labelloop_ingest import deps\n"})
    service = _package(
        tmp_path / "labelloop_ingest",
        {
            "__init__.py": "",
            "entrypoint.py": "from labelloop_ingest import handlers\n",
            "handlers.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from labelloop_ingest.entrypoint import Deps\n",
            "deps.py": "import labelloop.aws\n",
        },
    )
    modules = read_modules([kernel, service])
    assert sorted(import_cycles(modules, tmp_path)) == [
        ["labelloop/src/labelloop/aws.py", "labelloop_ingest/src/labelloop_ingest/deps.py"],
        ["labelloop_ingest/src/labelloop_ingest/entrypoint.py", "labelloop_ingest/src/labelloop_ingest/handlers.py"],
    ]
    [upward] = layer_violations(modules, tmp_path)
    assert upward.startswith("labelloop/src/labelloop/aws.py:1 imports labelloop_ingest/src/labelloop_ingest/deps.py")
    assert upward.endswith("the kernel imports a service")


def test_tools_may_reach_a_service_only_through_its_public_module(tmp_path: Path) -> None:
    """labelloop_tools → labelloop_trainer.for_tools is allowed; → labelloop_trainer.rounds is not."""
    service = _package(tmp_path / "labelloop_trainer", {"__init__.py": "", "for_tools.py": "", "rounds.py": ""})
    tools = _package(
        tmp_path / "labelloop_tools",
        {
            "__init__.py": "",
            "demo.py": "from labelloop_trainer.for_tools import x\nfrom labelloop_trainer import rounds\n",
        },
    )
    [problem] = layer_violations(read_modules([service, tools]), tmp_path)
    assert "demo.py:2 imports labelloop_trainer/src/labelloop_trainer/rounds.py" in problem
    assert problem.endswith("other than through its for_tools module")


def _requirement_name(requirement: str) -> tuple[str, set[str]]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?", requirement)
    assert match is not None, requirement
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return _normalise(match.group(1)), extras


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution(package: Package) -> str:
    return _normalise(tomllib.loads((package.root / "pyproject.toml").read_text())["project"]["name"])


def _declared(root: Path) -> set[str]:
    """Distributions a package declares (every extra included), with what the extras of our own
    packages it asks for declare in turn (``labelloop-shared[vision]`` brings numpy and OpenCV)."""
    by_distribution = {_distribution(p): p.root / "pyproject.toml" for p in PACKAGES}
    declared: set[str] = set()
    pending = [(root / "pyproject.toml", None)]
    seen: set[tuple[Path, frozenset[str] | None]] = set()
    while pending:
        pyproject, extras = pending.pop()
        if (pyproject, extras) in seen:
            continue
        seen.add((pyproject, extras))
        project = tomllib.loads(pyproject.read_text())["project"]
        optional = project.get("optional-dependencies", {})
        chosen = [*project.get("dependencies", []), *[r for name, reqs in optional.items() if extras is None
                                                       or name in extras for r in reqs]]  # fmt: skip
        for requirement in chosen:
            name, wanted = _requirement_name(requirement)
            declared.add(name)
            if name in by_distribution:
                pending.append((by_distribution[name], frozenset(wanted)))
    return declared


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_each_pyproject_declares_what_its_package_imports(package: Package) -> None:
    """Every third-party name a package imports at run time (lazy imports included) comes from a
    distribution its pyproject.toml declares, directly or through an extra of our own packages."""
    distributions = {top: {_normalise(d) for d in dists} for top, dists in packages_distributions().items()}
    ours = {
        p.name: _normalise(tomllib.loads((p.root / "pyproject.toml").read_text())["project"]["name"]) for p in PACKAGES
    }
    declared = _declared(package.root)
    missing = []
    for name, files in sorted(third_party_imports(package).items()):
        if name in PROVIDED_BY_THE_RUNTIME:
            continue
        candidates = {ours[name]} if name in ours else distributions.get(name, set())
        assert candidates, f"{name} (imported by {files[0]}) comes from no installed distribution"
        if not candidates & declared:
            missing.append(f"{name} ({' or '.join(sorted(candidates))}), imported by {', '.join(files)}")
    assert missing == [], f"{package.root.relative_to(REPO)}/pyproject.toml does not declare: " + "; ".join(missing)
