"""The contract schemas (sandbox/contract) against real Mastodon responses.

Every recorded JSON response that `entity_for` maps to an entity must validate for the recording server's
version; a failure means the schema is wrong (re-read the serializer), unless it is a known server quirk.
Mutations of real responses must fail, and a field added in 4.4 binds a 4.6.5 server but not a 4.3 one.
The recordings are the test, never the source of a schema.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator

from mastodon_sandbox.contract.endpoints import ENDPOINTS, ID_PAYLOAD_EVENTS, STREAM_EVENTS, entity_for, entity_for_event
from mastodon_sandbox.contract.quirks import Exchange, quirk_for
from mastodon_sandbox.contract.validate import SCHEMAS, entities, schema_for, validate
from mastodon_sandbox.contract.versions import ServerVersion, version_from_instance
from tests.contract_recordings import (
    assert_changing_field_types_is_rejected,
    assert_invented_enum_value_is_rejected,
    assert_removing_required_fields_is_rejected,
)

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
LIVE = RECORDINGS / "mastodon-4.6.5-live"
MASTODONPY_46 = RECORDINGS / "mastodon-4.6-mastodonpy"
PRE_4_4 = RECORDINGS / "mastodon-pre-4.4"
SERVER_HOST = "localhost"  # every folder's own server; Mastodon.py also asked mastodon.social a few times
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ID_STRING = "id string"  # the payload of a `delete` event: a bare status id


@dataclass(frozen=True)
class Recorded:
    """One recorded body to check: an HTTP response, or a streaming event's payload (method "STREAM")."""

    where: str
    method: str
    url: str
    status: int
    body: Any
    content_type: str = ""
    request_headers: tuple = ()

    @property
    def entity(self) -> str | None:
        if self.method == "STREAM":  # `url` holds the event name
            return entity_for_event(self.url) or (ID_STRING if self.url in ID_PAYLOAD_EVENTS else None)
        return entity_for(self.method, self.url, self.status)


# --- reading the recordings ---------------------------------------------------------------------------

def _json_or_none(text: Any) -> Any:
    if isinstance(text, bytes):
        try:
            text = gzip.decompress(text)
        except OSError:
            pass
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _sse_events(lines: list[str]) -> list[tuple[str, str]]:
    """(event, data) pairs of a server-sent event stream."""
    events, event = [], None
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event:
            events.append((event, line[5:].strip()))
            event = None
    return events


def _stream_payload(event: str, data: str) -> Any:
    return data if event in ID_PAYLOAD_EVENTS else _json_or_none(data)


def _live_file(path: Path) -> list[Recorded]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        rec = json.loads(line)
        where = f"{path.name}:{n + 1} {rec.get('label', '')}"
        if "request" in rec:
            resp = rec["response"]
            headers = {k.lower(): v for k, v in resp["headers"].items()}
            body = resp.get("json") if resp.get("json") is not None else resp.get("text")
            out.append(Recorded(where, rec["request"]["method"], rec["request"]["url"], resp["status"], body,
                                headers.get("content-type", ""), tuple(rec["request"].get("headers", {}).items())))
        elif "frame" in rec:
            frame = _json_or_none(rec["frame"])
            if isinstance(frame, dict) and "event" in frame:
                out.append(Recorded(where, "STREAM", frame["event"], 200, _stream_payload(frame["event"], frame.get("payload", ""))))
        elif "lines" in rec:
            lines = [item[1] if isinstance(item, list) else item for item in rec["lines"]]
            out += [Recorded(where, "STREAM", event, 200, _stream_payload(event, data)) for event, data in _sse_events(lines)]
    return out


def _cassette_file(path: Path) -> list[Recorded]:
    out = []
    for n, item in enumerate(yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)["interactions"]):
        request, response = item["request"], item["response"]
        if urlsplit(request["uri"]).hostname != SERVER_HOST:
            continue
        headers = {k.lower(): v[0] for k, v in response["headers"].items() if v}
        content_type = headers.get("content-type", "")
        text = response["body"]["string"]
        where = f"{path.name}#{n}"
        if content_type.startswith("text/event-stream"):
            text = text.decode("utf-8") if isinstance(text, bytes) else text
            out += [Recorded(where, "STREAM", event, 200, _stream_payload(event, data))
                    for event, data in _sse_events(text.splitlines())]
            continue
        body = _json_or_none(text)
        request_headers = tuple((k, v[0]) for k, v in request["headers"].items() if v)
        out.append(Recorded(where, request["method"], request["uri"], response["status"]["code"],
                            body if body is not None else text, content_type, request_headers))
    return out


