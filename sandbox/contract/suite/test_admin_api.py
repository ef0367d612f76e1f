"""The admin API (admin:read / admin:write): accounts v1 and v2 and the moderation actions, reports, domain blocks
and allows, e-mail domain blocks, IP blocks, canonical e-mail blocks, trends, hashtags, and the dashboard's
measures, dimensions and retention.

As the sandbox's Owner; on a remote as a configured token the admin API answers (plugin.py `admin`), and there
read-only unless writes are allowed (the metrics are POSTs, so a read-only run skips them too). What a test makes
is server-wide, so it is named for the run (a domain under .invalid, an address in TEST-NET-1, 192.0.2.0/24), goes
on the cleanup list at once and is deleted by the test. Reports and moderation actions stay on an account for good
(reports cannot be deleted, a warning is a strike): they run on the sandbox only, on leased accounts no other test
has. Every route here is in 4.3.23 and 4.6.5 alike (config/routes/api.rb); what differs is gated by version."""

from __future__ import annotations

import hashlib
import ipaddress
import random
from datetime import datetime, timedelta, timezone

import pytest

from mastodon_sandbox.contract.suite.support import Actor, ContractRun

UNRESOLVED = "4.6.0"  # GET /api/v1/admin/reports?unresolved= (CHANGELOG 4.6.0, #38323; app/models/report_filter.rb)

# UserRole::FLAGS (app/models/user_role.rb); an administrator's role is sent with every flag set.
ADMINISTRATOR, MANAGE_TAXONOMIES = 1 << 0, 1 << 8
TEST_NET_1 = ipaddress.ip_network("192.0.2.0/24")  # RFC 5737: documentation only, never routed


def _permissions(actor: Actor) -> int:
    return int((actor.account.get("role") or {}).get("permissions") or 0)


def _days(count: int = 3) -> dict[str, str]:
    """start_at and end_at of the last `count` days, today included (UTC dates, as the dashboard sends them)."""
    today = datetime.now(timezone.utc).date()
    return {"start_at": (today - timedelta(days=count - 1)).isoformat(), "end_at": today.isoformat()}


def _ids(answer) -> list[str]:
    return [item["id"] for item in answer.body]


# --- accounts -------------------------------------------------------------------------------------------

def test_admin_accounts_v1_page_by_their_link_header(admin):
    first = admin.api.get("/api/v1/admin/accounts", params={"limit": 2})
    assert first.entity == "AdminAccount[]"
    for item in first.body:  # the default filter: local, active accounts
        assert item["account"]["id"] == item["id"] and item["domain"] is None and item["role"] is not None, item
    if len(first.body) == 2:
        following = admin.api.get(first.links["next"])
        assert following.entity == "AdminAccount[]"
        assert all(int(b) < int(a) for a in _ids(first) for b in _ids(following))


def test_admin_accounts_list_the_staff(admin):
    # v1 `staff`, v2 `permissions=staff`: roles that may manage reports (app/controllers/api/v{1,2}/admin/accounts_controller.rb)
    v1 = admin.api.get("/api/v1/admin/accounts", params={"staff": "true", "limit": 100})
    v2 = admin.api.get("/api/v2/admin/accounts", params={"origin": "local", "permissions": "staff", "limit": 100})
    assert admin.id in _ids(v1) and admin.id in _ids(v2)
    assert all(item["role"] and item["role"]["id"] != "-99" for item in v2.body), v2.body  # -99: the everyone role


def test_admin_accounts_v2_by_username(admin, me):
    found = admin.api.get("/api/v2/admin/accounts", params={"origin": "local", "username": me.username}).body
    assert me.id in [item["id"] for item in found]


def test_remote_accounts_have_no_user(admin):
    # email, role, ips and the user's flags come from the account's user (delegate … allow_nil: true): null remotely
    for item in admin.api.get("/api/v2/admin/accounts", params={"origin": "remote", "limit": 5}).body:
        assert item["domain"] and item["email"] is None and item["role"] is None and item["ips"] is None, item
        assert item["account"]["acct"] == f"{item['username']}@{item['domain']}"


