"""The project's test set-up. The Docker tier tests the running sandbox (`make up` starts it) through the
package's own pytest plugin, as a bot developer's tests would: `mastodon_sandbox` and the other fixtures
come from sandbox/testing/. What is here is the harness's own: the markers below, the differential's second
sandbox (`reference`), extra throwaway sandboxes for tests of `up`, `destroy` and snapshots (one name and
port per test file: run under xdist with `--dist loadfile`), and the CLI as a user runs it.

Without a running sandbox the plugin fails in one line. Under SANDBOX_REQUIRE_DOCKER=1, as `make test`
and CI set it, any skip is a failure too: CI must never pass by skipping.

Suites know which server they face. Two markers choose, and the run's summary says in one line what
was left out and why (deselected, never skipped):
  needs_mastodon  needs more of Mastodon than the offline stand-in offers (statuses, media, timelines,
                  streaming events): runs on the official and source-built servers only;
  standin_only    tests the stand-in's own internals: runs on the stand-in only;
  harness_only    exercises the harness's own machinery at volume (host locks, leases), which does not
                  depend on the server: runs on the stand-in, where an account costs milliseconds, not
                  the half second real Mastodon's sign-up callbacks take.
needs_web_ui marks a test of Mastodon's web front end in a browser: it runs where the front end is built (the
official images; a source build whose recipe builds it, 4.6), and is deselected on the stand-in and on 4.3 from
source (placeholders).
A third, differential, marks the check of the stand-in against a real Mastodon: it runs only when
SANDBOX_REFERENCE names the real sandbox (`make differential`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mastodon_sandbox.describe import describe
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.state import State



def _sandbox_name() -> str:
    return os.environ.get("SANDBOX_NAME") or "default"


def _config():
    """The config of the sandbox under test, or None when there is none yet."""
    state = State(_sandbox_name())
    try:
        return state.load_config() if state.exists() else None
    except Exception:
        return None


def _has_web_ui(config) -> bool:
    """Whether its Mastodon serves the real web front end (images/source.py: a recipe with `frontend`)."""
    if config.server == "official":
        return True
    if config.server != "source":
        return False
    from mastodon_sandbox.images.source import SOURCE_RECIPES

    recipe = SOURCE_RECIPES.get(config.release.version)
    return recipe is not None and recipe.frontend is not None


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_mastodon: needs real Mastodon (official or source-built): the stand-in does not offer it")
    config.addinivalue_line("markers", "standin_only: tests the stand-in's own internals")
    config.addinivalue_line("markers", "harness_only: the harness's machinery at volume, run on the fast stand-in")
    config.addinivalue_line("markers", "differential: the stand-in against a real Mastodon (SANDBOX_REFERENCE)")
    config.addinivalue_line("markers", "needs_web_ui: Mastodon's web front end in a browser: the official images, or 4.6 from source")


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, with tests/federation/ as one unit: its files share one group, and one test stops a
    member's web, so they run on one worker one after another."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FederationTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/federation" if nodeid.startswith("tests/federation/") else super()._split_scope(nodeid)

    return FederationTogether(config, log)


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("SANDBOX_REFERENCE"):
        differential = [item for item in items if "differential" in item.keywords]
        if differential:
            config.hook.pytest_deselected(items=differential)
            items[:] = [item for item in items if "differential" not in item.keywords]
    sandbox = _config()
    if sandbox is None:
        return
    server = sandbox.server
    left_out = ("standin_only", "harness_only") if server != "standin" else ("needs_mastodon",)
    deselected = [item for item in items if any(m in item.keywords for m in left_out)]
    no_web_ui = [] if server == "standin" or _has_web_ui(sandbox) else [
        item for item in items if "needs_web_ui" in item.keywords and item not in deselected]
    if not deselected and not no_web_ui:
        return
    config.hook.pytest_deselected(items=deselected + no_web_ui)
    items[:] = [item for item in items if item not in deselected and item not in no_web_ui]
    if server == "standin":
        notes = [f"{len(deselected)} tests need real Mastodon: the stand-in does not offer statuses, media, timelines or streaming events"]
    else:
        notes = [f"{len(deselected)} test(s) of the stand-in's internals or of the harness at volume "
                 "(run on the stand-in) do not apply to real Mastodon"] if deselected else []
    if no_web_ui:
        notes.append(f"{len(no_web_ui)} browser test(s) need the web front end, which this {sandbox.description} lacks")
    config._sandbox_left_out = "; ".join(notes)


def pytest_report_header(config):
    name = _sandbox_name()
    return f"sandbox {name!r}: {describe(name)}"


def pytest_terminal_summary(terminalreporter, config):
    note = getattr(config, "_sandbox_left_out", None)
    if note:
        terminalreporter.write_line(f"server-specific: {note} (deselected)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under SANDBOX_REQUIRE_DOCKER=1 (make test, CI) a skip is a failure: nothing passes by skipping."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("SANDBOX_REQUIRE_DOCKER") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under make test, which counts a skip as a failure: {reason}"


def require_docker_tier(reason: str):
    """Skip, or fail under SANDBOX_REQUIRE_DOCKER=1."""
    if os.environ.get("SANDBOX_REQUIRE_DOCKER") == "1":
        pytest.fail(f"the Docker tier cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def open_running(name: str) -> Sandbox:
    """A running sandbox by name, or a skip (a failure under make test) saying how to start it."""
    state = State(name)
    if not state.exists():
        require_docker_tier(f"no sandbox {name!r} at {state.dir}: run `make up` first")
    sandbox = Sandbox.open(name)
    try:
        sandbox.get("/health", timeout=5).raise_for_status()
    except requests.RequestException as e:
        require_docker_tier(f"sandbox {name!r} does not answer at {sandbox.url} ({type(e).__name__}): run `make up`")
    return sandbox


@pytest.fixture(scope="session")
def reference() -> Sandbox:
    """The real Mastodon the differential check compares the stand-in with (SANDBOX_REFERENCE)."""
    ref = open_running(os.environ["SANDBOX_REFERENCE"])
    assert ref.config.server != "standin", f"SANDBOX_REFERENCE={ref.config.name} is a stand-in, not real Mastodon"
    return ref


def cli(*args: str, env: dict | None = None, timeout: int = 1500) -> subprocess.CompletedProcess:
    """Run the mastodon-sandbox CLI as a user would, in this test's environment."""
    return subprocess.run([sys.executable, "-m", "mastodon_sandbox.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def server_args(sandbox: Sandbox) -> list[str]:
    """`up` options for another sandbox on the same server, S3 backend and source folder as this one."""
    args = ["--server", sandbox.config.server, "--s3", sandbox.config.s3]
    return args + (["--source", sandbox.config.source_dir] if sandbox.config.source_dir else [])


@pytest.fixture
def make_sandbox(mastodon_sandbox):
    """Makes extra named sandboxes with the shared one's server, version, S3 backend and source folder
    (`extra` options win: argparse keeps the last), and destroys them afterwards."""
    made = []

    def make(name: str, port: int, *extra: str, provision: bool = False) -> subprocess.CompletedProcess:
        made.append(name)
        args = ["up", "--name", name, "--port", str(port), *server_args(mastodon_sandbox), "--version", mastodon_sandbox.config.version,
                "--quiet", *extra]
        return cli(*args, *([] if provision else ["--no-provision"]))

    yield make
    for name in made:
        cli("destroy", "--name", name, "--yes")


@pytest.fixture(scope="module")
def make_sandbox_module(mastodon_sandbox):
    """One extra provisioned sandbox for a whole module, with the shared one's server, version, S3 backend
    and source folder; destroyed when the module is done."""
    made = []

    def make(name: str, port: int, *extra: str) -> Sandbox:
        made.append(name)
        out = cli("up", "--name", name, "--port", str(port), *server_args(mastodon_sandbox), "--version", mastodon_sandbox.config.version,
                  "--pool-size", "0", "--quiet", *extra)
        assert out.returncode == 0, out.stderr[-3000:]
        return Sandbox.open(name)

    yield make
    for name in made:
        cli("destroy", "--name", name, "--yes")


def upload_picture(sb: Sandbox, token: str) -> dict:
    """A picture uploaded through the API by `token`'s account, once Mastodon has processed it (real Mastodon)."""
    picture = Path(__file__).resolve().parents[1] / "fixtures" / "media" / "picture-stripes.png"
    auth = {"Authorization": f"Bearer {token}"}
    with picture.open("rb") as fh:
        up = requests.post(sb.url + "/api/v2/media", headers=auth, files={"file": fh}, data={"description": "stripes"},
                           verify=str(sb.state.ca_file), timeout=60)
    assert up.status_code in (200, 202), up.text
    media = up.json()
    deadline = time.monotonic() + 60
    while not media.get("url"):
        assert time.monotonic() < deadline, "the upload was not processed within 60 s"
        time.sleep(0.5)
        media = sb.get(f"/api/v1/media/{media['id']}", headers=auth).json()
    return media
