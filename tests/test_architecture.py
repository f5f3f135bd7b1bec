"""The shape CONTRIBUTING.md promises, checked on the source itself.

- imports run one way: no cycle between the integration's modules, counting imports
  under ``TYPE_CHECKING`` and inside functions;
- ``api/`` and every vendor's ``model.py`` are plain Python (no Home Assistant);
- every vendor package has the same files, and reaches its own coordinator and data
  without downcasts (the generic ``Vendor[Coordinator]`` seam types them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from custom_components.iot_bridge.vendors import VENDORS

PACKAGE = Path(__file__).parents[1] / "custom_components" / "iot_bridge"
ROOT_MODULE = "custom_components.iot_bridge"
VENDOR_FILES = ("__init__.py", "model.py", "coordinator.py", "entities.py")
# Only the compatibility module may cast: it bridges two Home Assistant releases.
DOWNCASTS = ("cast(", "type: ignore", "assert isinstance", "getattr(")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The integration's modules this one imports, wherever in the file the import is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in known}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target in known:
                found.add(target)
            # ``from . import x`` may name a module.
            found |= {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known}
    found.discard(name)
    return found


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def _imports_home_assistant(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.level
            else []
        )
        if any(name.split(".")[0] == "homeassistant" for name in names):
            return True
    return False


def test_protocol_layer_and_models_are_plain_python() -> None:
    plain = [*(PACKAGE / "api").glob("*.py"), *(PACKAGE / key / "model.py" for key in VENDORS)]
    assert [str(p.relative_to(PACKAGE)) for p in plain if _imports_home_assistant(p)] == []


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_vendor_package_shape(vendor: str) -> None:
    folder = PACKAGE / vendor
    assert all((folder / name).is_file() for name in VENDOR_FILES), sorted(
        p.name for p in folder.glob("*.py")
    )
    downcasts = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(folder.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if any(word in line for word in DOWNCASTS)
    ]
    assert downcasts == []


def test_coordinators_do_not_import_entities() -> None:
    modules = _modules()
    for vendor in VENDORS:
        name = f"{ROOT_MODULE}.{vendor}.coordinator"
        assert f"{ROOT_MODULE}.{vendor}.entities" not in _imports(name, modules[name], set(modules))