def test_an_admin_account(admin, me):
    them = admin.api.get(f"/api/v1/admin/accounts/{me.id}").body
    assert them["username"] == me.username and them["account"]["acct"] == me.account["acct"]
    self_ = admin.api.get(f"/api/v1/admin/accounts/{admin.id}").body
    assert self_["role"]["id"] == admin.account["role"]["id"]  # the role verify_credentials showed
    assert self_["email"] and self_["confirmed"] is True


def test_an_unknown_admin_account_is_404(admin):
    admin.api.get("/api/v1/admin/accounts/0", expect=(404,))


# --- moderation on leased accounts (sandbox only) ----------------------------------------------------------

@pytest.fixture(scope="module")
def leased(contract, admin_writes, request) -> tuple[Actor, Actor]:
    """Two accounts of this module's own: one to take actions on, one to report (an action other than a warning
    resolves every open report about its account: app/models/admin/account_action.rb#reports)."""
    if contract.remote:
        pytest.skip("reports and moderation actions stay on an account for good: the sandbox only")
    from mastodon_sandbox.testing.leases import lease

    actors = []
    for leased_account in lease(request.getfixturevalue("mastodon_sandbox"), 2, holder=f"{__name__} (moderation)"):
        client = contract.client(leased_account.token, f"moderated {leased_account.username}")
        actors.append(Actor(client, client.get("/api/v1/accounts/verify_credentials").body))
    return actors[0], actors[1]


@pytest.fixture(scope="module")
def moderated(leased) -> Actor:
    return leased[0]


@pytest.fixture(scope="module")
def a_report(contract, admin, me, leased):
    """`me` reports the second leased account, with one of its statuses; resolved at the end, so that the
    sandbox's moderation queue does not fill up with the suite's reports."""
    reported = leased[1]
    status = reported.api.post("/api/v1/statuses", data={"status": f"reported in {contract.tag}", "visibility": "public"}).body
    report = me.api.post("/api/v1/reports", data={"account_id": reported.id, "status_ids[]": [status["id"]],
                                                   "comment": f"contract suite {contract.tag}", "category": "other",
                                                   "forward": "false"}).body
    yield {"id": str(report["id"]), "target": reported, "status": status}
    admin.api.post(f"/api/v1/admin/reports/{report['id']}/resolve")


def test_a_report_reaches_the_moderators(contract, admin, me, a_report):
    listed = admin.api.get("/api/v1/admin/reports", params={"target_account_id": a_report["target"].id})
    assert a_report["id"] in _ids(listed)
    report = admin.api.get(f"/api/v1/admin/reports/{a_report['id']}").body
    assert report["account"]["id"] == me.id and report["target_account"]["id"] == a_report["target"].id
    assert [s["id"] for s in report["statuses"]] == [a_report["status"]["id"]]
    assert (report["category"], report["comment"], report["rules"]) == ("other", f"contract suite {contract.tag}", [])
    assert report["action_taken"] is False and report["assigned_account"] is None and report["action_taken_by_account"] is None


def test_assigning_recategorising_resolving_and_reopening_a_report(admin, a_report):
    path = f"/api/v1/admin/reports/{a_report['id']}"
    assert admin.api.post(f"{path}/assign_to_self").body["assigned_account"]["id"] == admin.id
    assert admin.api.post(f"{path}/unassign").body["assigned_account"] is None
    assert admin.api.put(path, data={"category": "spam"}).body["category"] == "spam"
    assert admin.api.put(path, data={"category": "other"}).body["category"] == "other"
    resolved = admin.api.post(f"{path}/resolve").body
    try:
        assert resolved["action_taken"] is True and resolved["action_taken_at"]
        assert resolved["action_taken_by_account"]["id"] == admin.id
        listed = admin.api.get("/api/v1/admin/reports", params={"resolved": "true", "target_account_id": a_report["target"].id})
        assert a_report["id"] in _ids(listed)
    finally:
        reopened = admin.api.post(f"{path}/reopen").body
    assert reopened["action_taken"] is False and reopened["action_taken_at"] is None


