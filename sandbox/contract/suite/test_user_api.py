"""What a signed-in user does beside posting: announcements and their reactions, reports, the Web Push
subscription, v1 filters and the e-mail confirmation endpoints; the instance's terms of service, privacy
policy and translation languages; and the streaming server's error frame for a stream it does not know.
A server older than an endpoint or a field is never asked for it: the test is skipped with the version that
added it (config/routes/api.rb and the serializers of 4.3.23 and 4.6.5)."""

from __future__ import annotations

import base64
import json
import secrets

import pytest
import websocket
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mastodon_sandbox.contract.suite.streaming import Streams
from mastodon_sandbox.contract.suite.support import ContractRun, needs, not_on_a_remote
from mastodon_sandbox.contract.validate import assert_valid
from mastodon_sandbox.waiting import Deadline

TERMS_OF_SERVICE = "4.4.0"  # `resources :terms_of_service` in config/routes/api.rb (CHANGELOG 4.4.0); absent from 4.3.23
STANDARD_WEBPUSH = "4.4.0"  # subscription[standard] and WebPushSubscription.standard (CHANGELOG 4.4.0, #33572)
DEPRECATION_HEADER = "4.4.0"  # DeprecationConcern's `Deprecation: @<unix time>` on deprecated endpoints (CHANGELOG 4.4.0, #34262)
COLLECTIONS = "4.6.0"  # Report.collection_ids (CHANGELOG 4.6.0: Add collections)
V1_FILTERS_DEPRECATED = "@1668384000"  # deprecate_api '2022-11-14' (app/controllers/api/v1/filters_controller.rb)


# --- announcements --------------------------------------------------------------------------------------

def test_announcements_are_listed_with_the_users_own_state(me):
    # Published announcements, oldest first; `read` and each reaction's `me` because there is a user
    # (if: :current_user? in app/serializers/rest/{announcement,reaction}_serializer.rb).
    answer = me.api.get("/api/v1/announcements")
    assert answer.entity == "Announcement[]"
    for announcement in answer.body:
        assert isinstance(announcement["read"], bool), announcement
        assert all(isinstance(reaction["me"], bool) for reaction in announcement["reactions"]), announcement


def test_announcements_need_a_user(anon):
    # require_user! without a token is 422, not 401 (app/controllers/api/base_controller.rb)
    assert anon.get("/api/v1/announcements", expect=(422,)).entity == "Error"


@pytest.fixture
def announcement(me) -> dict:
    """The server's newest published announcement, or a skip: no API publishes one (4.x has no admin
    announcements endpoint in config/routes/api.rb; staff publish them in the web UI, /admin/announcements)."""
    published = me.api.get("/api/v1/announcements").body
    if not published:
        pytest.skip("the server has no published announcement (none can be made through the API: staff publish "
                    "them at /admin/announcements)")
    return published[-1]


def _reaction(me, announcement_id: str, name: str) -> dict | None:
    current = next(a for a in me.api.get("/api/v1/announcements").body if a["id"] == announcement_id)
    return next((r for r in current["reactions"] if r["name"] == name), None)


def test_a_reaction_to_an_announcement_and_its_removal(writes, me, announcement):
    not_on_a_remote(writes, "a reaction to a real server's announcement shows to all its users")
    # At most 8 different names (ReactionValidator::LIMIT): join one the user has not given, else add 👍.
    name = next((r["name"] for r in announcement["reactions"] if not r["me"]), "👍")
    path = f"/api/v1/announcements/{announcement['id']}/reactions/{name}"
    me.api.put(path)
    try:
        given = _reaction(me, announcement["id"], name)
        assert given and given["me"] is True and given["count"] >= 1, given
    finally:
        me.api.delete(path, expect=(200, 404))
    taken = _reaction(me, announcement["id"], name)
    assert taken is None or taken["me"] is False, taken


def test_dismissing_an_announcement_marks_it_read(writes, me, announcement):
    not_on_a_remote(writes, "a dismissal cannot be undone (there is no undismiss)")
    me.api.post(f"/api/v1/announcements/{announcement['id']}/dismiss")
    again = next(a for a in me.api.get("/api/v1/announcements").body if a["id"] == announcement["id"])
    assert again["read"] is True