@functools.cache
def recorded(path: Path) -> tuple[Recorded, ...]:
    return tuple(_live_file(path) if path.suffix == ".jsonl" else _cassette_file(path))


@functools.cache
def folder_version(folder: Path) -> ServerVersion:
    """The version the folder's instance responses report (one only), else what its README says."""
    if folder == LIVE:
        default = "4.6.5"
    elif folder == MASTODONPY_46:
        default = "4.6.4"
    else:
        default = "4.3"  # pre-4.4: no instance response; a server that still had the password grant
    seen = {
        version_from_instance(r.body)
        for path in _files(folder) for r in recorded(path)
        if r.status == 200 and r.entity in ("Instance", "InstanceV1")
    }
    assert len(seen) <= 1, f"{folder.name} reports several versions: {seen}"
    return seen.pop() if seen else ServerVersion.parse(default)


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jsonl")) + sorted(folder.glob("*.yaml"))


RECORDING_FILES = [path for folder in (LIVE, MASTODONPY_46, PRE_4_4) for path in _files(folder)]


def checked(path: Path) -> list[Recorded]:
    """The bodies of a recording file the contract has an entity for (JSON, or a stream payload)."""
    return [r for r in recorded(path) if r.entity and (r.method == "STREAM" or isinstance(r.body, (dict, list)))]


def _exchange(r: Recorded) -> Exchange:
    return Exchange(r.method, r.url, r.status, r.content_type, r.body, dict(r.request_headers))


# --- (a) every recorded response validates ---------------------------------------------------------------