def test_resolved_and_unresolved_reports_together(contract, admin, a_report):
    if contract.server.version < UNRESOLVED:
        pytest.skip(f"Mastodon {contract.server.version} has no `unresolved` report filter (added in {UNRESOLVED})")
    path, target = f"/api/v1/admin/reports/{a_report['id']}", a_report["target"].id
    admin.api.post(f"{path}/resolve")
    try:
        both = admin.api.get("/api/v1/admin/reports", params={"resolved": "true", "unresolved": "true", "target_account_id": target})
        assert a_report["id"] in _ids(both)
        assert a_report["id"] not in _ids(admin.api.get("/api/v1/admin/reports", params={"target_account_id": target}))
    finally:
        admin.api.post(f"{path}/reopen")


def _act(admin: Actor, account: Actor, kind: str) -> None:
    answer = admin.api.post(f"/api/v1/admin/accounts/{account.id}/action",
                            data={"type": kind, "text": f"contract suite: {kind}", "send_email_notification": "false"})
    assert answer.entity == "Empty"


def test_a_warning_changes_nothing(admin, moderated):
    _act(admin, moderated, "none")
    account = admin.api.get(f"/api/v1/admin/accounts/{moderated.id}").body
    assert not any(account[flag] for flag in ("suspended", "silenced", "sensitized", "disabled")), account


@pytest.mark.parametrize("kind, flag, undo", [
    ("sensitive", "sensitized", "unsensitive"),
    ("silence", "silenced", "unsilence"),
    ("disable", "disabled", "enable"),
])
def test_an_action_and_its_undoing(admin, moderated, kind, flag, undo):
    _act(admin, moderated, kind)
    try:
        assert admin.api.get(f"/api/v1/admin/accounts/{moderated.id}").body[flag] is True
    finally:
        undone = admin.api.post(f"/api/v1/admin/accounts/{moderated.id}/{undo}")
    assert undone.entity == "AdminAccount" and undone.body[flag] is False


# --- server-wide records: made, read, listed and deleted by each test ------------------------------------------

def _made(run: ContractRun, admin: Actor, kind: str, plural: str, data: dict) -> dict:
    return run.admin_create(admin, kind, f"/api/v1/admin/{plural}", data).body


def _read_list_delete(run: ContractRun, admin: Actor, kind: str, plural: str, record: dict) -> None:
    """The record as GET /:id and the list show it; then deleted ({}) and gone (404)."""
    path = f"/api/v1/admin/{plural}"
    assert admin.api.get(f"{path}/{record['id']}").body == record
    assert record["id"] in _ids(admin.api.get(path, params={"limit": 100}))
    assert run.admin_delete(admin, kind, path, record["id"]).entity == "Empty"
    admin.api.get(f"{path}/{record['id']}", expect=(404,))


def _cleanly(run: ContractRun, admin: Actor, kind: str, plural: str, record: dict, check) -> None:
    """check(record), then read, list and delete it; deleted in any case."""
    try:
        check(record)
        _read_list_delete(run, admin, kind, plural, record)
    finally:
        if any(e.kind == kind and e.id == record["id"] for e in run.cleanup.pending()):
            run.admin_delete(admin, kind, f"/api/v1/admin/{plural}", record["id"])


def test_a_domain_block(contract, admin_writes):
    admin, domain = admin_writes, f"{contract.tag}-block.invalid"
    block = _made(contract, admin, "admin_domain_block", "domain_blocks",
                  {"domain": domain, "severity": "silence", "reject_media": "true", "private_comment": f"contract suite {contract.tag}"})

    def check(record):
        assert (record["domain"], record["severity"], record["reject_media"], record["public_comment"]) == (domain, "silence", True, None)
        if contract.server.version >= "4.3.0":  # digest: CHANGELOG 4.3.0 (#29092)
            assert record["digest"] == hashlib.sha256(domain.encode()).hexdigest()
        updated = admin.api.put(f"/api/v1/admin/domain_blocks/{record['id']}", data={"public_comment": "a test", "obfuscate": "true"}).body
        assert (updated["public_comment"], updated["obfuscate"], updated["severity"]) == ("a test", True, "silence")
        record.update(updated)
        # the same domain again: 422, with the block in the way (app/serializers/rest/admin/existing_domain_block_error_serializer.rb)
        again = admin.api.post("/api/v1/admin/domain_blocks", data={"domain": domain, "severity": "silence"}, expect=(422,))
        assert again.body["existing_domain_block"]["id"] == record["id"]
    _cleanly(contract, admin, "admin_domain_block", "domain_blocks", block, check)


