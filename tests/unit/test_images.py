"""Images: the source folder's checks (each fault one line, before anything is built), the inputs digest
that decides a rebuild, the source server's image names, and a failed pull's message. No Docker engine."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from mastodon_sandbox import images
from mastodon_sandbox.config import SandboxConfig, compose_dir
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.images import SOURCE_RECIPES, inputs_digest, source_images, verify_source_folder
from mastodon_sandbox.progress import Progress

RECIPE = SOURCE_RECIPES["4.6.5"]


def make_folder(root: Path, recipe=RECIPE) -> Path:
    """A source folder as the README lays it out, with small stand-in files and a true SHA256SUMS."""
    files = {
        recipe.tarball: b"source",
        recipe.webpush_bundle: b"bundle",
        f"{recipe.gems}/bundler-{recipe.bundler}.gem": b"bundler",
        f"{recipe.gems}/rails-8.1.3.gem": b"rails",
    }
    lines = []
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {rel}")
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return root


def test_a_complete_folder_verifies_every_file_it_uses(tmp_path):
    verified = verify_source_folder(make_folder(tmp_path), RECIPE)
    assert set(verified) == {RECIPE.tarball, RECIPE.webpush_bundle, "gems-4.6.5/bundler-4.0.13.gem", "gems-4.6.5/rails-8.1.3.gem"}


def test_a_file_that_does_not_match_its_checksum_is_named(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "gems-4.6.5" / "rails-8.1.3.gem").write_bytes(b"tampered")
    with pytest.raises(SandboxError, match=r"rails-8.1.3.gem does not match its checksum in SHA256SUMS"):
        verify_source_folder(folder, RECIPE)


def test_a_missing_file_is_named(tmp_path):
    folder = make_folder(tmp_path)
    (folder / RECIPE.webpush_bundle).unlink()
    with pytest.raises(SandboxError, match=r"webpush-9631ac63.bundle is missing from the Mastodon source folder"):
        verify_source_folder(folder, RECIPE)


def test_no_checksums_no_build(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "SHA256SUMS").unlink()
    with pytest.raises(SandboxError, match="has no SHA256SUMS"):
        verify_source_folder(folder, RECIPE)


def test_a_version_the_folder_does_not_hold_says_what_it_holds(tmp_path):
    folder = make_folder(tmp_path)
    with pytest.raises(SandboxError, match=r"holds no Mastodon 4.3.23 .*it holds: 4.6.5"):
        verify_source_folder(folder, SOURCE_RECIPES["4.3.23"])


def test_the_folder_setting_is_required_and_must_exist(tmp_path):
    with pytest.raises(SandboxError, match="SANDBOX_MASTODON_SOURCE"):
        SandboxConfig(name="x", server="source")
    config = SandboxConfig(name="x", server="source", source_dir=str(tmp_path / "nowhere"))
    with pytest.raises(SandboxError, match="does not exist"):
        images.source_folder(config)


def test_source_versions_are_those_the_recipes_build():
    assert SandboxConfig(name="x", server="source", source_dir="/s", version="4.3").release.version == "4.3.23"
    assert SandboxConfig(name="x", server="source", source_dir="/s").release.version == "4.6.5"
    with pytest.raises(SandboxError, match="on the source server"):
        SandboxConfig(name="x", server="source", source_dir="/s", version="4.5")
    # The official line keeps its own pins.
    assert SandboxConfig(name="x", version="4.3").release.version == "4.3.24"


def test_the_inputs_digest_changes_with_any_input(tmp_path):
    verified = verify_source_folder(make_folder(tmp_path), RECIPE)
    base = inputs_digest(RECIPE, verified)
    assert inputs_digest(RECIPE, verified) == base  # stable
    changed = {**verified, RECIPE.tarball: "0" * 64}
    assert inputs_digest(RECIPE, changed) != base
    import dataclasses

    assert inputs_digest(dataclasses.replace(RECIPE, node="24.0.0"), verified) != base


def test_source_images_never_take_the_official_names():
    names = source_images("4.6.5")
    assert names == {"MASTODON_IMAGE": "mastodon-sandbox/mastodon:4.6.5-source",
                     "STREAMING_IMAGE": "mastodon-sandbox/mastodon-streaming:4.6.5-source"}
    assert not any("ghcr.io" in n for n in names.values())


def test_a_failed_pull_names_the_image_and_the_ways_out(tmp_path, monkeypatch):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Error response from daemon: Get \"https://ghcr.io/v2/\": dial tcp: lookup ghcr.io: no such host' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(images.pulls, "image_exists", lambda name: False)
    model = {"services": {"web": {"image": "ghcr.io/mastodon/mastodon:v4.6.5"}, "db": {"image": "mastodon-sandbox/postgres:15", "build": {"args": {"BASE": "local/debian:bookworm"}}}}}
    assert images.registry_images(model) == ["ghcr.io/mastodon/mastodon:v4.6.5"]
    with pytest.raises(SandboxError) as err:
        images.pull_missing_images(model, Progress(quiet=True))
    msg = str(err.value)
    assert "cannot pull ghcr.io/mastodon/mastodon:v4.6.5" in msg and "no such host" in msg
    assert "SANDBOX_SERVER=source" in msg and "SANDBOX_SERVER=standin" in msg and "\n" not in msg


def test_a_new_source_sandbox_needs_a_folder_that_exists(tmp_path):
    from mastodon_sandbox.lifecycle import resolve_config
    from mastodon_sandbox.state import State

    state = State("t", root=tmp_path / "state")
    with pytest.raises(SandboxError, match="does not exist"):
        resolve_config("t", {"server": "source", "source_dir": str(tmp_path / "nowhere")}, state)
    assert not state.dir.exists()
    config, new = resolve_config("t", {"server": "source", "source_dir": str(make_folder(tmp_path / "src"))}, state)
    assert new and config.s3 == "seaweedfs"


def test_every_compose_build_context_has_a_dockerignore():
    """Running the tests writes __pycache__ into the stand-in's folder: it must neither reach an image nor
    count as a change that forces a rebuild."""
    contexts = {compose_dir() / "proxy", compose_dir() / "standin"} | {
        d for d in (compose_dir() / "images").iterdir() if d.is_dir() and d.name != "mastodon"}
    for context in contexts:
        assert "**/__pycache__" in images.dockerignore_patterns(context), context


def test_the_context_digest_follows_what_docker_sends(tmp_path):
    (tmp_path / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    before = images.context_digest(tmp_path, {"BASE": "x"})
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "stray.pyc").write_bytes(b"\0")
    assert images.context_digest(tmp_path, {"BASE": "x"}) == before
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")
    assert images.context_digest(tmp_path, {"BASE": "x"}) != before
    assert images.context_digest(tmp_path, {"BASE": "y"}) != images.context_digest(tmp_path, {"BASE": "x"})
