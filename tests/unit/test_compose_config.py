"""Golden `docker compose config` output for every server, Mastodon version and S3 backend.

A change to the stack shows up here as a diff to review; regenerate with UPDATE_GOLDEN=1.
Needs a Compose v2+ binary (the project's environment has one), not a Docker engine.
"""

import os
from pathlib import Path

import pytest

from mastodon_sandbox.config import RELEASES, S3_BACKENDS, SOURCE_RELEASES, SandboxConfig, compose_dir
from mastodon_sandbox.environment import write_env_files
from mastodon_sandbox.images import images_for
from mastodon_sandbox.stack import Stack
from mastodon_sandbox.state import State, read_env_file

GOLDEN = Path(__file__).parent / "golden"
CASES = [("official", r.version, s3) for r in RELEASES.values() for s3 in S3_BACKENDS] + [
    ("standin", "4.6.5", s3) for s3 in S3_BACKENDS
] + [("standin", "4.3.24", "seaweedfs")] + [("source", r.version, "seaweedfs") for r in SOURCE_RELEASES.values()]


def make_config(server, version, s3) -> SandboxConfig:
    source = "/opt/mastodon-source" if server == "source" else ""
    return SandboxConfig(name="golden", server=server, version=version, s3=s3, port=8443, source_dir=source)


def render(tmp_path, server, version, s3) -> str:
    config = make_config(server, version, s3)
    state = State("golden", root=tmp_path)
    write_env_files(config, state, images_for(config))
    out = Stack(config, state).run("config", "--no-env-resolution").stdout
    digest = read_env_file(state.compose_env)["PROXY_CONF_DIGEST"]  # the proxy configuration's, which has its own tests
    return out.replace(str(state.dir), "<STATE>").replace(str(compose_dir()), "<COMPOSE>").replace(digest, "<PROXY_CONF_DIGEST>")


@pytest.mark.parametrize("server,version,s3", CASES, ids=[f"{a}-{b}-{c}" for a, b, c in CASES])
def test_compose_config_matches_golden(tmp_path, server, version, s3):
    text = render(tmp_path, server, version, s3)
    golden = GOLDEN / f"{server}-{version}-{s3}.yml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden.name}: run with UPDATE_GOLDEN=1 and review it"
    assert text == golden.read_text()


def test_every_published_port_binds_to_loopback(tmp_path):
    for server, version, s3 in CASES:
        config = make_config(server, version, s3)
        state = State("golden", root=tmp_path / f"{server}{version}{s3}")
        write_env_files(config, state, images_for(config))
        services = Stack(config, state).config_json()["services"]
        published = [(name, p) for name, svc in services.items() for p in svc.get("ports", [])]
        assert published == [("proxy", {"mode": "ingress", "host_ip": "127.0.0.1", "target": 443, "published": "8443", "protocol": "tcp"})]


def test_official_server_runs_pinned_official_images(tmp_path):
    config = SandboxConfig(name="golden", version="4.5", port=8443)
    state = State("golden", root=tmp_path)
    write_env_files(config, state, images_for(config))
    services = Stack(config, state).config_json()["services"]
    assert {services[s]["image"] for s in ("web", "sidekiq", "db-prepare")} == {"ghcr.io/mastodon/mastodon:v4.5.15"}
    assert services["streaming"]["image"] == "ghcr.io/mastodon/mastodon-streaming:v4.5.15"
    assert "@sha256:" in services["s3"]["image"] and services["s3"]["image"].startswith("quay.io/minio/minio:RELEASE.")


def test_source_server_runs_local_images_never_pulled(tmp_path):
    config = make_config("source", "4.6", "seaweedfs")
    state = State("golden", root=tmp_path)
    write_env_files(config, state, images_for(config))
    services = Stack(config, state).config_json()["services"]
    assert {services[s]["image"] for s in ("web", "sidekiq", "db-prepare")} == {"mastodon-sandbox/mastodon:4.6.5-source"}
    assert services["streaming"]["image"] == "mastodon-sandbox/mastodon-streaming:4.6.5-source"
    assert all(services[s]["pull_policy"] == "never" for s in ("web", "sidekiq", "db-prepare", "streaming"))
    # Everything else is built here from the debootstrap base: nothing comes from a registry.
    from mastodon_sandbox.images import registry_images

    assert registry_images({"services": services}) == []
