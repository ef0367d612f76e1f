"""A minimal ActivityPub actor that a real Mastodon federates with, the reference for "your own ActivityPub server":
plain HTTP on 127.0.0.1 (a TLS proxy in front makes it `https://DOMAIN`), recording what arrives, signing what it sends.

What Mastodon requires of a remote actor, and where it says so (paths in Mastodon's source):
- WebFinger `acct:user@domain` whose `subject` round-trips and whose `self` link (application/activity+json) is
  exactly the actor's id: app/lib/webfinger.rb, app/services/activitypub/fetch_remote_actor_service.rb.
- An actor with the activitystreams `@context`, a type such as Person, `preferredUsername`, `inbox`, and `publicKey`
  {id, owner == actor id, publicKeyPem}; outbox/followers/following are read for their counts:
  app/services/activitypub/process_account_service.rb.
- Documents served as `application/activity+json`, their `id` the URL fetched: app/helpers/json_ld_helper.rb.
- draft-cavage HTTP Signatures (rsa-sha256) over `(request-target) host date`, with `digest` on a POST, keyId
  `<actor id>#main-key`: app/lib/request.rb, app/lib/signed_request.rb,
  app/controllers/concerns/signature_verification.rb.
- A Note whose id is on the actor's host and whose to/cc name a local account (or whose author a local account
  follows): app/lib/activitypub/activity/create.rb.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"
ACTIVITY_JSON = "application/activity+json"


class SignatureError(ValueError):
    """An HTTP signature that does not hold; the message is the one-line reason."""


def generate_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    """The SubjectPublicKeyInfo PEM that goes in an actor's publicKey.publicKeyPem."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.PEM, spki).decode()


