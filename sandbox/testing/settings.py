"""The plugin's settings, resolved once per run into one frozen object kept in `config.stash`: every hook and
fixture reads them from here, in one order of precedence — the command-line option, then the environment
variable (where there is one), then the ini key, then the default — as pytest-django keeps its own."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

MODES = ("warm", "cold")
MISSING = ("fail", "skip")
TARGETS = ("sandbox", "remote", "both")
DEFAULT_REFILL = 8  # accounts the lease pool grows by when it runs short


@dataclass(frozen=True)
class PluginSettings:
    sandbox: str  # --mastodon-sandbox, $SANDBOX_NAME, mastodon_sandbox, "default"
    state_dir: Path  # --mastodon-sandbox-state-dir, $SANDBOX_STATE_DIR, mastodon_sandbox_state_dir, <rootpath>/.sandbox
    mode: str  # warm (use the running sandbox) or cold (bring it up first)
    missing: str  # fail or skip when the sandbox is not there
    restore: bool  # a warm run may restore snapshots
    target: str  # sandbox, remote or both
    pool_refill: int
    run_id: str  # names this run's safety snapshot (xdist's run id, shared by its workers, when there is one)
    federation: str = "fed:a,b"  # --mastodon-federation, $SANDBOX_FEDERATION, mastodon_federation (testing/federation.py)

    @classmethod
    def resolve(cls, config: pytest.Config, environ: dict[str, str] | None = None) -> "PluginSettings":
        env = os.environ if environ is None else environ

        def pick(option: str, variable: str | None, ini: str, default: str) -> str:
            return str(config.getoption(option) or (env.get(variable) if variable else None) or config.getini(ini) or default)

        def one_of(value: str, allowed: tuple[str, ...], option: str) -> str:
            if value not in allowed:
                raise pytest.UsageError(f"mastodon-sandbox: {option} is {'/'.join(allowed)}, not {value!r}")
            return value

        refill = pick("mastodon_pool_refill", None, "mastodon_pool_refill", str(DEFAULT_REFILL))
        if not refill.isdigit() or int(refill) < 1:
            raise pytest.UsageError(f"mastodon-sandbox: the pool refill is a whole number of accounts above 0, not {refill!r}")
        return cls(
            sandbox=pick("mastodon_sandbox", "SANDBOX_NAME", "mastodon_sandbox", "default"),
            state_dir=_state_dir(config, env),
            mode=one_of(pick("mastodon_sandbox_mode", None, "mastodon_sandbox_mode", "warm"), MODES, "mastodon_sandbox_mode"),
            missing=one_of(pick("mastodon_sandbox_missing", None, "mastodon_sandbox_missing", "fail"), MISSING,
                           "mastodon_sandbox_missing"),
            restore=bool(config.getoption("mastodon_sandbox_restore") or config.getini("mastodon_sandbox_restore")),
            target=one_of(pick("mastodon_target", None, "mastodon_target", "sandbox"), TARGETS, "mastodon_target"),
            pool_refill=int(refill),
            # An xdist worker's run id is its controller's, shared by its siblings; PYTEST_XDIST_TESTRUNUID in the
            # environment may be an outer run's (a pytest started by a test), so it is not read.
            run_id=getattr(config, "workerinput", {}).get("testrunuid") or uuid.uuid4().hex,
            federation=pick("mastodon_federation", "SANDBOX_FEDERATION", "mastodon_federation", "fed:a,b"),
        )


def _state_dir(config: pytest.Config, env) -> Path:
    """The option and the variable are relative to where pytest was started, as for the CLI; the ini key to the
    ini file; the default is <rootpath>/.sandbox, where `mastodon-sandbox up` run at the project's top puts it —
    wherever in the project pytest starts."""
    given = config.getoption("mastodon_sandbox_state_dir") or env.get("SANDBOX_STATE_DIR")
    if given:
        return (config.invocation_params.dir / Path(given).expanduser()).resolve()
    ini = config.getini("mastodon_sandbox_state_dir")
    if ini:
        return ((config.inipath.parent if config.inipath else config.rootpath) / Path(ini).expanduser()).resolve()
    return config.rootpath / ".sandbox"


KEY = pytest.StashKey[PluginSettings]()


def settings(config: pytest.Config) -> PluginSettings:
    """The run's settings (resolved by the plugin's pytest_configure)."""
    return config.stash[KEY]