@pytest.mark.parametrize("path", RECORDING_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recorded_response_matches_its_schema(path):
    version = folder_version(path.parent)
    failures = []
    for r in checked(path):
        if r.entity == ID_STRING:
            errors = [] if isinstance(r.body, str) and r.body.isdigit() else [f"$: {r.body!r} is not an id string"]
        else:
            errors = validate(r.entity, r.body, version)
        if errors and not quirk_for(version, _exchange(r)):
            failures.append(f"{r.where} {r.method} {urlsplit(r.url).path} {r.status} as {r.entity}:\n    "
                            + "\n    ".join(errors[:8]))
    assert not failures, f"{len(failures)} responses break the contract for {version}:\n" + "\n".join(failures)


def test_the_recordings_exercise_many_responses_of_many_entities():
    per_entity = Counter(r.entity.removesuffix("[]") for path in RECORDING_FILES for r in checked(path))
    assert sum(per_entity.values()) >= 150, per_entity
    assert len(set(per_entity) - {ID_STRING}) >= 15, per_entity
    streamed = Counter(r.entity for path in RECORDING_FILES for r in checked(path) if r.method == "STREAM")
    assert streamed[ID_STRING] and streamed["Status"] and streamed["Notification"], streamed


def test_each_folder_has_its_version():
    assert folder_version(LIVE) == "4.6.5"
    assert folder_version(MASTODONPY_46) == "4.6.4"
    assert folder_version(PRE_4_4) < "4.4.0"


# --- (b) mutations of real responses are rejected ---------------------------------------------------------

@functools.cache
def examples() -> dict[str, tuple[Any, ServerVersion]]:
    """One real body per entity (the first recorded), with its server's version; arrays give their first
    item, and a status's card stands for PreviewCard and a Markers map's entry for Marker."""
    found: dict[str, tuple[Any, ServerVersion]] = {}

    def keep(entity: str, body: Any, version: ServerVersion) -> None:
        if isinstance(body, dict) and entity not in found:
            found[entity] = (body, version)
        if entity in ("Status", "PostedStatus", "DeletedStatus") and isinstance(body.get("card"), dict):
            keep("PreviewCard", body["card"], version)
        if entity == "Markers" and body:
            keep("Marker", next(iter(body.values())), version)

    for path in RECORDING_FILES:
        for r in checked(path):
            if r.entity == ID_STRING:
                continue
            if r.entity.endswith("[]"):
                for item in r.body[:1]:
                    keep(r.entity[:-2], item, folder_version(path.parent))
            elif isinstance(r.body, dict):
                keep(r.entity, r.body, folder_version(path.parent))
    return found


def required_names(entity: str, version: ServerVersion) -> list[str]:
    """What the entity requires at its top level, its allOf parts included."""
    def resolve(ref: str, here: str) -> tuple[dict, str]:
        name, _, pointer = ref.partition("#")
        name = name.removesuffix(".json") or here
        node = schema_for(name, version)
        for part in filter(None, pointer.split("/")):
            node = node[part]
        return node, name

    def names(schema: dict, here: str) -> list[str]:
        own = list(schema.get("required", []))
        for part in schema.get("allOf", []):
            own += names(*resolve(part["$ref"], here)) if "$ref" in part else names(part, here)
        return own

    return names(schema_for(entity, version), entity)


def test_the_entities_of_the_brief_all_have_a_recorded_example():
    core = {
        "Account", "CredentialAccount", "Status", "DeletedStatus", "MediaAttachment", "Poll", "Tag", "Relationship",
        "Notification", "Conversation", "Context", "Instance", "InstanceV1", "Application", "CredentialApplication",
        "Token", "Search", "List", "Filter", "FilterKeyword", "FilterStatus", "ScheduledStatus", "PreviewCard",
        "Marker", "Markers", "Error",
    }
    assert core <= set(examples()), core - set(examples())


def _shaped(entity: str) -> tuple[str, str, dict, ServerVersion]:
    """(entity to validate, entity whose required fields apply, example body, version)."""
    body, version = examples()[entity]
    if entity == "PostedStatus":  # if/then/else: a Status, or a ScheduledStatus when scheduled
        return entity, "ScheduledStatus" if "params" in body else "Status", body, version
    return entity, entity, body, version


# Every entity with a recorded example but Empty ({}) and Markers (a map whose entries are Marker's examples).
MUTABLE = sorted(set(examples()) - {"Empty", "Markers"})


@pytest.mark.parametrize("entity", MUTABLE)
def test_removing_a_required_field_is_rejected(entity):
    entity, shape, body, version = _shaped(entity)
    assert_removing_required_fields_is_rejected(entity, body, version, shape=shape, required=required_names)


@pytest.mark.parametrize("entity", MUTABLE)
def test_changing_a_fields_type_is_rejected(entity):
    entity, shape, body, version = _shaped(entity)
    assert_changing_field_types_is_rejected(entity, body, version, shape=shape, required=required_names)


# Where each entity with an enum keeps one, in its recorded example (a path of keys and indexes).
ENUM_FIELDS = {
    "Status": ("visibility",),
    "DeletedStatus": ("visibility",),
    "PostedStatus": ("visibility",),
    "MediaAttachment": ("type",),
    "Notification": ("type",),
    "List": ("replies_policy",),
    "Filter": ("filter_action",),
    "PreviewCard": ("type",),
    "Preferences": ("posting:default:visibility",),
    "CredentialAccount": ("source", "privacy"),
    "Account": ("feature_approval", "current_user"),
    "Token": ("token_type",),
}


@pytest.mark.parametrize("entity", sorted(ENUM_FIELDS))
def test_an_invented_enum_value_is_rejected(entity):
    assert_invented_enum_value_is_rejected(entity, *examples()[entity], ENUM_FIELDS[entity])


def test_a_bad_date_time_and_a_date_time_where_a_date_belongs_are_rejected():
    body, version = examples()["Account"]
    assert validate("Account", {**body, "created_at": "yesterday"}, version)
    # last_status_at is a DATE ("2026-08-01"), not a date-time
    assert validate("Account", {**body, "last_status_at": "2026-08-01T00:00:00.000Z"}, version)
    assert not validate("Account", {**body, "last_status_at": "2026-08-01"}, version)


def test_unknown_extra_properties_are_accepted():
    body, version = examples()["Status"]
    assert validate("Status", {**body, "a_field_from_the_future": {"x": 1}}, version) == []


def test_a_deleted_status_has_text_instead_of_content():
    body, version = examples()["DeletedStatus"]
    assert "text" in body and "content" not in body
    assert validate("DeletedStatus", body, version) == []
    assert "$: 'content' is a required property" in validate("Status", body, version)


# --- (c) version gating -----------------------------------------------------------------------------------

def _pre_4_4_credential_account() -> dict:
    return next(r.body for path in _files(PRE_4_4) for r in checked(path) if r.entity == "CredentialAccount")


def test_a_field_added_in_4_4_binds_a_4_6_5_server_but_not_a_4_3_one():
    body = _pre_4_4_credential_account()
    assert "attribution_domains" not in body["source"]  # added in 4.4.0
    assert validate("CredentialAccount", body, "4.3.23") == []
    assert "$.source: 'attribution_domains' is a required property" in validate("CredentialAccount", body, "4.4.0")
    errors = validate("CredentialAccount", body, "4.6.5")
    assert "$.source: 'attribution_domains' is a required property" in errors
    assert "$: 'avatar_description' is a required property" in errors  # 4.6.0
    assert "$.source: 'quote_policy' is a required property" not in validate("CredentialAccount", body, "4.4.0")


def test_enum_values_added_later_are_refused_to_older_servers():
    body, _ = examples()["Notification"]
    quote = {**body, "type": "quote"}  # added in 4.5.0
    assert validate("Notification", quote, "4.6.5") == []
    assert any("'quote' is not one of" in e for e in validate("Notification", quote, "4.3.23"))


# --- the schemas and tables themselves --------------------------------------------------------------------

@pytest.mark.parametrize("entity", entities())
def test_each_schema_is_draft_2020_12_and_its_annotations_are_versions(entity):
    raw = json.loads((SCHEMAS / f"{entity}.json").read_text())
    Draft202012Validator.check_schema(raw)

    def walk(node):
        if isinstance(node, dict):
            if "x-added" in node:
                ServerVersion.parse(node["x-added"])
            for value in node.get("x-enum-added", {}).values():
                ServerVersion.parse(value)
            if isinstance(node.get("properties"), dict):
                undefined = set(node.get("required", [])) - set(node["properties"])
                assert not undefined, f"{entity}: required but not defined: {undefined}"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(raw)


def test_every_entity_the_tables_name_has_a_schema():
    named = {e.removesuffix("[]") for e in list(ENDPOINTS.values()) + list(STREAM_EVENTS.values()) if e}
    assert named <= set(entities()), named - set(entities())


@pytest.mark.parametrize("method, path, status, entity", [
    ("GET", "/api/v1/accounts/verify_credentials", 200, "CredentialAccount"),
    ("GET", "/api/v1/accounts/lookup?acct=alice", 200, "Account"),
    ("GET", "/api/v1/accounts/117020457910412882", 200, "Account"),
    ("GET", "https://localhost/api/v1/timelines/home?limit=2", 200, "Status[]"),
    ("GET", "/api/v1/timelines/tag/sandbox", 200, "Status[]"),
    ("POST", "/api/v1/statuses", 200, "PostedStatus"),
    ("DELETE", "/api/v1/statuses/117020574424543529", 200, "DeletedStatus"),
    ("GET", "/api/v2/search", 200, "Search"),
    ("POST", "/api/v1/apps", 200, "CredentialApplication"),
    ("POST", "/oauth/token", 200, "Token"),
    ("GET", "/api/v1/instance/", 200, "InstanceV1"),
    ("POST", "/api/v2/media", 202, "MediaAttachment"),
    ("GET", "/api/v1/media/1", 206, "MediaAttachment"),
    ("GET", "/api/v1/statuses/1", 404, "Error"),
    ("POST", "/oauth/token", 400, "Error"),
    ("GET", "/oauth/authorize", 400, None),
    ("GET", "/health", 200, None),
    ("GET", "/api/v1/notifications/requests", 200, "NotificationRequest[]"),
    ("GET", "/api/v1/statuses/1", 302, None),
])
def test_entity_for(method, path, status, entity):
    assert entity_for(method, path, status) == entity


def test_stream_events():
    assert entity_for_event("update") == entity_for_event("status.update") == "Status"
    assert entity_for_event("notification") == "Notification"
    assert entity_for_event("conversation") == "Conversation"
    assert entity_for_event("delete") is None and "delete" in ID_PAYLOAD_EVENTS


def test_an_unknown_entity_is_a_clear_error():
    with pytest.raises(KeyError, match="no schema for 'Nope'"):
        validate("Nope", {}, "4.6.5")


# --- answers the recordings lack, from Mastodon's source ----------------------------------------------------

def _recorded_notification(kind: str) -> tuple[dict, ServerVersion]:
    """The first recorded notification of this type, with its server's version."""
    for path in RECORDING_FILES:
        for r in checked(path):
            if r.entity in ("Notification", "Notification[]"):
                for item in r.body if isinstance(r.body, list) else [r.body]:
                    if isinstance(item, dict) and item.get("type") == kind and isinstance(item.get("status"), dict):
                        return item, folder_version(path.parent)
    raise LookupError(f"no recorded {kind} notification")


# Types whose notification carries `status` (REST::NotificationSerializer#status_type?), with the version
# that added the type.
STATUS_TYPES = {"mention": "4.0.0", "status": "4.0.0", "reblog": "4.0.0", "favourite": "4.0.0", "poll": "4.0.0",
                "update": "4.0.0", "quote": "4.5.0", "quoted_update": "4.5.0"}


@pytest.mark.parametrize("version", ["4.0.0", "4.3.23", "4.6.5"])
def test_a_mention_whose_status_is_gone_has_a_null_status(version):
    """`belongs_to :target_status, key: :status` (app/serializers/rest/notification_serializer.rb) is
    `mention&.status` for a mention (app/models/notification.rb), and Status' default scope `recent.kept`
    (app/models/status.rb) hides a discarded status: one deleted while reported keeps its mention and its
    notification (RemoveStatusService#permanently?), which GET /api/v1/notifications lists with `status: null`."""
    mention, _ = _recorded_notification("mention")
    gone = {**mention, "status": None}
    assert validate("Notification[]", [mention, gone], version) == []
    assert validate("Notification", gone, version) == []


@pytest.mark.parametrize("kind", sorted(STATUS_TYPES))
def test_every_type_that_carries_a_status_may_carry_null(kind):
    mention, _ = _recorded_notification("mention")
    assert validate("Notification", {**mention, "type": kind, "status": None}, STATUS_TYPES[kind]) == []
    assert validate("Notification", {**mention, "type": kind, "status": None}, "4.6.5") == []


def test_a_notifications_status_of_a_wrong_type_is_still_rejected():
    mention, version = _recorded_notification("mention")
    for wrong in ("117712666927917549", 0, [], True):
        errors = validate("Notification", {**mention, "status": wrong}, version)
        assert errors and all(e.startswith("$.status") for e in errors), (wrong, errors)
    # a broken status inside is still named where it breaks
    broken = {**mention, "status": {**mention["status"], "visibility": "invented-by-the-test"}}
    assert any(e.startswith("$.status.visibility") for e in validate("Notification", broken, version))
    # and a Status itself is no more nullable than before
    assert validate("Status", None, version) == ["$: None is not of type 'object'"]


def _recorded_scheduled_status() -> tuple[dict, ServerVersion]:
    body, version = examples()["ScheduledStatus"]
    assert isinstance(body["params"]["application_id"], int)  # every recording has an integer (f6, Mastodon.py's)
    return body, version


def test_a_scheduled_statuss_application_id_is_an_integer_or_null():
    """PostStatusService#scheduled_options stores `options_hash.delete(:application)&.id`
    (app/services/post_status_service.rb, 4.3.23 and 4.6.5): the application's integer id, or nil."""
    body, version = _recorded_scheduled_status()
    with_params = lambda **params: {**body, "params": {**body["params"], **params}}  # noqa: E731
    assert validate("ScheduledStatus", with_params(application_id=None), version) == []
    assert validate("ScheduledStatus", with_params(application_id=2), version) == []
    for wrong in ("2", 2.5, True):
        errors = validate("ScheduledStatus", with_params(application_id=wrong), version)
        assert errors and all(e.startswith("$.params.application_id:") for e in errors), (wrong, errors)


def test_a_wrong_type_on_a_status_is_reported_once():
    # Status and its allOf part StatusBase both say "type": "object"; one break, one message
    assert validate("Status", "x", "4.6.5") == ["$: 'x' is not of type 'object'"]
    assert validate("DeletedStatus", 5, "4.6.5") == ["$: 5 is not of type 'object'"]
    assert validate("Status[]", ["x", 3], "4.6.5") == ["$[0]: 'x' is not of type 'object'",
                                                       "$[1]: 3 is not of type 'object'"]
    # inside a nullable reference too (the message names the anyOf, as for every nullable reference)
    mention, version = _recorded_notification("mention")
    assert validate("Notification", {**mention, "status": "x"}, version) == [
        "$.status: 'x' is not valid under any of the given schemas"]
    # messages for different places stay, each once
    body, _ = examples()["Status"]
    assert validate("Status", {**body, "reblog": "x", "id": 1}, "4.6.5") == [
        "$.id: 1 is not of type 'string'", "$.reblog: 'x' is not valid under any of the given schemas"]
