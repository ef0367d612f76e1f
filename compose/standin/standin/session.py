"""Signed session cookies (keyed by SECRET_KEY_BASE) and Rails-style masked CSRF tokens (stdlib only)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

SESSION_COOKIE = "_mastodon_session"   # config/initializers/session_store.rb
SESSION_ID_COOKIE = "_session_id"      # signed cookie set on sign-in (config/initializers/devise.rb, warden hook)
TOKEN_LENGTH = 32                      # ActionController::RequestForgeryProtection::AUTHENTICITY_TOKEN_LENGTH


def _key(secret_key_base: str, purpose: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret_key_base.encode(), purpose.encode(), 1000)


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def dump(data: dict, secret_key_base: str, purpose: str = "cookie") -> str:
    payload = _b64(json.dumps(data, separators=(",", ":")).encode())
    mac = hmac.new(_key(secret_key_base, purpose), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}--{mac}"


def load(value: str | None, secret_key_base: str, purpose: str = "cookie") -> dict | None:
    if not value or "--" not in value:
        return None
    payload, mac = value.rsplit("--", 1)
    good = hmac.new(_key(secret_key_base, purpose), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, good):
        return None
    try:
        data = json.loads(_unb64(payload))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def new_csrf_secret() -> str:
    return _b64(secrets.token_bytes(TOKEN_LENGTH))


def masked_token(csrf_secret: str) -> str:
    """RequestForgeryProtection#mask_token: one-time pad + (pad XOR real token), urlsafe base64 (86 chars)."""
    raw = _unb64(csrf_secret)
    pad = secrets.token_bytes(TOKEN_LENGTH)
    return _b64(pad + bytes(a ^ b for a, b in zip(pad, raw)))


def valid_token(given: str | None, csrf_secret: str | None) -> bool:
    """RequestForgeryProtection#valid_authenticity_token?: masked (64 bytes) or raw (32 bytes) token."""
    if not given or not csrf_secret:
        return False
    try:
        raw = _unb64(given)
        real = _unb64(csrf_secret)
    except (ValueError, TypeError):
        return False
    if len(raw) == TOKEN_LENGTH * 2:
        pad, enc = raw[:TOKEN_LENGTH], raw[TOKEN_LENGTH:]
        raw = bytes(a ^ b for a, b in zip(pad, enc))
    elif len(raw) != TOKEN_LENGTH:
        return False
    return hmac.compare_digest(raw, real)
