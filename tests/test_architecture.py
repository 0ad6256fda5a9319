"""The module structure docs/architecture.md describes: no import cycles, no imports tucked into
functions, and libraries (sync/, media/) that know nothing of the application or of Flask."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "sync", "media")
#: Function-level imports that load an optional dependency only when it is used (not a cycle).
LAZY_ALLOWED = {("app.media.services", "media.s3")}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _target(name: str) -> str | None:
    """The project module an import names (``from app.x import y`` may name module app.x.y)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported project module, inside a function?) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    target = _target(f"{child.module}.{alias.name}")
                    if target:
                        out.append((target, nested))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    target = _target(alias.name)
                    if target:
                        out.append((target, nested))
            visit(child, nested)

    visit(tree, False)
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _ in _imports(path):
            # A package's __init__ importing its own submodules is how packages export names.
            if target != name and not target.startswith(name + "."):
                graph[name].add(target)
    return graph


def test_no_module_imports_another_inside_a_function() -> None:
    tucked = sorted(
        (name, target)
        for name, path in MODULES.items()
        for target, in_function in _imports(path)
        if in_function and (name, target) not in LAZY_ALLOWED
    )
    assert tucked == []


def test_the_module_graph_has_no_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                walk(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_the_libraries_import_nothing_of_the_application_or_of_flask() -> None:
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith(("sync", "media")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [(name, n) for n in names if n.split(".")[0] in ("app", "flask")]
    assert offenders == []


def test_every_models_module_is_in_the_metadata_list() -> None:
    from app import models

    listed = {m.__name__ for m in models.MODULES}
    domains = {n for n in MODULES if n.startswith("app.") and n.endswith(".models")} - {
        "app.models"
    }
    assert listed == domains


#: The modules of the HTTP boundary: they may read flask's ``request`` and ``g``; every other
#: module of the application (services, schemas, visibility, the sync adapter …) is handed what
#: it needs (``actor``, ``now``, a base URL) by a route. ``app.db`` keeps the request's session
#: in ``g``: that is the session seam itself, not a read of the request.
BOUNDARY = {
    "app",
    "app.http",
    "app.errors",
    "app.i18n",
    "app.db",
    "app.auth.caller",
    "app.auth.limits",
}


def _reads_the_request(path: Path) -> list[str]:
    """The names among ``request`` and ``g`` (and ``flask.request``/``flask.g``) a file imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("flask", "flask.globals"):
            found += [a.name for a in node.names if a.name in ("request", "g")]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in ("request", "g")
            and isinstance(node.value, ast.Name)
            and node.value.id == "flask"
        ):
            found.append(f"flask.{node.attr}")
    return found


def test_no_service_reads_the_request_or_g() -> None:
    offenders = {
        name: names
        for name, path in MODULES.items()
        if name.startswith("app")
        and name not in BOUNDARY
        and not name.endswith(".routes")
        and (names := _reads_the_request(path))
    }
    assert offenders == {}


def test_the_request_check_sees_an_import_of_request() -> None:
    """The check above would catch a service that imports ``request`` or ``g`` from flask."""
    path = MODULES["app.http"]
    assert set(_reads_the_request(path)) >= {"request", "g"}
    assert "app.media.services" in MODULES and "app.media.services" not in BOUNDARY