def test_an_unknown_announcement_is_404(writes, me):
    # Announcement.published.find (app/controllers/api/v1/announcements_controller.rb): an id no announcement has
    me.api.post("/api/v1/announcements/1234567890123/dismiss", expect=(404,))


# --- reports --------------------------------------------------------------------------------------------

def test_a_report_of_the_peers_status(writes, me, peer):
    not_on_a_remote(writes, "a report reaches the server's moderators and cannot be withdrawn")
    status = writes.post(peer, f"a status to report {writes.tag}")
    answer = me.api.post("/api/v1/reports", data={"account_id": peer.id, "status_ids[]": [status["id"]],
                                                  "comment": f"contract suite {writes.tag}", "category": "other"})
    report = answer.body
    assert answer.entity == "Report"
    assert report["target_account"]["id"] == peer.id and report["status_ids"] == [status["id"]]
    assert report["category"] == "other" and report["comment"] == f"contract suite {writes.tag}"
    assert report["action_taken"] is False and report["action_taken_at"] is None
    assert report["rule_ids"] is None  # only a violation names rules (validates :rule_ids, app/models/report.rb)
    assert report["forwarded"] is False  # a local account: nothing to forward (app/services/report_service.rb)
    if writes.server.version >= COLLECTIONS:
        assert report["collection_ids"] == []


# --- the Web Push subscription --------------------------------------------------------------------------