def test_a_domain_allow(contract, admin_writes):
    domain = f"{contract.tag}-allow.invalid"
    allow = _made(contract, admin_writes, "admin_domain_allow", "domain_allows", {"domain": domain})

    def check(record):
        assert record["domain"] == domain
        # allowing it again answers the same allow (create finds it: app/controllers/api/v1/admin/domain_allows_controller.rb)
        assert admin_writes.api.post("/api/v1/admin/domain_allows", data={"domain": domain}).body["id"] == record["id"]
    _cleanly(contract, admin_writes, "admin_domain_allow", "domain_allows", allow, check)


def test_an_email_domain_block(contract, admin_writes):
    domain = f"{contract.tag}-mail.invalid"
    block = _made(contract, admin_writes, "admin_email_domain_block", "email_domain_blocks",
                  {"domain": domain, "allow_with_approval": "true"})

    def check(record):
        assert record["domain"] == domain
        if contract.server.version >= "4.3.0":  # allow_with_approval: CHANGELOG 4.3.0 (#28468)
            assert record["allow_with_approval"] is True
        assert record["history"] and all(day["uses"] == "0" for day in record["history"])  # nobody signed up with it
    _cleanly(contract, admin_writes, "admin_email_domain_block", "email_domain_blocks", block, check)


def test_an_ip_block(contract, admin_writes):
    admin = admin_writes
    taken = {ipaddress.ip_network(b["ip"], strict=False) for b in admin.api.get("/api/v1/admin/ip_blocks", params={"limit": 100}).body}
    free = [host for host in TEST_NET_1.hosts() if ipaddress.ip_network(f"{host}/32") not in taken]
    for host in random.sample(free, min(5, len(free))):  # another run may take the same address meanwhile: 422
        answer = contract.admin_create(admin, "admin_ip_block", "/api/v1/admin/ip_blocks",
                                       {"ip": str(host), "severity": "sign_up_block", "comment": f"contract suite {contract.tag}",
                                        "expires_in": str(24 * 3600)}, expect=(200, 422))
        if answer.status == 200:
            break
    else:
        pytest.fail(f"no free address in {TEST_NET_1} for an IP block")
    block = answer.body

    def check(record):
        assert record["ip"] == f"{host}/32" and record["severity"] == "sign_up_block"  # always with its prefix
        expires = datetime.fromisoformat(record["expires_at"].replace("Z", "+00:00"))
        assert timedelta(hours=23) < expires - datetime.now(timezone.utc) <= timedelta(hours=24, minutes=5)
        updated = admin.api.put(f"/api/v1/admin/ip_blocks/{record['id']}",
                                data={"severity": "sign_up_requires_approval", "comment": "a test"}).body
        assert (updated["severity"], updated["comment"], updated["ip"]) == ("sign_up_requires_approval", "a test", record["ip"])
        record.update(updated)
    _cleanly(contract, admin, "admin_ip_block", "ip_blocks", block, check)


def test_a_canonical_email_block(contract, admin_writes):
    admin = admin_writes
    # canonical: lower case, the local part without dots and without its +suffix (app/models/concerns/canonical_email.rb)
    canonical = f"{contract.tag}x@example.invalid"
    block = _made(contract, admin, "admin_canonical_email_block", "canonical_email_blocks",
                  {"email": f"{contract.tag}.X+contract@example.invalid"})

    def check(record):
        assert record["canonical_email_hash"] == hashlib.sha256(canonical.encode()).hexdigest()
        matches = admin.api.post("/api/v1/admin/canonical_email_blocks/test",
                                 data={"email": f"{contract.tag.upper()}x+other@example.invalid"})
        assert _ids(matches) == [record["id"]]
    _cleanly(contract, admin, "admin_canonical_email_block", "canonical_email_blocks", block, check)


