"""`mastodon-sandbox expose` before Docker is touched: what it accepts, what it refuses in one line, and the
compose model it runs (needs a Compose v2+ binary, not an engine). Exposed apps on real Mastodon:
tests/federation/test_exposed_app.py."""

from __future__ import annotations

import json

import pytest

from mastodon_sandbox.config import SandboxConfig, group_network
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.federation import exposure
from mastodon_sandbox.state import GroupState, State
from mastodon_sandbox.tls import ensure_tls


@pytest.fixture
def root(tmp_path):
    """A state folder with one member of group fed (fed-a, a.localhost) and the group's CA."""
    config = SandboxConfig(name="fed-a", server="standin", hostname="a.localhost", group="fed", address="127.0.0.2", port=443)
    state = State("fed-a", root=tmp_path)
    state.save_config(config)
    ensure_tls(state.tls_dir, "group fed", dns_names=("a.localhost",), ips=(), authority=GroupState("fed", tmp_path).tls_dir)
    state.compose_env.write_text("BUILD_BASE_TAG=local\n")
    return tmp_path


def test_the_app_s_address_is_host_and_port_resolved_here_or_one_line():
    assert exposure.parse_target("127.0.0.1:8000") == ("127.0.0.1", 8000)
    assert exposure.parse_target("localhost:8000") == ("127.0.0.1", 8000)
    for bad, said in [("8000", "HOST:PORT"), (":8000", "HOST:PORT"), ("127.0.0.1:0", "HOST:PORT"),
                      ("127.0.0.1:70000", "HOST:PORT"), ("no-such-host.invalid:80", "does not resolve")]:
        with pytest.raises(SandboxError, match=said):
            exposure.parse_target(bad)


def test_a_name_must_be_the_group_ca_s_free_and_unused_by_any_sandbox(root):
    exposure.check("fed", "app.localhost", root)  # fine
    for group, name, said in [
        ("fed", "app.example.org", "the group's CA vouches only for names under localhost"),
        ("fed", "App.localhost:443", "bad name"),
        ("fed", "a.localhost", "is the domain of sandbox 'fed-a'"),
        ("other", "app.localhost", "no group 'other' to expose to"),
    ]:
        with pytest.raises(SandboxError, match=said):
            exposure.check(group, name, root)
    folder = GroupState("fed", root).exposed_dir / "app.localhost"
    folder.mkdir(parents=True)
    (folder / exposure.RECORD).write_text(json.dumps({"name": "app.localhost", "group": "fed", "host": "127.0.0.1", "port": 8000}))
    assert [str(e) for e in exposure.exposures("fed", root)] == ["https://app.localhost -> http://127.0.0.1:8000"]
    with pytest.raises(SandboxError, match=r"app.localhost is already exposed to group 'fed' .* expose --remove app.localhost"):
        exposure.check("fed", "app.localhost", root)


def test_the_door_answers_on_the_group_s_network_under_the_name_and_the_relay_runs_in_the_host_s(root):
    made = exposure.Exposure("app.localhost", "fed", "127.0.0.1", 8000)
    state = GroupState("fed", root)
    folder = state.exposed_dir / made.name
    exposure._write_files(state, made, folder)
    model = json.loads(exposure._compose(made, folder, state, "config", "--format", "json").stdout)
    door, relay = model["services"]["door"], model["services"]["relay"]
    assert model["name"] == "mastodon-sandbox-group-fed-exposed-app"
    assert door["networks"]["federation"]["aliases"] == ["app.localhost"]
    assert model["networks"]["federation"]["name"] == group_network("fed")
    assert relay["network_mode"] == "host" and "ports" not in relay and "ports" not in door  # nothing opened on the host
    assert (folder / "app.conf").read_text() == 'set $app "127.0.0.1:8000";\n'
    assert oct((folder / "key.pem").stat().st_mode & 0o777) == "0o600"
    mounted = {v["target"]: v["source"] for v in door["volumes"] if v["type"] == "bind"}
    assert mounted["/etc/sandbox-tls/cert.pem"] == str(folder / "cert.pem")


def test_the_claims_lock_taken_again_inside_itself_does_not_wait_for_itself(tmp_path):
    # a failed first `up` leaves its group while holding the lock, and leaving removes the group's exposed apps,
    # which take it too: flock on a second open file of the same lock would wait for ever
    import threading

    from mastodon_sandbox.federation.group import claiming

    def nested() -> None:
        with claiming(tmp_path, True), claiming(tmp_path, True):
            pass

    worker = threading.Thread(target=nested, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive()
    with claiming(tmp_path, True):  # and it is free again after
        pass
