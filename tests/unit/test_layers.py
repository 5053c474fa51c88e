"""The one-way flow of docs/architecture.md, held against the code.

Every `whisper_ui` module has a layer; a module may import its own layer and those
below it, never one above, and the three fronts (api, ui, cli) never import each
other. The table here is the one in docs/architecture.md; change both together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "whisper_ui"

# Lowest first. A top-level name (module or package) maps to its layer.
LAYERS: dict[str, int] = {
    "options": 0,
    "domain": 1,
    "names": 1,
    "languages": 1,
    "memory": 1,
    "auth": 1,
    "throttle": 1,
    "config": 1,
    "audio": 1,
    "engine": 2,
    "export": 2,
    "jobs": 3,
    "services": 4,
    "cluster": 4,  # imports services.local_pool; services imports it only with --cluster
    "api": 5,
    "ui": 5,
    "cli": 5,
}
FRONTS = {"api", "ui", "cli"}


def top(module: str) -> str | None:
    """The top-level part of a `whisper_ui.x.y` name, or None for another package."""
    parts = module.split(".")
    if parts[0] != "whisper_ui":
        return None
    return parts[1] if len(parts) > 1 else ""


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, whisper_ui module) for each project import in `path`, names included for
    `from whisper_ui import audio`."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "whisper_ui":
                found += [(node.lineno, f"whisper_ui.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def layer_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def violations() -> list[str]:
    found: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        own = layer_of(path)
        for line, module in imports_of(path):
            target = top(module)
            if target is None or target == "" or target == "__version__" or target == own:
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
            if own in FRONTS and target in FRONTS:
                found.append(f"{where} (one front importing another)")
            elif LAYERS[target] > LAYERS[own]:
                found.append(f"{where} (layer {LAYERS[own]} importing layer {LAYERS[target]})")
    return found


def test_every_module_has_a_layer() -> None:
    names = {layer_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert names <= set(LAYERS), f"give these a layer here and in the docs: {names - set(LAYERS)}"


def test_imports_only_go_down_the_flow() -> None:
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an engine module importing jobs is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from whisper_ui.jobs.queue import JobQueue\nfrom whisper_ui import services\n")
    modules = [m for _, m in imports_of(bad)]
    assert modules == ["whisper_ui.jobs.queue", "whisper_ui.services"]
    assert all(LAYERS[str(top(m))] > LAYERS["engine"] for m in modules)
