"""The package as a bot developer gets it: the built wheel installed into a fresh virtual environment outside
this checkout, its CLI and its pytest plugin used from a project of their own against the running sandbox."""

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

PROJECT_TEST = '''
def test_a_leased_account_signs_in(mastodon_account, mastodon_client_for):
    api = mastodon_client_for(mastodon_account)
    assert api.account_verify_credentials()["username"] == mastodon_account.username
'''


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, **kw)
    assert done.returncode == 0, f"{' '.join(argv[:4])}: {(done.stdout + done.stderr)[-3000:]}"
    return done


def test_the_installed_wheel_serves_a_project_of_its_own(tmp_path, mastodon_sandbox):
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(ROOT)])
    [wheel] = (tmp_path / "dist").glob("mastodon_sandbox-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[pytest,compose]"])

    project = tmp_path / "my-bot"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_bot.py").write_text(PROJECT_TEST)
    # the bot developer's own shell: none of this run's settings (its PYTEST_ADDOPTS may name xdist)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "PYTHON", "PYTEST_", "TESTCONTAINERS_"))}
    env["SANDBOX_STATE_DIR"] = str(mastodon_sandbox.state.dir.parent)

    where = run([str(venv / "bin" / "python"), "-c", "import sandbox.config as c; print(c.compose_dir())"], cwd=project, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv) and (Path(where.stdout.strip()) / "base.yml").is_file()
    status = run([str(venv / "bin" / "mastodon-sandbox"), "status", "--name", mastodon_sandbox.config.name], cwd=project, env=env)
    assert "web" in status.stdout
    tests = run([str(venv / "bin" / "pytest"), "-q", "-p", "no:cacheprovider", f"--mastodon-sandbox={mastodon_sandbox.config.name}"],
                cwd=project, env=env)
    assert "1 passed" in tests.stdout
