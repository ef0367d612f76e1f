"""HTML pages with the same forms, field names and classes as Mastodon's haml views (stdlib only)."""
from __future__ import annotations

import html
import os
from string import Template

_DIR = os.path.join(os.path.dirname(__file__), "html")
_cache: dict[str, Template] = {}


def _t(name: str) -> Template:
    if name not in _cache:
        with open(os.path.join(_DIR, name + ".html"), encoding="utf-8") as f:
            _cache[name] = Template(f.read())
    return _cache[name]


def esc(s: object) -> str:
    return html.escape("" if s is None else str(s), quote=True)


def layout(title: str, body: str, csrf_meta: str = "", body_class: str = "") -> str:
    return _t("layout").substitute(title=esc(title), body=body, csrf_meta=esc(csrf_meta), body_class=body_class)


def sign_in(domain: str, token: str, email: str = "", alert: str | None = None) -> str:
    """app/views/auth/sessions/new.html.haml (simple_form_for resource, as: :user)."""
    flash = (f'<div class="flash-message alert">\n<strong>{esc(alert)}</strong>\n</div>\n' if alert else "")
    body = _t("sign_in").substitute(token=esc(token), domain=esc(domain), email=esc(email), flash=flash)
    return layout("Log in\n - Mastodon", body, token)


def _account_header(acct: str) -> str:
    return _t("account_header").substitute(acct=esc(acct))


# Permission groups shown on the approval page (app/helpers/..., simplified to titles).
_SCOPE_TITLES = {
    "read": "Full access to your Mastodon account", "write": "Full access to your Mastodon account",
    "profile": "Your account information only", "follow": "Follows, Mutes and Blocks",
    "push": "Push notifications",
}


def _permissions(scopes: list[str]) -> str:
    seen, items = set(), []
    for s in scopes:
        title = _SCOPE_TITLES.get(s.split(":")[0] if ":" in s and not s.startswith("admin") else s,
                                  s.replace(":", " ").capitalize())
        if title in seen:
            continue
        seen.add(title)
        kind = "Read-only access" if s.startswith("read") else "Read and write access"
        items.append('<li class="permissions-list__item">\n<div class="permissions-list__item__text">\n'
                     f'<div class="permissions-list__item__text__title">\n{esc(title)}\n</div>\n'
                     f'<div class="permissions-list__item__text__type">\n{kind}\n</div>\n</div>\n</li>')
    return "\n".join(items)


AUTHORIZE_FIELDS = ("client_id", "redirect_uri", "code_challenge", "code_challenge_method", "state",
                    "response_type", "scope")


def authorize(acct: str, app_name: str, params: dict, scopes: list[str], token_allow: str,
              token_deny: str) -> str:
    """app/views/oauth/authorizations/new.html.haml: an Authorize form and a Deny form (_method=delete) with the
    same hidden fields."""
    hidden = "".join(f'<input value="{esc(params.get(k, ""))}" type="hidden" name="{k}" id="{k}" />\n'
                     for k in AUTHORIZE_FIELDS).rstrip("\n")
    body = _account_header(acct) + _t("authorize").substitute(
        app_name=esc(app_name), permissions=_permissions(scopes), hidden=hidden,
        token_allow=esc(token_allow), token_deny=esc(token_deny))
    return layout("Authorization required\n - Mastodon", body, token_allow,
                  "modal-layout with-zig-zag-decoration compose-standalone")


def native(acct: str, code: str, csrf: str) -> str:
    """app/views/oauth/authorizations/show.html.haml: copyable_input value: params[:code], class: 'oauth-code'."""
    body = _account_header(acct) + _t("native").substitute(code=esc(code))
    return layout("Mastodon", body, csrf, "modal-layout with-zig-zag-decoration compose-standalone")


def oauth_error(acct: str | None, message: str, csrf: str) -> str:
    """app/views/oauth/authorizations/error.html.haml."""
    body = (_account_header(acct) if acct else "") + _t("oauth_error").substitute(message=esc(message))
    return layout("Mastodon", body, csrf, "modal-layout with-zig-zag-decoration compose-standalone")


# config/locales/en.yml errors.* (titles of app/views/errors/*.html.haml)
ERROR_TITLES = {
    400: "The request you submitted was invalid or malformed.",
    403: "You don't have permission to view this page.",
    404: "The page you are looking for isn't here.",
    406: "This page is not available in the requested format.",
    410: "The page you were looking for doesn't exist here anymore.",
    422: "Security verification failed. Are you blocking cookies?",
    429: "Too many requests",
    500: "We're sorry, but something went wrong on our end.",
    503: "The page could not be served due to a temporary server failure.",
}


# content_for :page_title where it is not the message itself (errors/422.html.haml).
ERROR_PAGE_TITLES = {422: "Security verification failed"}


def error_page(code: int) -> str:
    """layout 'error' + errors/<code>; the layout titles it "<page title> - <site_title>" (default "Mastodon")."""
    message = ERROR_TITLES.get(code, str(code))
    return layout(f"{ERROR_PAGE_TITLES.get(code, message)} - Mastodon",
                  _t("error").substitute(message=esc(message)), "", "error")


def home(disclaimer: str) -> str:
    return layout("Mastodon", _t("home").substitute(disclaimer=esc(disclaimer)))
