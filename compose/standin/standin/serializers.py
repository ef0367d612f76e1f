"""JSON entities shaped like Mastodon's serializers (app/serializers/rest/*), checked against real v4.6.5 output
and, in the 4.3 mode, against real v4.3.23 (the differential check); each 4.3 difference cites its file."""
from __future__ import annotations

from datetime import datetime

from . import assets
from .config import DISCLAIMER, Config
from .db import EVERYONE_PERMISSIONS, FLAGS, all_permissions


def iso_ms(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def role_json(role: dict | None, release: tuple[int, ...], everyone_perms: int = EVERYONE_PERMISSIONS) -> dict:
    """REST::RoleSerializer with UserRole#computed_permissions; no role -> the everyone role (-99).
    4.3.23's serializer has no collection_limit (app/serializers/rest/role_serializer.rb)."""
    if role is None or role["id"] == -99:
        out = {"id": "-99", "name": "", "permissions": str(everyone_perms), "color": "", "highlighted": False,
               "collection_limit": 10}
    else:
        perms = everyone_perms | role["permissions"]
        if perms & FLAGS["administrator"]:
            perms = all_permissions(release)
        out = {"id": str(role["id"]), "name": role["name"], "permissions": str(perms), "color": role["color"],
               "highlighted": role["highlighted"], "collection_limit": role.get("collection_limit") or 10}
    if release[:2] < (4, 4):
        del out["collection_limit"]
    return out


# Attributes 4.4+ added to REST::AccountSerializer (4.3.23: app/serializers/rest/account_serializer.rb has
# none of them) and to the source of REST::CredentialAccountSerializer.
ACCOUNT_KEYS_SINCE_4_4 = ("avatar_description", "header_description", "show_media", "show_media_replies",
                          "show_featured", "feature_approval")
SOURCE_KEYS_SINCE_4_4 = ("attribution_domains", "quote_policy")


def account_json(cfg: Config, a: dict, role: dict | None = None) -> dict:
    """REST::AccountSerializer for a local account without statuses, media or fields."""
    base = cfg.base_url
    missing_avatar = f"{base}{assets.MISSING_AVATAR}"
    missing_header = f"{base}{assets.MISSING_HEADER}"
    roles = []
    if role is not None and role["id"] != -99 and role["highlighted"]:
        roles.append({"id": str(role["id"]), "name": role["name"], "color": role["color"]})
    out = {
        "id": str(a["id"]), "username": a["username"], "acct": a["username"],
        "display_name": a["display_name"], "locked": a["locked"], "bot": a["actor_type"] in ("Application", "Service"),
        "discoverable": a["discoverable"], "indexable": a["indexable"], "group": a["actor_type"] == "Group",
        # created_at is shown at midnight (REST::AccountSerializer#created_at)
        "created_at": iso_ms(a["created_at"].replace(hour=0, minute=0, second=0, microsecond=0)),
        "note": a["note"], "url": f"{base}/@{a['username']}", "uri": f"{base}/ap/users/{a['id']}",
        "avatar": missing_avatar, "avatar_static": missing_avatar, "avatar_description": "",
        "header": missing_header, "header_static": missing_header, "header_description": "",
        "followers_count": 0, "following_count": 0, "statuses_count": 0, "last_status_at": None,
        "hide_collections": a["hide_collections"], "show_media": True, "show_media_replies": True,
        "show_featured": True, "noindex": False,
        "feature_approval": {"automatic": [], "manual": [], "current_user": "denied"},
        "emojis": [], "roles": roles, "fields": [],
    } | ({"suspended": True} if a.get("suspended_at") else {})  # attribute :suspended, if: :suspended?
    if cfg.is_43:
        for k in ACCOUNT_KEYS_SINCE_4_4:
            del out[k]
    return out


def credential_account_json(cfg: Config, a: dict, role: dict | None) -> dict:
    """REST::CredentialAccountSerializer: adds source and role (keys ordered as Mastodon renders them)."""
    d = account_json(cfg, a, role)
    out: dict = {}
    for k, v in d.items():
        if k == "emojis":
            out["source"] = {"privacy": "public", "sensitive": False, "language": None, "note": a["note"],
                             "fields": [], "follow_requests_count": 0, "hide_collections": a["hide_collections"],
                             "discoverable": a["discoverable"], "indexable": a["indexable"],
                             "attribution_domains": [], "quote_policy": "public"}
            if cfg.is_43:
                for key in SOURCE_KEYS_SINCE_4_4:
                    del out["source"][key]
        out[k] = v
    out["role"] = role_json(role, cfg.release)
    return out


def app_json(cfg: Config, app: dict, credentials: bool) -> dict:
    """REST::ApplicationSerializer / REST::CredentialApplicationSerializer."""
    import os
    uris = app["redirect_uri"].split()  # Doorkeeper's redirect URIs are whitespace-separated
    d = {"id": str(app["id"]), "name": app["name"], "website": app["website"] or None,
         "scopes": app["scopes"].split(), "redirect_uris": uris,
         "vapid_key": os.environ.get("VAPID_PUBLIC_KEY") or None, "redirect_uri": app["redirect_uri"]}
    if credentials:
        d.update({"client_id": app["uid"], "client_secret": app["secret"], "client_secret_expires_at": 0})
    return d


MIME_TYPES = ["image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp", "image/avif",
              "video/webm", "video/mp4", "video/quicktime", "video/ogg", "audio/wave", "audio/wav", "audio/x-wav",
              "audio/x-pn-wave", "audio/vnd.wave", "audio/ogg", "audio/vorbis", "audio/mpeg", "audio/mp3",
              "audio/webm", "audio/flac", "audio/aac", "audio/m4a", "audio/x-m4a", "audio/mp4", "audio/3gpp",
              "video/x-ms-asf"]
POLLS = {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2629746}
STATUSES = {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23}
THUMB_DESC = ("Two smiling cartoon mastodons (who look like elephants) toss a paper plane between them. They're "
              "surrounded by a bright blue sky and floating planets with trees and more mastodons on them.")


def _icons(base: str) -> list[dict]:
    return [{"src": f"{base}/packs/icons/android-chrome-{n}x{n}.png", "size": f"{n}x{n}"}
            for n in assets.ICON_SIZES]


def instance_v2(cfg: Config, mode: str, active_month: int, reason_required: bool = False) -> dict:
    """REST::InstanceSerializer (GET /api/v2/instance)."""
    import os
    base = cfg.base_url
    out = {
        "domain": cfg.local_domain, "title": "Mastodon", "version": cfg.version,
        "source_url": "https://github.com/mastodon/mastodon", "description": DISCLAIMER,
        "usage": {"users": {"active_month": active_month}},
        "thumbnail": {"url": f"{base}{assets.PREVIEW}", "description": THUMB_DESC},
        "icon": _icons(base), "languages": ["en"],
        "configuration": {
            "urls": {"streaming": cfg.streaming_url, "status": None, "about": f"{base}/about",
                     "privacy_policy": f"{base}/privacy-policy", "terms_of_service": None},
            "vapid": {"public_key": os.environ.get("VAPID_PUBLIC_KEY") or None},
            "accounts": {"max_display_name_length": 40, "max_note_length": 500,
                         "max_avatar_description_length": 150, "max_header_description_length": 150,
                         "max_featured_tags": 10, "max_pinned_statuses": 5, "max_profile_fields": 4,
                         "profile_field_name_limit": 255, "profile_field_value_limit": 255},
            "statuses": dict(STATUSES),
            "media_attachments": {"description_limit": 10000, "image_matrix_limit": 33177600,
                                  "image_size_limit": 16777216, "supported_mime_types": MIME_TYPES,
                                  "video_frame_rate_limit": 120, "video_matrix_limit": 8294400,
                                  "video_size_limit": 103809024},
            "polls": dict(POLLS), "translation": {"enabled": False},
            "timelines_access": {k: {"local": "public", "remote": "public"}
                                 for k in ("live_feeds", "hashtag_feeds", "trending_link_feeds")},
            "limited_federation": False,
        },
        "registrations": {"enabled": mode != "none", "approval_required": mode == "approved",
                          "reason_required": reason_required, "message": None, "min_age": None, "url": None},
        "api_versions": {"mastodon": 11}, "wrapstodon": None,
        "contact": {"email": "", "account": None}, "rules": [],
    }
    if cfg.is_43:
        _as_43(out)
    return out


def _as_43(out: dict) -> None:
    """REST::InstanceSerializer as 4.3.23 renders it (app/serializers/rest/instance_serializer.rb there):
    no wrapstodon, a thumbnail without description, fewer configuration keys, registrations without
    reason_required and min_age, api_versions from lib/mastodon/version.rb (mastodon: 2)."""
    del out["wrapstodon"]
    del out["thumbnail"]["description"]
    conf = out["configuration"]
    for key in ("about", "privacy_policy", "terms_of_service"):
        del conf["urls"][key]
    conf["accounts"] = {"max_featured_tags": 10, "max_pinned_statuses": 5}
    media = conf["media_attachments"]
    conf["media_attachments"] = {k: media[k] for k in ("supported_mime_types", "image_size_limit", "image_matrix_limit",
                                                       "video_size_limit", "video_frame_rate_limit", "video_matrix_limit")}
    del conf["timelines_access"], conf["limited_federation"]
    for key in ("reason_required", "min_age"):
        del out["registrations"][key]
    out["api_versions"] = {"mastodon": 2}


def instance_v1(cfg: Config, mode: str, user_count: int) -> dict:
    """REST::V1::InstanceSerializer (GET /api/v1/instance, deprecated)."""
    base = cfg.base_url
    return {
        "uri": cfg.local_domain, "title": "Mastodon", "short_description": DISCLAIMER, "description": DISCLAIMER,
        "email": "", "version": cfg.version, "urls": {"streaming_api": cfg.streaming_url},
        "stats": {"user_count": user_count, "status_count": 0, "domain_count": 0},
        "thumbnail": f"{base}{assets.PREVIEW}", "languages": ["en"],
        "registrations": mode != "none", "approval_required": mode == "approved", "invites_enabled": True,
        "configuration": {
            "accounts": {"max_featured_tags": 10}, "statuses": dict(STATUSES),
            "media_attachments": {"supported_mime_types": MIME_TYPES, "image_size_limit": 16777216,
                                  "image_matrix_limit": 33177600, "video_size_limit": 103809024,
                                  "video_frame_rate_limit": 120, "video_matrix_limit": 8294400},
            "polls": dict(POLLS),
        },
        "contact_account": None, "rules": [],
    }
