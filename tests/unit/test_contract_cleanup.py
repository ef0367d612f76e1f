"""The cleanup list of a remote run (sandbox/contract/cleanup.py): written down at once, private, undone
newest first by the owning account, finished by the next run when a limit stops this one."""

from __future__ import annotations

import json
import stat

from mastodon_sandbox.contract.cleanup import CleanupList, finish, host_key
from mastodon_sandbox.errors import SandboxError


def test_the_list_is_a_private_file_per_server(tmp_path):
    cleanup = CleanupList.for_server(tmp_path / "contract-cleanup", "https://Example.Social:8443", run="r1")
    assert cleanup.path.name == "example.social-8443.json" and host_key("https://localhost") == "localhost"
    assert cleanup.pending() == [] and not cleanup.path.exists()  # reading leaves nothing behind
    cleanup.add("status", "11", "7", "bot")
    saved = json.loads(cleanup.path.read_text())
    assert saved["base_url"] == "https://Example.Social:8443"
    assert [(e["kind"], e["id"], e["owner"], e["run"]) for e in saved["entries"]] == [("status", "11", "7", "r1")]
    assert stat.S_IMODE(cleanup.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cleanup.path.parent.stat().st_mode) == 0o700
    cleanup.done("status", "11", "7")
    assert json.loads(cleanup.path.read_text())["entries"] == []
    assert (cleanup.created, cleanup.removed) == (1, 1)


def test_finish_undoes_newest_first_with_the_owners_token(tmp_path):
    cleanup = CleanupList(tmp_path / "x.json", "https://x", run="r1")
    cleanup.add("follow", "9", "7")
    cleanup.add("media", "21", "7")
    cleanup.add("status", "11", "7")
    cleanup.add("status", "12", "8")  # another account's: its token is not in this run
    sent = []

    def send(leftover):
        sent.append(leftover.undo)
        return 404 if leftover.kind == "media" else 200  # gone already counts as done

    done = finish(cleanup, send, owners={"7"})
    assert sent == [("DELETE", "/api/v1/statuses/11?delete_media=true"), ("DELETE", "/api/v1/media/21"),
                    ("POST", "/api/v1/accounts/9/unfollow")]
    assert done.undone == 3 and [(e.id, e.owner) for e in done.left] == [("12", "8")]


def test_a_limit_stops_the_cleanup_and_the_next_run_finishes_it(tmp_path):
    path = tmp_path / "x.json"
    first = CleanupList(path, "https://x", run="r1")
    for status in ("1", "2", "3"):
        first.add("status", status, "7")

    def paced(leftover):
        if leftover.id == "2":
            raise SandboxError("DELETE /api/v1/statuses/:id: 1 of 30 requests left")
        return 200
    done = finish(first, paced, owners={"7"})
    assert done.stopped.startswith("DELETE") and [e.id for e in done.left] == ["1", "2"]

    second = CleanupList(path, "https://x", run="r2")
    second.add("status", "4", "7")  # the new run's own, still in use
    assert finish(second, lambda leftover: 200, owners={"7"}, earlier=True).undone == 2
    assert [e.id for e in second.pending()] == ["4"]


def test_the_workers_of_one_run_undo_only_their_own(tmp_path):
    path = tmp_path / "x.json"
    gw0, gw1 = CleanupList(path, "https://x", "r1", "gw0"), CleanupList(path, "https://x", "r1", "gw1")
    gw0.add("status", "1", "7")
    gw1.add("status", "2", "7")
    assert finish(gw1, lambda leftover: 200, owners={"7"}, earlier=True).undone == 0  # same run: not leftovers
    assert finish(gw0, lambda leftover: 200, owners={"7"}).undone == 1
    assert [e.id for e in gw1.pending()] == ["2"]


def test_a_damaged_list_is_set_aside(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    cleanup = CleanupList(path, "https://x")
    cleanup.add("status", "1", "7")
    assert (tmp_path / "x.damaged").read_text() == "{not json"
    assert [e.id for e in cleanup.pending()] == ["1"]


def test_a_run_on_two_workers_counts_each_leftover_once(tmp_path):
    # the report adds up the workers' counts: seen on real 4.6.5 with -n 2, "5 left" while the file was
    # empty, as each worker also counted what its sibling had not undone yet
    path = tmp_path / "x.json"
    CleanupList(path, "https://x", "r0", "gw0").add("status", "0", "7")  # an earlier run's, not undone
    gw0, gw1 = CleanupList(path, "https://x", "r1", "gw0"), CleanupList(path, "https://x", "r1", "gw1")
    gw0.add("status", "1", "7")
    gw1.add("status", "2", "7")
    gw1.add("status", "3", "8")  # an account not in this run
    pending = gw0.pending()
    assert [e.id for e in gw0.counted_here(pending, {"7"})] == ["0", "1"]
    assert [e.id for e in gw1.counted_here(pending, {"7"})] == ["2"]
    alone = CleanupList(path, "https://x", "r2")  # one process: its own (none) and every earlier run's
    assert [e.id for e in alone.counted_here(pending, {"7", "8"})] == ["0", "1", "2", "3"]
