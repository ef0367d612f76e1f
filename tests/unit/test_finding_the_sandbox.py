"""Finding a sandbox from anywhere (issue #26): the state folder given by --state-dir or SANDBOX_STATE_DIR, one
line naming the folder looked in when a sandbox is not there, and another copy of the package (a wheel beside a
checkout) driving a sandbox only with compose files of the same content. Also the plugin's pure helpers:
which safety snapshots it prunes, what run-due asks the server for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mastodon_sandbox import composefiles
from mastodon_sandbox.cli import main
from mastodon_sandbox.config import SandboxConfig, compose_dir
from mastodon_sandbox.errors import SandboxError
from mastodon_sandbox.handle import Sandbox
from mastodon_sandbox.state import State, no_sandbox


def make_sandbox(root: Path, name: str = "made") -> State:
    state = State(name, root=root)
    state.save_config(SandboxConfig(name=name, server="standin", s3="seaweedfs"))
    return state


# --- the state folder --------------------------------------------------------------------------------------

def test_a_state_folder_that_does_not_exist_is_named_as_the_likely_mistake(tmp_path):
    line = no_sandbox("default", tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in line and "does not exist" in line and "--state-dir" in line
    assert "up" not in line  # making a sandbox is not the fix when the folder is wrong


def test_a_sandbox_missing_from_its_folder_names_the_folder_and_what_it_holds(tmp_path):
    make_sandbox(tmp_path, "other")
    (tmp_path / "_builds").mkdir()  # not a sandbox
    line = no_sandbox("default", tmp_path)
    assert f"in the state folder {tmp_path}" in line and "it holds other" in line and "_builds" not in line
    assert "`mastodon-sandbox up --name default` makes it" in line and "\n" not in line


def test_the_cli_takes_the_state_folder_from_state_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "from-env"))
    make_sandbox(tmp_path / "given")
    assert main(["snapshot", "list", "--name", "absent", "--state-dir", str(tmp_path / "given")]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"no sandbox 'absent' in the state folder {tmp_path / 'given'}" in err
    assert "it holds made" in err


def test_every_command_with_name_takes_state_dir():
    from mastodon_sandbox.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        nested = [c for a in sub._actions if getattr(a, "choices", None) and isinstance(a.choices, dict) for c in a.choices.values()]
        for p in [sub, *nested]:
            flags = {f for a in p._actions for f in a.option_strings}
            if "--name" in flags:
                assert "--state-dir" in flags, name


# --- the compose files that made a sandbox -----------------------------------------------------------------

def copy_of_compose(to: Path) -> Path:
    shutil.copytree(compose_dir(), to, ignore=shutil.ignore_patterns("weed", "__pycache__"))
    return to


def test_another_copy_with_the_same_content_drives_the_sandbox(tmp_path, monkeypatch):
    state = make_sandbox(tmp_path / "state")
    made = composefiles.record(state)
    assert made["compose_dir"] == str(compose_dir().resolve()) and json.loads((state.dir / "compose.json").read_text()) == made
    monkeypatch.setenv("SANDBOX_COMPOSE_DIR", str(copy_of_compose(tmp_path / "wheel-copy")))
    composefiles.check(state)  # the same content elsewhere: fine
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    assert Sandbox.open("made").name == "made"


def test_another_copy_with_other_content_is_refused_in_one_line_naming_both(tmp_path, monkeypatch):
    state = make_sandbox(tmp_path / "state")
    composefiles.record(state)
    other = copy_of_compose(tmp_path / "older")
    (other / "base.yml").write_text((other / "base.yml").read_text() + "\n# another version\n")
    monkeypatch.setenv("SANDBOX_COMPOSE_DIR", str(other))
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    with pytest.raises(SandboxError) as e:
        Sandbox.open("made")
    line = str(e.value)
    assert "\n" not in line
    assert str(other.resolve()) in line and json.loads((state.dir / "compose.json").read_text())["compose_dir"] in line
    assert "`mastodon-sandbox up --name made`" in line
    # `up` with the new copy takes it over: recorded anew, then driven by it
    composefiles.record(state)
    assert Sandbox.open("made").name == "made"


def test_a_sandbox_made_before_the_record_is_driven_as_before(tmp_path, monkeypatch):
    make_sandbox(tmp_path)
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    assert Sandbox.open("made").name == "made"


# --- the plugin's safety snapshots -------------------------------------------------------------------------

def test_only_the_plugins_own_older_safety_snapshots_are_pruned():
    from mastodon_sandbox.testing.fixtures import safety_snapshots_to_prune

    manifests = [{"name": f"before-pytest-{i:08x}", "created": f"2026-01-0{i}T00:00:00Z"} for i in range(1, 7)]
    manifests += [{"name": "seeded", "created": "2026-01-01T00:00:00Z"},
                  {"name": "before-pytest-mine", "created": "2026-01-01T00:00:00Z"}]  # the user's own
    assert safety_snapshots_to_prune(manifests, 2) == [f"before-pytest-{i:08x}" for i in range(1, 5)]
    assert safety_snapshots_to_prune(manifests[:1], 2) == []


# --- run-due by id -----------------------------------------------------------------------------------------

class RecordingStack:
    def __init__(self):
        self.inputs: list[dict] = []

    def exec(self, service, argv, input=None):
        import subprocess

        self.inputs.append(json.loads(input))
        return subprocess.CompletedProcess(argv, 0, 'SANDBOX-JSON {"published": [], "polls_ended": ["7"]}\n', "")


def test_run_due_by_id_asks_for_those_only():
    from mastodon_sandbox.data.due import run_due

    stack = RecordingStack()
    sb = Sandbox(SandboxConfig(name="x"), State("x", root=Path("/nonexistent")), stack)
    assert run_due(sb) == {"published": [], "polls_ended": ["7"]}
    run_due(sb, poll_ids=[7, "8"])
    assert stack.inputs == [{"within": 604800}, {"within": 604800, "poll_ids": ["7", "8"], "scheduled_ids": []}]
    with pytest.raises(SandboxError, match="numbers"):
        run_due(sb, poll_ids=["7; drop"])
