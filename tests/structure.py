"""Reads the import structure of the repository's packages from their source (ast), for the tests
that keep it layered: rooms by audience (``labelloop`` kernel → services → ``labelloop_tools``),
imports only downward, no circles, and every imported distribution declared in its pyproject.toml.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KERNEL = "labelloop"
TOOLS = "labelloop_tools"
PUBLIC_FOR_TOOLS = "for_tools"
"""The one module of a service that ``labelloop_tools`` may import (``labelloop_<service>.for_tools``)."""


@dataclass(frozen=True)
class Package:
    """One installable package: its distribution folder (with pyproject.toml) and its import name."""

    root: Path
    name: str

    @property
    def source(self) -> Path:
        return self.root / "src" / self.name

    @property
    def room(self) -> str:
        if self.name == KERNEL:
            return "kernel"
        return "tools" if self.name == TOOLS else "service"


@dataclass(frozen=True)
class Import:
    importer: str
    """Dotted module name of the importing file."""
    path: Path
    target: str
    """Dotted name as written (absolute), e.g. ``labelloop.aws`` or ``numpy``."""
    line: int
    typing_only: bool
    """Under ``if TYPE_CHECKING:``: needed by the type checker, never at run time."""


@dataclass
class Modules:
    """The first-party modules of some packages and every import they make."""

    files: dict[str, Path] = field(default_factory=dict)
    imports: list[Import] = field(default_factory=list)

    def resolve(self, target: str) -> str | None:
        """The first-party module an import lands in (the longest known prefix), if any."""
        parts = target.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.files:
                return candidate
        return None


def packages(repo: Path = REPO) -> list[Package]:
    """The kernel, every service and the tools, found from their pyproject.toml files."""
    found = []
    for pyproject in sorted([repo / "shared" / "pyproject.toml", repo / "tools" / "pyproject.toml",
                             *repo.glob("services/*/pyproject.toml")]):  # fmt: skip
        [source] = [p for p in (pyproject.parent / "src").iterdir() if p.is_dir() and not p.name.endswith("egg-info")]
        found.append(Package(pyproject.parent, source.name))
    return found


def module_name(package_source: Path, path: Path) -> str:
    relative = path.relative_to(package_source.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int, bool]]:
    """(absolute target, line, typing only) for every import statement, functions' own included."""

    def visit(node: ast.AST, typing_only: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from visit_one(statement, typing_only=True)
                for statement in child.orelse:
                    yield from visit_one(statement, typing_only)
            else:
                yield from visit_one(child, typing_only)

    def visit_one(node: ast.AST, typing_only: bool) -> Iterator[tuple[str, int, bool]]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, typing_only
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import name` may name a submodule: record both, resolve() keeps what exists.
            yield base, node.lineno, typing_only
            for alias in node.names:
                if alias.name != "*":
                    yield f"{base}.{alias.name}", node.lineno, typing_only
        else:
            yield from visit(node, typing_only)

    yield from visit(tree, False)


def read_modules(sources: Iterable[Path]) -> Modules:
    """Every ``.py`` file under each package source folder, and its imports."""
    modules = Modules()
    for source in sources:
        for path in sorted(source.rglob("*.py")):
            modules.files[module_name(source, path)] = path
    for name, path in list(modules.files.items()):
        tree = ast.parse(path.read_text(), filename=str(path))
        for target, line, typing_only in _imports_of(tree, name, path.name == "__init__.py"):
            modules.imports.append(Import(name, path, target, line, typing_only))
    return modules


def _room(module: str) -> tuple[str, str]:
    """(room, top-level package) of a first-party module."""
    top = module.split(".", maxsplit=1)[0]
    if top == KERNEL:
        return "kernel", top
    return ("tools" if top == TOOLS else "service"), top


def layer_violations(modules: Modules, repo: Path = REPO) -> list[str]:
    """Imports that point up or sideways, each naming the two files."""
    problems = []
    # `from pkg import sub` is recorded as pkg and pkg.sub: judge each statement once, by where it lands deepest.
    deepest: dict[tuple[Path, int], tuple[Import, str]] = {}
    for edge in modules.imports:
        landed = modules.resolve(edge.target)
        key = (edge.path, edge.line)
        if landed is not None and (key not in deepest or len(landed) > len(deepest[key][1])):
            deepest[key] = (edge, landed)
    for edge, landed in deepest.values():
        (room, top), (target_room, target_top) = _room(edge.importer), _room(landed)
        if top == target_top:
            continue
        allowed = target_room == "kernel" or (
            room == "tools" and target_room == "service" and landed.split(".")[-1] == PUBLIC_FOR_TOOLS
        )
        if not allowed:
            why = {
                ("kernel", "service"): "the kernel imports a service",
                ("kernel", "tools"): "the kernel imports the tools",
                ("service", "service"): "a service imports another service",
                ("service", "tools"): "a service imports the tools",
                ("tools", "service"): f"the tools import a service other than through its {PUBLIC_FOR_TOOLS} module",
            }[(room, target_room)]
            problems.append(
                f"{edge.path.relative_to(repo)}:{edge.line} imports {modules.files[landed].relative_to(repo)} "
                f"({edge.target}): {why}"
            )
    return problems


def import_cycles(modules: Modules, repo: Path = REPO) -> list[list[str]]:
    """Circles of imports between first-party files (typing-only imports included: a circle in the
    types is a circle in the design), each as the files that form it."""
    graph: dict[str, set[str]] = {name: set() for name in modules.files}
    for edge in modules.imports:
        landed = modules.resolve(edge.target)
        # `from labelloop import x` inside labelloop itself would tie every module to __init__:
        # a package's own __init__ re-exports, it is not a dependency of its modules.
        if landed is None or landed == edge.importer or landed == edge.importer.split(".")[0]:
            continue
        graph[edge.importer].add(landed)
    return [
        sorted(str(modules.files[name].relative_to(repo)) for name in component)
        for component in _strongly_connected(graph)
        if len(component) > 1
    ]


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (deep import chains must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for start, first_successors in graph.items():
        if start in index:
            continue
        work = [(start, iter(sorted(first_successors)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = counter
                    counter += 1
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components


def third_party_imports(package: Package) -> dict[str, list[str]]:
    """Top-level names a package imports at run time that are neither the standard library nor its
    own, each with the files that import it."""
    modules = read_modules([package.source])
    found: dict[str, list[str]] = {}
    for edge in modules.imports:
        top = edge.target.split(".")[0]
        if edge.typing_only or not top or top in sys.stdlib_module_names or top == package.name:
            continue
        where = str(edge.path.relative_to(REPO))
        if where not in found.setdefault(top, []):
            found[top].append(where)
    return found