def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _keys() -> dict[str, str]:
    """A browser's subscription keys: an uncompressed P-256 public point and 16 random bytes, base64url.
    Mastodon encrypts a test message with them before it accepts them (app/validators/web_push_key_validator.rb)."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"subscription[keys][p256dh]": _b64url(point), "subscription[keys][auth]": _b64url(secrets.token_bytes(16))}


def _endpoint(run: ContractRun) -> str:
    # A reserved name that never resolves (RFC 2606): a push Mastodon tries to deliver goes nowhere.
    return f"https://push.example/contract/{run.tag}"


def _subscribe(run: ContractRun, me, **fields: str):
    answer = me.api.post("/api/v1/push/subscription",
                         data={"subscription[endpoint]": _endpoint(run), **_keys(), **fields})
    run.cleanup.add("push_subscription", str(answer.body["id"]), me.id, me.username)
    return answer


def _unsubscribe(run: ContractRun, me) -> None:
    """DELETE answers {} whether or not the token has a subscription (render_empty); then it has none."""
    me.api.delete("/api/v1/push/subscription")
    for leftover in run.cleanup.pending():
        if leftover.kind == "push_subscription" and leftover.owner == me.id:
            run.cleanup.done("push_subscription", leftover.id, me.id)


def test_a_push_subscription_from_start_to_end(writes, me):
    created = _subscribe(writes, me, **{"data[alerts][mention]": "true", "data[alerts][favourite]": "false",
                                        "data[policy]": "followed"})
    try:
        body = created.body
        assert created.entity == "WebPushSubscription"
        assert body["endpoint"] == _endpoint(writes) and body["policy"] == "followed"
        assert body["alerts"] == {"mention": True, "favourite": False}  # only the types asked for, as booleans
        if writes.server.version >= STANDARD_WEBPUSH:
            assert body["standard"] is False  # the draft WebPush unless subscription[standard] says otherwise
        assert me.api.get("/api/v1/push/subscription").body["id"] == body["id"]
        # PUT replaces the whole of `data`: the alerts not named again are gone (update!(data: ...) in
        # app/controllers/api/v1/push/subscriptions_controller.rb)
        updated = me.api.put("/api/v1/push/subscription", data={"data[alerts][follow]": "true", "data[policy]": "none"}).body
        assert updated["id"] == body["id"] and updated["alerts"] == {"follow": True} and updated["policy"] == "none"
    finally:
        _unsubscribe(writes, me)
    me.api.get("/api/v1/push/subscription", expect=(404,))


def test_a_standard_push_subscription(writes, me):
    needs(writes, STANDARD_WEBPUSH, "standard WebPush (subscription[standard])")
    try:
        assert _subscribe(writes, me, **{"subscription[standard]": "true"}).body["standard"] is True
    finally:
        _unsubscribe(writes, me)


@pytest.mark.parametrize("field, value", [("subscription[keys][p256dh]", "not-a-key"),
                                          ("subscription[endpoint]", "not a url")])
def test_a_push_subscription_with_a_bad_key_or_endpoint_is_refused(writes, me, field, value):
    # WebPushKeyValidator and URLValidator (app/models/web/push_subscription.rb). The controller deletes the
    # token's subscription before it creates the new one, outside any transaction: a refused subscribe leaves
    # the token with none.
    data = {"subscription[endpoint]": _endpoint(writes), **_keys(), field: value}
    try:
        assert me.api.post("/api/v1/push/subscription", data=data, expect=(422,)).entity == "Error"
    finally:
        _unsubscribe(writes, me)


def test_without_a_subscription_get_and_put_are_404_and_delete_is_empty(writes, me):
    _unsubscribe(writes, me)
    me.api.get("/api/v1/push/subscription", expect=(404,))
    me.api.put("/api/v1/push/subscription", data={"data[policy]": "all"}, expect=(404,))


# --- v1 filters -----------------------------------------------------------------------------------------

def _v2_filter_of(me, keyword_id: str) -> dict | None:
    return next((f for f in me.api.get("/api/v2/filters").body if any(k["id"] == keyword_id for k in f["keywords"])), None)


def test_a_v1_filter_from_start_to_end(writes, me):
    phrase = f"{writes.tag}-v1"
    created = me.api.post("/api/v1/filters", data={"phrase": phrase, "context[]": ["home", "public"],
                                                   "whole_word": "true", "irreversible": "false", "expires_in": "3600"})
    v1 = created.body
    writes.cleanup.add("filter_v1", v1["id"], me.id, me.username)
    # A v1 filter is a keyword of a v2 filter titled with the phrase (Api::V1::FiltersController#create)
    v2 = _v2_filter_of(me, v1["id"])
    assert v2 is not None and v2["title"] == phrase, v2
    writes.cleanup.add("filter", v2["id"], me.id, me.username)
    if writes.server.version >= DEPRECATION_HEADER:
        assert created.headers.get("Deprecation") == V1_FILTERS_DEPRECATED, dict(created.headers)

    assert v1["phrase"] == phrase and sorted(v1["context"]) == ["home", "public"]
    assert v1["whole_word"] is True and v1["irreversible"] is False and v1["expires_at"] is not None
    assert v1["id"] in [f["id"] for f in me.api.get("/api/v1/filters").body]
    assert me.api.get(f"/api/v1/filters/{v1['id']}").body == v1
    updated = me.api.put(f"/api/v1/filters/{v1['id']}", data={"phrase": phrase + "x", "context[]": ["notifications"],
                                                              "whole_word": "false"}).body
    assert updated["id"] == v1["id"] and updated["phrase"] == phrase + "x"
    assert updated["context"] == ["notifications"] and updated["whole_word"] is False

    me.api.delete(f"/api/v1/filters/{v1['id']}")
    writes.cleanup.done("filter_v1", v1["id"], me.id)
    me.api.get(f"/api/v1/filters/{v1['id']}", expect=(404,))
    # DELETE removes the keyword only: the v2 filter stays, with no keywords (CustomFilterKeyword#destroy!),
    # and goes with a DELETE of its own.
    left = me.api.get(f"/api/v2/filters/{v2['id']}").body
    assert left["keywords"] == [], left
    me.api.delete(f"/api/v2/filters/{v2['id']}")
    writes.cleanup.done("filter", v2["id"], me.id)


def test_a_v1_filter_with_an_unknown_context_is_refused(writes, me):
    # CustomFilter#context_must_be_valid (app/models/custom_filter.rb); the transaction leaves nothing behind
    data = {"phrase": f"{writes.tag}-bad", "context[]": ["nowhere"]}
    assert me.api.post("/api/v1/filters", data=data, expect=(422,)).entity == "Error"


# --- e-mail confirmation --------------------------------------------------------------------------------

def test_the_confirmation_check_is_a_bare_boolean(me):
    answer = me.api.get("/api/v1/emails/check_confirmation")
    assert answer.entity == "EmailConfirmed" and answer.body is True  # the run's accounts are confirmed


def test_the_confirmation_check_needs_a_user(anon):
    # require_authenticated_user!: 401 (app/controllers/api/v1/emails/confirmations_controller.rb)
    anon.get("/api/v1/emails/check_confirmation", expect=(401,))


def test_a_confirmed_user_gets_no_confirmation_email(writes, me):
    # 403 for a user the token's application did not sign up, or one already confirmed (require_user_owned_by_application!
    # and require_user_not_confirmed!); {} and a new e-mail only for an unconfirmed account of the app's own.
    assert me.api.post("/api/v1/emails/confirmations", expect=(403,)).entity == "Error"


# --- the instance's documents ---------------------------------------------------------------------------

def test_the_terms_of_service(contract, anon):
    needs(contract, TERMS_OF_SERVICE, "GET /api/v1/instance/terms_of_service")
    answer = anon.get("/api/v1/instance/terms_of_service", expect=(200, 404))
    if answer.status == 404:  # TermsOfService.current is nil: an Error, `Record not found`
        assert answer.entity == "Error"
        contract.lacks("terms of service", "the server has published none (404)")
    terms = answer.body
    date = terms["effective_date"]
    if len(date) == 10:  # terms with an effective date are found by it (find_by!(effective_date: params[:date]))
        assert anon.get(f"/api/v1/instance/terms_of_service/{date}").body["content"] == terms["content"]


def test_terms_of_service_of_a_date_without_any_are_404(contract, anon):
    needs(contract, TERMS_OF_SERVICE, "GET /api/v1/instance/terms_of_service/:date")
    assert anon.get("/api/v1/instance/terms_of_service/2001-01-01", expect=(404,)).entity == "Error"


def test_the_privacy_policy(anon):
    body = anon.get("/api/v1/instance/privacy_policy").body
    assert body["content"].strip()  # the built-in policy when the admin wrote none (PrivacyPolicy.current)


def test_the_translation_languages_agree_with_the_instance(contract, anon):
    answer = anon.get("/api/v1/instance/translation_languages")
    assert answer.entity == "TranslationLanguages"
    translation = (contract.server.instance.get("configuration") or {}).get("translation") or {}
    if translation.get("enabled") is False:  # no translation service: {} (translation_languages_controller.rb)
        assert answer.body == {}


# --- the streaming server's error frame -------------------------------------------------------------------

def _error_frame(streams: Streams, timeout: float = 10.0) -> dict:
    """The first frame that is an error (a subscription's answer comes as a frame of its own)."""
    deadline = Deadline(timeout)
    while not deadline.passed():
        streams.ws.settimeout(max(0.1, deadline.left()))
        try:
            raw = streams.ws.recv()
        except websocket.WebSocketTimeoutException:
            break
        frame = json.loads(raw) if raw else None
        if isinstance(frame, dict) and "error" in frame:
            return frame
    raise AssertionError(f"no error frame within {timeout:.0f} s of subscribing to an unknown stream")


def test_an_unknown_stream_answers_an_error_frame(contract, me):
    # streamNameToChannelIds rejects with RequestError('Unknown stream type'); subscribeWebsocketToChannel sends
    # {error, status} and keeps the connection open (streaming/index.js, streaming/errors.js)
    streams = Streams(contract, me)
    try:
        streams.subscribe("nosuch")
        frame = _error_frame(streams)
        assert streams.ws.connected
    finally:
        streams.close()
    assert_valid("StreamingError", frame, contract.server.version)
    contract.report.event("error", "StreamingError")
    assert frame["status"] == 400