# --- trends and hashtags -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/admin/trends/links", "/api/v1/admin/trends/statuses", "/api/v1/admin/trends/tags",
                                  "/api/v1/admin/trends/links/publishers"])
def test_the_trends_to_review(admin, path):
    # The Admin shapes go to a role that may manage taxonomies; anyone else gets the public ones (the trends
    # controllers' `index`), which the endpoint table would wrongly hold to the Admin schemas.
    if not _permissions(admin) & (ADMINISTRATOR | MANAGE_TAXONOMIES):
        pytest.skip(f"@{admin.username}'s role may not manage taxonomies: {path} sends it the public shapes")
    answer = admin.api.get(path, params={"limit": 5})
    assert isinstance(answer.body, list) and answer.entity.endswith("[]")


def test_the_hashtags(admin):
    tags = admin.api.get("/api/v1/admin/tags", params={"limit": 5}).body
    for tag in tags[:1]:
        assert admin.api.get(f"/api/v1/admin/tags/{tag['id']}").body["name"] == tag["name"]


def test_reviewing_the_runs_hashtag(contract, admin_writes, my_status):
    name = contract.tag
    newest = admin_writes.api.get("/api/v1/admin/tags", params={"limit": 100}).body  # newest first
    tag = next((t for t in newest if t["name"].lower() == name), None)
    if tag is None:
        pytest.skip(f"#{name} is not among the 100 newest hashtags (another run added many since)")
    reviewed = admin_writes.api.put(f"/api/v1/admin/tags/{tag['id']}", data={"trendable": "false"}).body
    assert reviewed["trendable"] is False and reviewed["requires_review"] is False and reviewed["usable"] is True
    assert admin_writes.api.get(f"/api/v1/admin/tags/{tag['id']}").body["trendable"] is False


# --- the dashboard's metrics (POSTs that write nothing) -----------------------------------------------------

MEASURES = ["active_users", "new_users", "interactions", "opened_reports", "resolved_reports", "instance_media_attachments"]


def test_the_measures(contract, admin):
    body = admin.api.post("/api/v1/admin/measures",
                          data={"keys[]": MEASURES, **_days(3), "instance_media_attachments[domain]": contract.server.host}).body
    assert [m["key"] for m in body] == MEASURES
    for measure in body:
        assert len(measure["data"]) == 3, measure
        # human_value only where the measure has one (instance_media_attachments: a size in bytes)
        assert ("human_value" in measure) == (measure["key"] == "instance_media_attachments"), measure
    assert body[-1]["unit"] == "bytes"


def test_the_dimensions(contract, admin):
    keys = ["languages", "sources", "servers", "space_usage", "software_versions"]
    body = admin.api.post("/api/v1/admin/dimensions", data={"keys[]": keys, **_days(3), "limit": 3}).body
    assert [d["key"] for d in body] == keys
    dims = {d["key"]: d["data"] for d in body}
    assert all(len(dims[k]) <= 3 for k in ("languages", "sources", "servers"))
    versions = {entry["key"]: entry["value"] for entry in dims["software_versions"]}
    assert versions["mastodon"] == contract.server.instance["version"]
    assert all(entry["unit"] == "bytes" for entry in dims["space_usage"])


def test_the_retention(admin):
    cohorts = admin.api.post("/api/v1/admin/retention", data={**_days(3), "frequency": "day"}).body
    assert [c["frequency"] for c in cohorts] == ["day"] * 3
    assert [len(c["data"]) for c in cohorts] == [3, 2, 1]  # a cohort is followed up to the range's end
    assert [c["period"] for c in cohorts] == sorted(c["period"] for c in cohorts)
