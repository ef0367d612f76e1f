"""The same package as `sandbox`, under a name no user project has: the pytest plugin is loaded as
`mastodon_sandbox.testing.plugin` (and the contract suite as `mastodon_sandbox.contract.suite`), so a
project whose own top-level module is called `sandbox` (it comes first on sys.path under pytest) neither
hides them nor gets them mixed with its code. Every import inside the package is relative, so its modules
load under either name (tests/unit/test_packaging.py checks)."""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent / "sandbox"
# The package's modules are the files of sandbox/ (next to this folder, in a checkout and in an install),
# and its top-level names are those sandbox/__init__.py defines.
__path__ = [str(_PACKAGE)]
exec(compile((_PACKAGE / "__init__.py").read_text(), str(_PACKAGE / "__init__.py"), "exec"))
