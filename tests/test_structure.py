"""The package's shape: every module imports alone, imports only point down the layers, and no
module grows past ~400 lines without saying why."""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import REPO, cli_env

SOURCE = REPO / "sanitize"

#: Lowest first. A module may import from its own layer only inside its own package.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("sanitize.errors",),
    ("sanitize.findings", "sanitize.formats"),
    ("sanitize.model", "sanitize.config", "sanitize.storage", "sanitize.remote", "sanitize.watchdog"),
    ("sanitize.labels", "sanitize.arrays"),
    ("sanitize.load", "sanitize.datasets"),
    ("sanitize.checks", "sanitize.probe"),
    ("sanitize.batch", "sanitize.batching", "sanitize.report"),
    ("sanitize.pipeline",),
    ("sanitize.scan",),
    ("sanitize.audit", "sanitize.quarantine"),
    ("sanitize",),
    ("sanitize.cli",),
    ("sanitize.__main__",),
)
MAX_LINES = 400


def _module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(path) for path in SOURCE.rglob("*.py"))


def _place(module: str) -> tuple[int, str]:
    """(layer, the unit it belongs to: the longest layer entry that is it or holds it)."""
    matches = [
        (len(unit), layer, unit)
        for layer, units in enumerate(LAYERS)
        for unit in units
        if module == unit or (unit != "sanitize" and module.startswith(unit + "."))
    ]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    _, layer, unit = max(matches)
    return layer, unit


def _imports(module: str) -> set[str]:
    """The sanitize modules a module imports, anywhere in it (at runtime: not under TYPE_CHECKING)."""
    path = SOURCE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = SOURCE.parent / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("sanitize")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sanitize"):
            for alias in node.names:  # `from sanitize import batch` imports the module sanitize.batch
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


def test_every_package_folder_is_a_package():
    """A folder of modules without __init__.py is a namespace package: it imports from a checkout
    but is left out of a built wheel (setuptools' find_packages does not see it)."""
    folders = {path.parent for path in SOURCE.rglob("*.py")}
    assert sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").exists()) == []


def test_every_module_has_a_layer():
    for module in MODULES:
        _place(module)


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down_the_layers(module):
    layer, unit = _place(module)
    for imported in _imports(module):
        their_layer, their_unit = _place(imported)
        assert their_layer < layer or (their_layer == layer and their_unit == unit), (
            f"{module} (layer {layer}) imports {imported} (layer {their_layer})"
        )


def test_every_module_imports_alone_in_a_fresh_interpreter():
    def fresh_import(module: str) -> tuple[str, str]:
        # __main__ runs the command line when imported: run it as `python -m sanitize --help` instead
        command = ["-m", "sanitize", "--help"] if module == "sanitize.__main__" else ["-c", f"import {module}"]
        done = subprocess.run([sys.executable, *command], env=cli_env(), capture_output=True, text=True, timeout=120)
        return module, f"exit {done.returncode}: {done.stderr.strip()[-300:]}" if done.returncode else ""

    with ThreadPoolExecutor(4) as pool:
        failures = {module: why for module, why in pool.map(fresh_import, MODULES) if why}
    assert failures == {}


def test_no_module_is_long_without_saying_why():
    long = []
    for path in SOURCE.rglob("*.py"):
        lines = path.read_text().count("\n")
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and f"over {MAX_LINES} lines" not in docstring.lower():
            long.append(f"{path.relative_to(REPO)}: {lines}")
    assert long == []
