"""The package's layers: orchestration → provisioning → data → testing, each importing only its own layer and
the ones below, never one above (issue 25). Imports inside functions count: a lazy import is an arrow too.
The command line sits above all of them and may import anything.

Every module of the package must have a layer here: a new one is placed in the table below on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "mastodon_sandbox"
SOURCE = Path(__file__).resolve().parents[2] / "sandbox"

ORCHESTRATION, PROVISIONING, DATA, TESTING, COMMANDS = range(5)
LAYER_NAMES = ("orchestration", "provisioning", "data", "testing", "the command line")

# Module or package (relative to the package) -> its layer; the longest match wins. "" is the package's own
# __init__ only: a new module at the top is placed here too, not taken for orchestration unseen.
LAYERS = {
    "": ORCHESTRATION,
    "errors": ORCHESTRATION, "waiting": ORCHESTRATION, "config": ORCHESTRATION, "state": ORCHESTRATION,
    "timeouts": ORCHESTRATION, "progress": ORCHESTRATION, "tls": ORCHESTRATION, "environment": ORCHESTRATION,
    "docker_env": ORCHESTRATION, "composefiles": ORCHESTRATION, "images": ORCHESTRATION, "stack": ORCHESTRATION,
    "stores": ORCHESTRATION, "dumps": ORCHESTRATION, "handle": ORCHESTRATION, "backends": ORCHESTRATION,
    "lifecycle": ORCHESTRATION, "server_commands": ORCHESTRATION, "describe": ORCHESTRATION,
    "federation": ORCHESTRATION, "federation.group": ORCHESTRATION, "federation.names": ORCHESTRATION,
    "provision": PROVISIONING,
    "data": DATA, "federation.traffic": DATA, "federation.snapshots": DATA, "federation.seed": DATA,
    "faults": DATA,
    "testing": TESTING, "contract": TESTING,
    "cli": COMMANDS, "provision.cli": COMMANDS, "data.cli": COMMANDS, "federation.cli": COMMANDS,
    "contract.cli": COMMANDS, "faults.cli": COMMANDS,
}


def module_name(path: Path) -> str:
    """`mastodon_sandbox.data.seed` for sandbox/data/seed.py (the package's name for a package's __init__)."""
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join((PACKAGE, *(parts[:-1] if parts[-1] == "__init__" else parts)))


MODULES = {module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """The layer of one of the package's modules, by the longest entry of LAYERS it falls under."""
    inner = module.removeprefix(PACKAGE).removeprefix(".")
    matches = [key for key in LAYERS if inner == key or inner.startswith(key + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def imported_modules(module: str, code: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) for each of the package's modules that `code` (module `module`'s) imports, at any depth:
    in functions too. `from X import name` imports X.name when that is a module, else X."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # `.` is the module's package, each further dot the package above
                parts = package.split(".")
                source = ".".join([*parts[:len(parts) - node.level + 1], *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            found += [(node.lineno, f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source)
                      for alias in node.names]
    return [(line, name) for line, name in found if name == PACKAGE or name.startswith(PACKAGE + ".")]


def test_every_module_has_a_layer_and_every_entry_a_module():
    assert [m for m in MODULES if layer_of(m) is None] == []
    assert [key for key in LAYERS if ".".join(filter(None, (PACKAGE, key))) not in MODULES] == []


def test_no_module_imports_a_higher_layer():
    arrows_up = []
    for module, path in MODULES.items():
        own = layer_of(module)
        for line, target in imported_modules(module, path.read_text(), path.name == "__init__.py"):
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                arrows_up.append(f"{path.relative_to(SOURCE.parent)}:{line} ({LAYER_NAMES[own]}) imports {target} "
                                 f"({LAYER_NAMES[theirs]})")
    assert arrows_up == [], "\n".join(arrows_up)


def test_imports_are_read_as_python_reads_them():
    """The resolution the test above relies on, on the shapes the package uses."""
    lifecycle, fixtures = f"{PACKAGE}.lifecycle", f"{PACKAGE}.testing.fixtures"
    assert layer_of(f"{PACKAGE}.federation.traffic") == DATA
    assert layer_of(f"{PACKAGE}.federation") == ORCHESTRATION
    assert layer_of(f"{PACKAGE}.contract.suite.plugin") == TESTING
    assert layer_of(PACKAGE) == ORCHESTRATION and layer_of(f"{PACKAGE}.unplaced") is None
    assert imported_modules(lifecycle, "from .federation import group\n") == [(1, f"{PACKAGE}.federation.group")]
    assert imported_modules(lifecycle, "from .config import release\n") == [(1, f"{PACKAGE}.config")]
    assert imported_modules(fixtures, "def f():\n    from ..provision import provision\n") == [(2, f"{PACKAGE}.provision")]
    assert imported_modules(f"{PACKAGE}.data", "from . import seed\n", is_package=True) == [(1, f"{PACKAGE}.data.seed")]
    assert imported_modules(lifecycle, "import mastodon_sandbox.data.seed\nimport os\n") == [(1, f"{PACKAGE}.data.seed")]
