"""Print the third-party requirements of Labelloop packages, one per line, for ``pip install -r``.

The Dockerfile installs dependencies in a layer of their own, before any source is copied, so a code
change rebuilds only the thin source layer; this reads them from the packages' pyproject.toml files
(first-party ``labelloop-*`` requirements are followed to their own files, not printed).

    python requirements/dependencies_of.py shared 'services/trainer[train]'
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"labelloop-shared": "shared", "labelloop-tools": "tools"} | {
    f"labelloop-{p.name}": f"services/{p.name}" for p in (REPO / "services").iterdir() if p.is_dir()
}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?(.*)$")


def requirements(folder: str, extras: set[str], seen: set[tuple[str, frozenset[str]]]) -> list[str]:
    if (folder, frozenset(extras)) in seen:
        return []
    seen.add((folder, frozenset(extras)))
    project = tomllib.loads((REPO / folder / "pyproject.toml").read_text())["project"]
    wanted = list(project.get("dependencies", []))
    for extra in sorted(extras):
        wanted += project.get("optional-dependencies", {})[extra]
    found: list[str] = []
    for requirement in wanted:
        match = REQUIREMENT.match(requirement)
        if match is None:
            raise SystemExit(f"cannot read requirement {requirement!r} of {folder}")
        name, asked = match.group(1).lower().replace("_", "-"), match.group(2) or ""
        if name in FIRST_PARTY:
            found += requirements(FIRST_PARTY[name], {e.strip() for e in asked.split(",") if e.strip()}, seen)
        else:
            found.append(requirement)
    return found


def main(arguments: list[str]) -> None:
    seen: set[tuple[str, frozenset[str]]] = set()
    lines: list[str] = []
    for argument in arguments:
        folder, _, extras = argument.partition("[")
        lines += requirements(folder.rstrip("/"), {e for e in extras.rstrip("]").split(",") if e}, seen)
    sys.stdout.write("".join(f"{line}\n" for line in dict.fromkeys(lines)))


if __name__ == "__main__":
    main(sys.argv[1:])
