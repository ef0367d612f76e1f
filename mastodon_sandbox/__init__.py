"""The same package as `sandbox`, under a name no user project has: the pytest plugin is loaded as
`mastodon_sandbox.testing.plugin`, so a project whose own top-level module is called `sandbox` (it comes
first on sys.path under pytest) neither hides the plugin nor gets it mixed with its code. Every import inside
the package is relative, so its modules load under either name (tests/unit/test_packaging.py checks)."""

from pathlib import Path

# The package's modules are the files of sandbox/ (next to this folder, in a checkout and in an install).
__path__ = [str(Path(__file__).resolve().parent.parent / "sandbox")]
