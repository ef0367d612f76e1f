"""The contract suite against every member of the federation group whose Mastodon differs from the run's own
sandbox (in CI fed:a,b@4.3: real 4.3.23 beside the 4.6.5 that tests/integration/test_contract_suite.py checks):
every endpoint the suite knows answers and validates for that release, and what the release lacks is skipped
with the version that added it, never asked."""

from __future__ import annotations

import json

import pytest
import requests

from tests.integration.test_contract_suite import contract

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon]


def test_the_suite_passes_on_each_other_release_of_the_group(mastodon_federation, mastodon_sandbox, tmp_path):
    ours = mastodon_sandbox.config.release.version
    others = [i for i in mastodon_federation.instances.values() if i.sandbox.config.release.version != ours]
    if not others:
        pytest.skip(f"every member runs Mastodon {ours}, as the run's own sandbox does (the contract suite's "
                    "integration test checks that one)")
    state = {"SANDBOX_STATE_DIR": str(mastodon_sandbox.state.dir.parent)}
    for member in others:
        report_file = tmp_path / f"{member.short}.json"
        out = contract("--name", member.sandbox.name, env={**state, "MASTODON_CONTRACT_REPORT": str(report_file)},
                       cwd=tmp_path)
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
        version = requests.get(member.url + "/api/v2/instance", verify=str(member.sandbox.state.ca_file),
                               timeout=30).json()["version"]
        assert f"Mastodon {version}" in out.stdout
        report = json.loads(report_file.read_text())
        assert not report["breaks"] and len(report["endpoints"]) >= 80, report
        assert f"routes of Mastodon {version}" in out.stdout  # the coverage line names the release's own routes
