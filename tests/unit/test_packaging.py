"""What pyproject.toml declares is what the code imports: no missing dependency (an ImportError on a
user's machine) and no unused one; package data names only files that exist."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def declared(section: str) -> set[str]:
    """Distribution names in a dependency list of pyproject.toml (`dependencies` or an extra)."""
    m = re.search(rf"^{re.escape(section)} = \[(.*?)\]", PYPROJECT, re.MULTILINE | re.DOTALL)
    assert m, section
    return {re.split(r"[<>=!~\[ ]", item.strip().strip('"'))[0].lower() for item in m.group(1).split(",") if item.strip().strip('"')}


def imported(folder: Path) -> set[str]:
    """Top-level modules imported by the Python files under `folder`, standard library and own code aside."""
    return set().union(*(imported_file(path) for path in folder.rglob("*.py")))


def imported_file(path: Path) -> set[str]:
    if path.suffix != ".py":
        return set()
    tmp: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            tmp |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            tmp.add(node.module.split(".")[0])
    return {n for n in tmp if n not in sys.stdlib_module_names and n not in ("mastodon_sandbox", "tests", "standin", "common")}


def distributions(modules: set[str]) -> set[str]:
    dists = packages_distributions()
    missing = {m for m in modules if m not in dists}
    assert not missing, f"imported but not installed: {missing}"
    return {dists[m][0].lower() for m in modules}


# Code that only pytest loads: the plugin and the contract suite. What it imports is the `pytest` extra.
PYTEST_ONLY = (ROOT / "sandbox" / "testing", ROOT / "sandbox" / "contract" / "suite")


def test_the_package_declares_exactly_what_it_imports():
    """The plugin (sandbox/testing) and the contract suite are loaded by pytest only: what they import is the
    `pytest` extra."""
    plugin = set().union(*(imported(folder) for folder in PYTEST_ONLY))
    core = set().union(*(imported_file(path) for path in (ROOT / "sandbox").rglob("*.py")
                         if not any(path.is_relative_to(folder) for folder in PYTEST_ONLY)))
    assert distributions(core) == declared("dependencies")
    assert distributions(plugin) - declared("dependencies") <= declared("pytest")


def test_the_test_extra_covers_what_the_tests_import_beyond_the_package():
    needed = distributions(imported(ROOT / "tests") | imported(ROOT / "bench")) - declared("dependencies")
    assert needed <= declared("test"), needed - declared("test")


def test_package_data_names_files_that_exist():
    m = re.search(r'^mastodon_sandbox = \[(.*?)\]', PYPROJECT, re.MULTILINE)
    for pattern in re.findall(r'"([^"]+)"', m.group(1)):
        assert list((ROOT / "sandbox").glob(pattern)), pattern


def test_every_package_folder_is_shipped():
    """pyproject lists the packages (it maps sandbox/ in as mastodon_sandbox and compose/ as its _compose, so
    `find` cannot be used): a new folder with an __init__.py must be listed, or an installed copy lacks it."""
    listed = set(re.findall(r'"([^"]+)"', re.search(r"^packages = \[(.*?)\]", PYPROJECT, re.MULTILINE | re.DOTALL).group(1)))
    found = {".".join(("mastodon_sandbox", *p.parent.relative_to(ROOT / "sandbox").parts)) for p in (ROOT / "sandbox").rglob("__init__.py")}
    assert found <= listed, found - listed
    assert "mastodon_sandbox._compose" in listed and (ROOT / "compose" / "base.yml").is_file()


def test_the_package_imports_itself_only_relatively():
    """Its one import name is `mastodon_sandbox` (the folder is sandbox/, which a user's own `sandbox` module
    may shadow on sys.path): an absolute `sandbox.` import inside it would load the user's module instead."""
    offenders = []
    for path in (ROOT / "sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "sandbox" or n.startswith("sandbox.")]
    assert not offenders, offenders


def test_the_readme_shows_the_example_bot_as_it_is():
    """The README's complete example is the example suite that runs with the tests, byte for byte."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    for name in ("bot.py", "test_bot.py"):
        assert (ROOT / "tests" / "example_bot" / name).read_text() in blocks, name


def test_the_contract_suites_collected_files_import_the_package_by_its_name():
    """pytest imports the suite's test files and conftest by their path, which in a checkout is sandbox/…, not
    the package's name: a relative import there would load a second copy of the package."""
    suite = ROOT / "sandbox" / "contract" / "suite"
    relative = [f"{path.name}: {'.' * node.level}{node.module or ''}" for path in [*suite.glob("test_*.py"), suite / "conftest.py"]
                for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert not relative, relative