def _digest(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def sign_headers(key: rsa.RSAPrivateKey, key_id: str, method: str, url: str, body: bytes | None = None,
                 headers: dict | None = None) -> dict[str, str]:
    """The headers to send for a request signed as Mastodon signs (app/lib/request.rb, http_signature_draft.rb):
    Host, Date and, with a body, Digest, all signed with the request target. `headers` are sent along, unsigned."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    signed = {"host": parts.netloc.rpartition("@")[2], "date": formatdate(usegmt=True)}
    if body is not None:
        signed["digest"] = _digest(body)
    string = "\n".join([f"(request-target): {method.lower()} {target}"] + [f"{k}: {v}" for k, v in signed.items()])
    signature = base64.b64encode(key.sign(string.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    out = {**(headers or {}), **{k.title(): v for k, v in signed.items()}}
    out["Signature"] = (f'keyId="{key_id}",algorithm="rsa-sha256",headers="(request-target) {" ".join(signed)}",'
                        f'signature="{signature}"')
    return out


def parse_signature(value: str) -> dict[str, str]:
    """The parameters of a Signature header (app/lib/signature_parser.rb); SignatureError without keyId/signature."""
    params = {m[1]: m[2] if m[2] is not None else m[3]
              for m in re.finditer(r'([\w-]+)\s*=\s*(?:"([^"]*)"|([^",\s]+))', value.removeprefix("Signature "))}
    if not params.get("keyId") or not params.get("signature"):
        raise SignatureError(f"malformed Signature header (keyId and signature are required): {value[:80]!r}")
    return params


# Mastodon's window for a signature without `(expires)`: its Date at most 5 minutes old plus a 1-hour clock
# margin, and at most that margin ahead (SignedRequest#matches_time_window?, app/lib/signed_request.rb).
MAX_AGE, MAX_AHEAD = 65 * 60, 60 * 60


def verify_signature(method: str, path_with_query: str, headers: Mapping[str, str], body: bytes, public_key_pem: str,
                     max_age: float = MAX_AGE, max_ahead: float = MAX_AHEAD) -> None:
    """Check a draft-cavage signature as app/lib/signed_request.rb does; SignatureError says why it fails."""
    h = {k.lower(): v for k, v in headers.items()}
    if not h.get("signature"):
        raise SignatureError("no Signature header")
    params = parse_signature(h["signature"])
    if params.get("algorithm", "hs2019") not in ("rsa-sha256", "hs2019"):
        raise SignatureError(f"unsupported algorithm {params['algorithm']!r}")
    names = params.get("headers", "date").lower().split()  # the draft's default is `date` alone
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path_with_query}")
        elif name not in h:
            raise SignatureError(f"signed header {name!r} is missing from the request")
        else:
            lines.append(f"{name}: {h[name]}")
    try:
        skew = time.time() - parsedate_to_datetime(h["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        raise SignatureError(f"missing or invalid Date header: {h.get('date')!r}") from None
    if skew > max_age or -skew > max_ahead:
        raise SignatureError(f"Date {h['date']!r} is {abs(skew) / 60:.0f} min {'old' if skew > 0 else 'ahead'}, "
                             f"beyond the {(max_age if skew > 0 else max_ahead) / 60:g} min allowed")
    if "digest" in h:
        offered = dict(d.strip().split("=", 1) for d in h["digest"].split(",") if "=" in d)
        given = {k.lower(): v for k, v in offered.items()}.get("sha-256")
        if given != _digest(body).partition("=")[2]:
            raise SignatureError(f"Digest does not match the body: {h['digest']!r}")
    try:
        key = serialization.load_pem_public_key(public_key_pem.encode())
        signature = base64.b64decode(params["signature"])
        key.verify(signature, "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError) as e:
        raise SignatureError(f"signature does not verify with key {params['keyId']} ({type(e).__name__})") from None


@dataclass
class InboxRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    activity: dict
    signature_ok: bool
    signature_error: str = ""

    def __str__(self) -> str:
        verdict = "signed" if self.signature_ok else f"signature bad: {self.signature_error}"
        return f"{self.activity.get('type')} from {self.activity.get('actor')} to {self.path} ({verdict})"


@dataclass
class ServedRequest:
    method: str
    path: str
    headers: dict[str, str]


class Actor:
    """One actor, `https://{domain}/users/{username}`, served on 127.0.0.1:`port` once started (a free port
    unless given one: an app a test stops and starts again keeps its port, HTTPServer reuses the address).

    `resolve(url) -> dict` replaces the signed HTTPS fetch of a signer's key document (for tests without TLS)."""

    def __init__(self, domain: str, username: str = "bot", ca_bundle: str | None = None,
                 resolve: Callable[[str], dict] | None = None, port: int = 0):
        self.domain, self.username, self.ca_bundle, self._port = domain, username, ca_bundle, port
        self.id = f"https://{domain}/users/{username}"
        self.key_id = f"{self.id}#main-key"  # the form Mastodon's own keys have: app/lib/activitypub/tag_manager.rb
        self.inbox_url = f"{self.id}/inbox"
        self.handle = f"@{username}@{domain}"
        self.key = generate_key()
        self._resolve = resolve or self._fetch_document
        self._cond = threading.Condition()
        self._inbox: list[InboxRequest] = []
        self._requests: list[ServedRequest] = []
        self._notes: dict[str, dict] = {}
        self._keys: dict[str, tuple[str, str]] = {}  # keyId -> (publicKeyPem, owner)
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the actor is not started")
        return self._server.server_address[1]

    def person(self) -> dict:
        return {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": self.id, "type": "Person", "preferredUsername": self.username,
            "name": f"Sandbox actor {self.username}", "summary": "<p>A test actor (mastodon-sandbox).</p>",
            "url": self.id,  # must be on the actor's host: process_account_service.rb (mismatching_origin?)
            "inbox": self.inbox_url, "outbox": f"{self.id}/outbox",
            "followers": f"{self.id}/followers", "following": f"{self.id}/following",
            "endpoints": {"sharedInbox": f"https://{self.domain}/inbox"},
            "manuallyApprovesFollowers": False, "discoverable": True,
            "publicKey": {"id": self.key_id, "owner": self.id, "publicKeyPem": public_pem(self.key)},
        }

    def start(self) -> Actor:
        actor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                actor._serve(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Actor:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        method, headers = req.command, dict(req.headers.items())
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        with self._cond:
            self._requests.append(ServedRequest(method, req.path, headers))
        status, ctype, doc = self._route(method, req.path, headers, body)
        data = json.dumps(doc).encode() if doc is not None else b""
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if method != "HEAD":
            req.wfile.write(data)

    def _route(self, method: str, raw_path: str, headers: dict, body: bytes) -> tuple[int, str, dict | None]:
        # Ids come from the configured domain, never from the request's Host: the proxy may pass any.
        url = urlsplit(raw_path)
        path, query = url.path, parse_qs(url.query)
        not_found = (404, "application/json", {"error": "not found"})
        if method == "POST":
            if path not in (f"/users/{self.username}/inbox", "/inbox"):
                return not_found
            self._receive(raw_path, headers, body)
            return 202, "application/json", None  # accepted whatever the signature: the test inspects it
        if method not in ("GET", "HEAD"):
            return 405, "application/json", {"error": "method not allowed"}
        if path == "/.well-known/webfinger":
            resource = (query.get("resource") or [""])[0]
            if resource.lower() not in (f"acct:{self.username}@{self.domain}".lower(), self.id.lower()):
                return not_found
            return 200, "application/jrd+json", {  # app/lib/webfinger.rb: subject and an activity+json self link
                "subject": f"acct:{self.username}@{self.domain}", "aliases": [self.id],
                "links": [{"rel": "self", "type": ACTIVITY_JSON, "href": self.id},
                          {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": self.id}]}
        if path == "/.well-known/nodeinfo":
            return 200, "application/json", {"links": [{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
                                                        "href": f"https://{self.domain}/nodeinfo/2.0"}]}
        if path == "/nodeinfo/2.0":
            return 200, "application/json", {
                "version": "2.0", "software": {"name": "mastodon-sandbox-actor", "version": "1.0"},
                "protocols": ["activitypub"], "services": {"inbound": [], "outbound": []},
                "openRegistrations": False, "usage": {"users": {"total": 1}}, "metadata": {}}
        if path == f"/users/{self.username}":
            return 200, ACTIVITY_JSON, self.person()
        for name in ("outbox", "followers", "following"):
            if path == f"/users/{self.username}/{name}":
                return 200, ACTIVITY_JSON, {"@context": AS, "id": f"{self.id}/{name}", "type": "OrderedCollection",
                                            "totalItems": 0, "orderedItems": []}
        with self._cond:
            note = self._notes.get(f"https://{self.domain}{path}")
        return (200, ACTIVITY_JSON, {"@context": AS, **note}) if note else not_found

    def _receive(self, raw_path: str, headers: dict, body: bytes) -> None:
        try:
            activity = json.loads(body)
        except ValueError:
            activity = None
        activity, ok, error = activity if isinstance(activity, dict) else {}, True, ""
        try:
            signature = {k.lower(): v for k, v in headers.items()}.get("signature")
            if not signature:
                raise SignatureError("no Signature header")
            params = parse_signature(signature)
            pem, owner = self._public_key(params["keyId"])
            verify_signature("POST", raw_path, headers, body, pem)
            if "digest" not in params.get("headers", "").lower().split():
                raise SignatureError("a POST must sign its Digest (as app/lib/signed_request.rb requires)")
            actor = activity.get("actor")
            actor = actor.get("id") if isinstance(actor, dict) else actor
            if owner != actor:  # the signer must be the activity's actor: process_collection_service.rb
                raise SignatureError(f"key owner {owner} is not the activity's actor {actor}")
        except SignatureError as e:
            ok, error = False, str(e)
        except Exception as e:  # a key that cannot be fetched or read: recorded, not a crashed handler thread
            ok, error = False, f"cannot check the signature: {type(e).__name__}: {e}"
        with self._cond:
            self._inbox.append(InboxRequest(raw_path, headers, body, activity, ok, error))
            self._cond.notify_all()

    def _public_key(self, key_id: str) -> tuple[str, str]:
        """(publicKeyPem, owner) of a keyId, fetched once: the document at the keyId without its fragment is
        either the key itself or an actor holding it (Mastodon's is the actor). Not fetched under the lock: the
        fetch may make Mastodon call back into this server."""
        if key_id not in self._keys:
            doc = self._resolve(key_id.split("#")[0])
            keys = [doc] if "publicKeyPem" in doc else doc.get("publicKey") or []
            keys = keys if isinstance(keys, list) else [keys]
            key = next((k for k in keys if isinstance(k, dict) and k.get("id") == key_id), None)
            if key is None:
                raise SignatureError(f"no key {key_id} in {key_id.split('#')[0]}")
            self._keys[key_id] = (key["publicKeyPem"], key["owner"])
        return self._keys[key_id]

    @property
    def inbox(self) -> list[InboxRequest]:
        with self._cond:
            return list(self._inbox)

    @property
    def requests(self) -> list[ServedRequest]:
        with self._cond:
            return list(self._requests)

    def wait_for(self, predicate: Callable[[InboxRequest], bool], timeout: float = 30) -> InboxRequest:
        """The first inbox request (already arrived or arriving within `timeout` s) that matches."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = next((r for r in self._inbox if predicate(r)), None)
                if match is not None:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    arrived = "; ".join(map(str, self._inbox)) or "nothing"
                    raise AssertionError(f"no matching inbox request at {self.handle} within {timeout:g} s; "
                                         f"{len(self._inbox)} arrived: {arrived}")
                self._cond.wait(remaining)

    def _fetch_document(self, url: str) -> dict:
        response = self.fetch(url)
        response.raise_for_status()
        return response.json()

    def fetch(self, url: str, signed: bool = True) -> requests.Response:
        """GET an ActivityPub document; signed, as servers with authorized fetch require (signed_request.rb)."""
        headers = {"Accept": ACTIVITY_JSON}
        if signed:
            headers = sign_headers(self.key, self.key_id, "GET", url, headers=headers)
        return requests.get(url, headers=headers, verify=self.ca_bundle or True, timeout=10)

    def deliver(self, inbox_url: str, activity: dict) -> requests.Response:
        """POST an activity to an inbox, signed with Digest (Mastodon answers 202, or 401 with the reason)."""
        body = json.dumps(activity).encode()
        headers = sign_headers(self.key, self.key_id, "POST", inbox_url, body, {"Content-Type": ACTIVITY_JSON})
        return requests.post(inbox_url, data=body, headers=headers, verify=self.ca_bundle or True, timeout=10)

    def _new_id(self, kind: str) -> str:
        return f"https://{self.domain}/{kind}/{uuid.uuid4().hex}"

    def accept(self, follow: dict) -> dict:
        """Accept of a Follow; Mastodon matches the Follow's id to its pending request (activity/accept.rb)."""
        return {"@context": AS, "id": self._new_id("activities"), "type": "Accept", "actor": self.id,
                "to": [follow.get("actor")], "object": follow}

    def note(self, content_html: str, mention: dict | None = None, in_reply_to: str | None = None,
             public: bool = True) -> dict:
        """A Create of a Note, which `GET /notes/<id>` then serves. `mention` ({"id": actor_uri, "handle": "@u@host"})
        is tagged and also addressed (cc, or to when not public): a mention outside to/cc counts as silenced and its
        notification is filtered (activity/create.rb). public=False addresses the mentioned account only: a direct
        message. `in_reply_to` is the replied-to status's ActivityPub id (`uri` in Mastodon's API)."""
        note_id = self._new_id("notes")
        published = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        to, cc = ([PUBLIC], [f"{self.id}/followers"]) if public else ([], [])
        if mention:
            (cc if public else to).append(mention["id"])
        note = {"id": note_id, "type": "Note", "attributedTo": self.id, "content": content_html,
                "published": published, "url": note_id, "to": to, "cc": cc, "sensitive": False, "tag": []}
        if mention:
            note["tag"].append({"type": "Mention", "href": mention["id"], "name": mention["handle"]})
        if in_reply_to:
            note["inReplyTo"] = in_reply_to
        with self._cond:
            self._notes[note_id] = note
        return {"@context": AS, "id": f"{note_id}/activity", "type": "Create", "actor": self.id,
                "published": published, "to": to, "cc": cc, "object": note}
