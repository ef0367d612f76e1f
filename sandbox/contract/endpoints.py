"""What a response body is checked against: (method, path template) → entity, and streaming events.

`:name` in a template matches one path segment. `Entity[]` is an array of Entity. Answers with a status of
400 or more from the API and OAuth endpoints are Error bodies. An endpoint missing here is one the suite
does not check (entity_for answers None).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

_ACCOUNT_ACTIONS = "follow|unfollow|block|unblock|mute|unmute|pin|unpin|endorse|unendorse|note|remove_from_followers"
_STATUS_ACTIONS = "favourite|unfavourite|reblog|unreblog|bookmark|unbookmark|pin|unpin|mute|unmute"

ENDPOINTS: dict[tuple[str, str], str | None] = {
    # accounts
    ("GET", "/api/v1/accounts/verify_credentials"): "CredentialAccount",
    ("PATCH", "/api/v1/accounts/update_credentials"): "CredentialAccount",
    ("POST", "/api/v1/accounts"): "Token",
    ("GET", "/api/v1/accounts"): "Account[]",
    ("GET", "/api/v1/accounts/lookup"): "Account",
    ("GET", "/api/v1/accounts/search"): "Account[]",
    ("GET", "/api/v1/accounts/relationships"): "Relationship[]",
    ("GET", "/api/v1/accounts/familiar_followers"): "FamiliarFollowers[]",
    ("GET", "/api/v1/accounts/:id"): "Account",
    ("GET", "/api/v1/accounts/:id/statuses"): "Status[]",
    ("GET", "/api/v1/accounts/:id/followers"): "Account[]",
    ("GET", "/api/v1/accounts/:id/following"): "Account[]",
    ("GET", "/api/v1/accounts/:id/featured_tags"): "FeaturedTag[]",
    ("GET", "/api/v1/accounts/:id/lists"): "List[]",
    ("GET", "/api/v1/accounts/:id/endorsements"): "Account[]",
    **{("POST", f"/api/v1/accounts/:id/{action}"): "Relationship" for action in _ACCOUNT_ACTIONS.split("|")},
    ("GET", "/api/v1/blocks"): "Account[]",
    ("GET", "/api/v1/mutes"): "Account[]",
    ("GET", "/api/v1/endorsements"): "Account[]",
    ("GET", "/api/v1/directory"): "Account[]",
    ("GET", "/api/v1/follow_requests"): "Account[]",
    ("POST", "/api/v1/follow_requests/:id/authorize"): "Relationship",
    ("POST", "/api/v1/follow_requests/:id/reject"): "Relationship",
    ("GET", "/api/v2/suggestions"): "Suggestion[]",
    ("GET", "/api/v1/preferences"): "Preferences",
    ("POST", "/api/v1/domain_blocks"): "Empty",
    ("DELETE", "/api/v1/domain_blocks"): "Empty",
    # statuses
    ("POST", "/api/v1/statuses"): "PostedStatus",
    ("GET", "/api/v1/statuses"): "Status[]",
    ("GET", "/api/v1/statuses/:id"): "Status",
    ("PUT", "/api/v1/statuses/:id"): "Status",
    ("DELETE", "/api/v1/statuses/:id"): "DeletedStatus",
    ("GET", "/api/v1/statuses/:id/context"): "Context",
    ("GET", "/api/v1/statuses/:id/history"): "StatusEdit[]",
    ("GET", "/api/v1/statuses/:id/source"): "StatusSource",
    ("GET", "/api/v1/statuses/:id/favourited_by"): "Account[]",
    ("GET", "/api/v1/statuses/:id/reblogged_by"): "Account[]",
    ("GET", "/api/v1/statuses/:id/quotes"): "Status[]",
    ("POST", "/api/v1/statuses/:id/quotes/:quote_id/revoke"): "Status",
    ("PUT", "/api/v1/statuses/:id/interaction_policy"): "Status",
    **{("POST", f"/api/v1/statuses/:id/{action}"): "Status" for action in _STATUS_ACTIONS.split("|")},
    ("GET", "/api/v1/polls/:id"): "Poll",
    ("POST", "/api/v1/polls/:id/votes"): "Poll",
    ("POST", "/api/v2/media"): "MediaAttachment",
    ("GET", "/api/v1/media/:id"): "MediaAttachment",
    ("PUT", "/api/v1/media/:id"): "MediaAttachment",
    ("GET", "/api/v1/scheduled_statuses"): "ScheduledStatus[]",
    ("GET", "/api/v1/scheduled_statuses/:id"): "ScheduledStatus",
    ("PUT", "/api/v1/scheduled_statuses/:id"): "ScheduledStatus",
    # timelines and collections of statuses
    ("GET", "/api/v1/timelines/home"): "Status[]",
    ("GET", "/api/v1/timelines/public"): "Status[]",
    ("GET", "/api/v1/timelines/tag/:hashtag"): "Status[]",
    ("GET", "/api/v1/timelines/list/:id"): "Status[]",
    ("GET", "/api/v1/timelines/link"): "Status[]",
    ("GET", "/api/v1/bookmarks"): "Status[]",
    ("GET", "/api/v1/favourites"): "Status[]",
    ("GET", "/api/v1/trends/statuses"): "Status[]",
    ("GET", "/api/v1/trends/tags"): "Tag[]",
    ("GET", "/api/v1/trends/links"): "PreviewCard[]",
    ("GET", "/api/v1/conversations"): "Conversation[]",
    ("POST", "/api/v1/conversations/:id/read"): "Conversation",
    ("GET", "/api/v1/notifications"): "Notification[]",
    ("GET", "/api/v1/notifications/:id"): "Notification",
    # literal paths that `:id` or `:group_key` would otherwise take (literal templates win, below)
    ("GET", "/api/v1/notifications/requests"): "NotificationRequest[]",
    ("GET", "/api/v1/notifications/requests/merged"): "NotificationsMerged",
    ("GET", "/api/v1/notifications/requests/:id"): "NotificationRequest",
    ("GET", "/api/v1/notifications/unread_count"): "UnreadCount",
    ("GET", "/api/v1/notifications/policy"): "NotificationPolicyV1",
    ("PUT", "/api/v1/notifications/policy"): "NotificationPolicyV1",
    ("PATCH", "/api/v1/notifications/policy"): "NotificationPolicyV1",
    # grouped notifications and the v2 policy (4.3.0+)
    ("GET", "/api/v2/notifications"): "GroupedNotificationsResults",
    ("GET", "/api/v2/notifications/unread_count"): "UnreadCount",
    ("GET", "/api/v2/notifications/policy"): "NotificationPolicy",
    ("PATCH", "/api/v2/notifications/policy"): "NotificationPolicy",
    ("PUT", "/api/v2/notifications/policy"): "NotificationPolicy",
    ("GET", "/api/v2/notifications/:group_key"): "GroupedNotificationsResults",
    ("POST", "/api/v1/notifications/requests/:id/accept"): "Empty",
    ("POST", "/api/v2/notifications/:group_key/dismiss"): "Empty",
    ("POST", "/api/v1/notifications/clear"): "Empty",
    ("POST", "/api/v1/notifications/:id/dismiss"): "Empty",
    ("GET", "/api/v2/search"): "Search",
    # lists, markers, filters, tags
    ("GET", "/api/v1/lists"): "List[]",
    ("POST", "/api/v1/lists"): "List",
    ("GET", "/api/v1/lists/:id"): "List",
    ("PUT", "/api/v1/lists/:id"): "List",
    ("DELETE", "/api/v1/lists/:id"): "Empty",
    ("GET", "/api/v1/lists/:id/accounts"): "Account[]",
    ("POST", "/api/v1/lists/:id/accounts"): "Empty",
    ("DELETE", "/api/v1/lists/:id/accounts"): "Empty",
    ("GET", "/api/v1/markers"): "Markers",
    ("POST", "/api/v1/markers"): "Markers",
    ("GET", "/api/v2/filters"): "Filter[]",
    ("POST", "/api/v2/filters"): "Filter",
    ("GET", "/api/v2/filters/:id"): "Filter",
    ("PUT", "/api/v2/filters/:id"): "Filter",
    ("DELETE", "/api/v2/filters/:id"): "Empty",
    ("GET", "/api/v2/filters/:id/keywords"): "FilterKeyword[]",
    ("POST", "/api/v2/filters/:id/keywords"): "FilterKeyword",
    ("GET", "/api/v2/filters/keywords/:id"): "FilterKeyword",
    ("PUT", "/api/v2/filters/keywords/:id"): "FilterKeyword",
    ("DELETE", "/api/v2/filters/keywords/:id"): "Empty",
    ("GET", "/api/v2/filters/:id/statuses"): "FilterStatus[]",
    ("POST", "/api/v2/filters/:id/statuses"): "FilterStatus",
    ("GET", "/api/v2/filters/statuses/:id"): "FilterStatus",
    # a documented spec error: the docs promise the removed FilterStatus, the server sends {}
    ("DELETE", "/api/v2/filters/statuses/:id"): "Empty",
    ("GET", "/api/v1/custom_emojis"): "CustomEmoji[]",
    ("GET", "/api/v1/followed_tags"): "Tag[]",
    ("GET", "/api/v1/tags/:name"): "Tag",
    **{("POST", f"/api/v1/tags/:name/{action}"): "Tag" for action in ("follow", "unfollow", "feature", "unfeature")},
    ("GET", "/api/v1/featured_tags"): "FeaturedTag[]",
    ("POST", "/api/v1/featured_tags"): "FeaturedTag",
    ("DELETE", "/api/v1/featured_tags/:id"): "Empty",
    ("GET", "/api/v1/featured_tags/suggestions"): "Tag[]",
    # instance
    ("GET", "/api/v2/instance"): "Instance",
    ("GET", "/api/v1/instance"): "InstanceV1",
    ("GET", "/api/v1/instance/rules"): "Rule[]",
    ("GET", "/api/v1/instance/peers"): "Peers",
    ("GET", "/api/v1/instance/activity"): "WeeklyActivity[]",
    ("GET", "/api/v1/instance/languages"): "Language[]",
    ("GET", "/api/v1/instance/domain_blocks"): "DomainBlock[]",
    ("GET", "/api/v1/instance/extended_description"): "ExtendedDescription",
    # announcements, reports, push subscription, v1 filters, e-mail confirmations
    ("GET", "/api/v1/announcements"): "Announcement[]",
    ("POST", "/api/v1/announcements/:id/dismiss"): "Empty",
    ("PUT", "/api/v1/announcements/:id/reactions/:name"): "Empty",
    ("DELETE", "/api/v1/announcements/:id/reactions/:name"): "Empty",
    ("POST", "/api/v1/reports"): "Report",
    ("POST", "/api/v1/push/subscription"): "WebPushSubscription",
    ("GET", "/api/v1/push/subscription"): "WebPushSubscription",
    ("PUT", "/api/v1/push/subscription"): "WebPushSubscription",
    ("DELETE", "/api/v1/push/subscription"): "Empty",
    ("GET", "/api/v1/filters"): "FilterV1[]",
    ("POST", "/api/v1/filters"): "FilterV1",
    ("GET", "/api/v1/filters/:id"): "FilterV1",
    ("PUT", "/api/v1/filters/:id"): "FilterV1",
    ("DELETE", "/api/v1/filters/:id"): "Empty",
    ("POST", "/api/v1/emails/confirmations"): "Empty",
    ("GET", "/api/v1/emails/check_confirmation"): "EmailConfirmed",
    ("GET", "/api/v1/instance/terms_of_service"): "TermsOfService",  # 4.4.0+
    ("GET", "/api/v1/instance/terms_of_service/:date"): "TermsOfService",
    ("GET", "/api/v1/instance/translation_languages"): "TranslationLanguages",
    ("GET", "/api/v1/instance/privacy_policy"): "PrivacyPolicy",
    # apps and OAuth
    ("POST", "/api/v1/apps"): "CredentialApplication",
    ("GET", "/api/v1/apps/verify_credentials"): "Application",
    ("POST", "/oauth/token"): "Token",
    ("POST", "/oauth/revoke"): "Empty",
    ("GET", "/oauth/userinfo"): "OAuthUserinfo",
    ("POST", "/oauth/userinfo"): "OAuthUserinfo",
    # discovery (config/routes.rb): not the API, so their error answers are no Error bodies
    ("GET", "/.well-known/webfinger"): "WebFinger",
    ("GET", "/.well-known/nodeinfo"): "NodeInfoDiscovery",
    ("GET", "/nodeinfo/2.0"): "NodeInfo",
    ("GET", "/.well-known/oauth-authorization-server"): "OAuthMetadata",
    # the rest of the user API (coverage). A 4.3 server is never asked for what it lacks (4.4.0: DELETE media,
    # annual report of a year, async refreshes; 4.6.0: profile, collections, annual report state and generate,
    # donation campaigns, e-mail subscriptions). NoBody: `head 200`, or a 204, with nothing in it.
    ("GET", "/api/v1/accounts/:id/identity_proofs"): "IdentityProofs",
    ("POST", "/api/v1/accounts/:id/email_subscriptions"): "Empty",
    ("GET", "/api/v1/domain_blocks"): "BlockedDomains",
    ("GET", "/api/v1/domain_blocks/preview"): "DomainBlockPreview",
    ("GET", "/api/v1/suggestions"): "Account[]",
    ("DELETE", "/api/v1/suggestions/:id"): "Empty",
    ("GET", "/api/v1/profile"): "Profile",
    ("PATCH", "/api/v1/profile"): "Profile",
    ("DELETE", "/api/v1/profile/avatar"): "CredentialAccount",
    ("DELETE", "/api/v1/profile/header"): "CredentialAccount",
    ("POST", "/api/v1/collections"): "WrappedCollection",
    ("GET", "/api/v1/collections/:id"): "CollectionWithAccounts",
    ("PATCH", "/api/v1/collections/:id"): "WrappedCollection",
    ("DELETE", "/api/v1/collections/:id"): "NoBody",
    ("POST", "/api/v1/collections/:id/items"): "WrappedCollectionItem",
    ("DELETE", "/api/v1/collections/:id/items/:item_id"): "NoBody",
    ("POST", "/api/v1/collections/:id/items/:item_id/revoke"): "NoBody",
    ("GET", "/api/v1/accounts/:id/collections"): "Collections",
    ("GET", "/api/v1/accounts/:id/in_collections"): "Collections",
    ("GET", "/api/v1/annual_reports"): "WrappedAnnualReports",
    ("GET", "/api/v1/annual_reports/:year"): "WrappedAnnualReports",
    ("GET", "/api/v1/annual_reports/:year/state"): "AnnualReportState",
    ("POST", "/api/v1/annual_reports/:year/read"): "Empty",
    ("POST", "/api/v1/annual_reports/:year/generate"): "Empty",  # outside the campaign; in it `head 202` (NoBody)
    ("GET", "/api/v1_alpha/async_refreshes/:id"): "WrappedAsyncRefresh",
    ("GET", "/api/v1/donation_campaigns"): "DonationCampaign",
    ("GET", "/api/v1/peers/search"): "Peers",
    ("GET", "/api/v1/trends"): "Tag[]",  # deprecated: /api/v1/trends/tags
    ("GET", "/api/oembed"): "OEmbed",
    ("POST", "/api/v1/media"): "MediaAttachment",
    ("DELETE", "/api/v1/media/:id"): "Empty",
    ("DELETE", "/api/v1/scheduled_statuses/:id"): "Empty",
    ("POST", "/api/v1/statuses/:id/translate"): "Translation",
    ("POST", "/api/v1/conversations/:id/unread"): "Conversation",
    ("DELETE", "/api/v1/conversations/:id"): "Empty",
    ("POST", "/api/v1/notifications/requests/:id/dismiss"): "Empty",
    ("POST", "/api/v1/notifications/requests/accept"): "Empty",
    ("POST", "/api/v1/notifications/requests/dismiss"): "Empty",
    ("GET", "/api/v2/notifications/:group_key/accounts"): "Account[]",
    ("POST", "/api/v2/notifications/clear"): "Empty",
    ("GET", "/.well-known/host-meta"): "HostMeta",  # asked for JSON; XRD XML otherwise
    ("GET", "/oauth/token/info"): "TokenInfo",
    ("POST", "/oauth/introspect"): "TokenIntrospection",
    # the admin API (admin:read / admin:write scopes); config/routes/api.rb `namespace :admin`, the same routes in
    # 4.3.23 and 4.6.5. The trends indexes send the Admin shapes to a role that may manage taxonomies only.
    ("GET", "/api/v1/admin/accounts"): "AdminAccount[]",
    ("GET", "/api/v2/admin/accounts"): "AdminAccount[]",
    ("GET", "/api/v1/admin/accounts/:id"): "AdminAccount",
    ("DELETE", "/api/v1/admin/accounts/:id"): "Empty",
    ("POST", "/api/v1/admin/accounts/:id/action"): "Empty",
    **{("POST", f"/api/v1/admin/accounts/:id/{action}"): "AdminAccount"
       for action in ("enable", "approve", "unsensitive", "unsilence", "unsuspend")},
    ("POST", "/api/v1/admin/accounts/:id/reject"): "Empty",
    ("GET", "/api/v1/admin/reports"): "AdminReport[]",
    ("GET", "/api/v1/admin/reports/:id"): "AdminReport",
    ("PUT", "/api/v1/admin/reports/:id"): "AdminReport",
    **{("POST", f"/api/v1/admin/reports/:id/{action}"): "AdminReport"
       for action in ("assign_to_self", "unassign", "reopen", "resolve")},
    ("GET", "/api/v1/admin/domain_blocks"): "AdminDomainBlock[]",
    ("POST", "/api/v1/admin/domain_blocks"): "AdminDomainBlock",
    ("GET", "/api/v1/admin/domain_blocks/:id"): "AdminDomainBlock",
    ("PUT", "/api/v1/admin/domain_blocks/:id"): "AdminDomainBlock",
    ("DELETE", "/api/v1/admin/domain_blocks/:id"): "Empty",
    ("GET", "/api/v1/admin/domain_allows"): "AdminDomainAllow[]",
    ("POST", "/api/v1/admin/domain_allows"): "AdminDomainAllow",
    ("GET", "/api/v1/admin/domain_allows/:id"): "AdminDomainAllow",
    ("DELETE", "/api/v1/admin/domain_allows/:id"): "Empty",
    ("GET", "/api/v1/admin/email_domain_blocks"): "AdminEmailDomainBlock[]",
    ("POST", "/api/v1/admin/email_domain_blocks"): "AdminEmailDomainBlock",
    ("GET", "/api/v1/admin/email_domain_blocks/:id"): "AdminEmailDomainBlock",
    ("DELETE", "/api/v1/admin/email_domain_blocks/:id"): "Empty",
    ("GET", "/api/v1/admin/ip_blocks"): "AdminIpBlock[]",
    ("POST", "/api/v1/admin/ip_blocks"): "AdminIpBlock",
    ("GET", "/api/v1/admin/ip_blocks/:id"): "AdminIpBlock",
    ("PUT", "/api/v1/admin/ip_blocks/:id"): "AdminIpBlock",
    ("DELETE", "/api/v1/admin/ip_blocks/:id"): "Empty",
    ("GET", "/api/v1/admin/canonical_email_blocks"): "AdminCanonicalEmailBlock[]",
    ("POST", "/api/v1/admin/canonical_email_blocks"): "AdminCanonicalEmailBlock",
    ("GET", "/api/v1/admin/canonical_email_blocks/:id"): "AdminCanonicalEmailBlock",
    ("DELETE", "/api/v1/admin/canonical_email_blocks/:id"): "Empty",
    ("POST", "/api/v1/admin/canonical_email_blocks/test"): "AdminCanonicalEmailBlock[]",
    ("GET", "/api/v1/admin/trends/links"): "AdminTrendsLink[]",
    ("GET", "/api/v1/admin/trends/statuses"): "AdminTrendsStatus[]",
    ("GET", "/api/v1/admin/trends/tags"): "AdminTag[]",
    ("GET", "/api/v1/admin/trends/links/publishers"): "AdminPreviewCardProvider[]",
    **{("POST", f"/api/v1/admin/trends/{kind}/:id/{action}"): entity
       for kind, entity in (("links", "AdminTrendsLink"), ("statuses", "AdminTrendsStatus"), ("tags", "AdminTag"),
                            ("links/publishers", "AdminPreviewCardProvider"))
       for action in ("approve", "reject")},
    ("GET", "/api/v1/admin/tags"): "AdminTag[]",
    ("GET", "/api/v1/admin/tags/:id"): "AdminTag",
    ("PUT", "/api/v1/admin/tags/:id"): "AdminTag",
    ("POST", "/api/v1/admin/measures"): "AdminMeasure[]",
    ("POST", "/api/v1/admin/dimensions"): "AdminDimension[]",
    ("POST", "/api/v1/admin/retention"): "AdminCohort[]",
}

# Streaming event → what its payload is (streaming/index.js; docs methods/streaming.md). `delete` and
# `announcement.delete` carry a bare id string; the others a JSON entity (a string to parse again on
# WebSocket frames). The announcement events go to every user stream: `announcement` is the Announcement
# rendered without a user (app/workers/publish_scheduled_announcement_worker.rb), `announcement.reaction` a
# Reaction's name and count with the announcement's id (publish_announcement_reaction_worker.rb).
STREAM_EVENTS: dict[str, str | None] = {
    "update": "Status",
    "status.update": "Status",
    "notification": "Notification",
    "conversation": "Conversation",
    "delete": None,
    "announcement": "Announcement",
    "announcement.reaction": "AnnouncementReaction",
    "announcement.delete": None,
    "filters_changed": None,
    "notifications_merged": None,
}
ID_PAYLOAD_EVENTS = frozenset({"delete", "announcement.delete"})


def decode_payload(event: str, payload):
    """A streaming event's payload as a client reads it: the entity decoded from the JSON text the WebSocket
    frame carries it as, the bare id of a delete event as it is (streaming/index.js)."""
    if event in ID_PAYLOAD_EVENTS or not isinstance(payload, str):
        return payload
    return json.loads(payload)

_ERROR_PREFIXES = ("/api/", "/oauth/token", "/oauth/revoke", "/oauth/userinfo", "/oauth/introspect")
NO_BODY = "NoBody"  # an answer with nothing in it: `head 200` or 204 (schemas/NoBody.json)


def _compile(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r":\w+", "[^/]+", re.escape(template).replace(r"\:", ":")) + "/?")


# Literal paths first, so `/api/v1/accounts/lookup` wins over `/api/v1/accounts/:id`.
_ROUTES = sorted(
    ((method, _compile(template), entity, template) for (method, template), entity in ENDPOINTS.items()),
    key=lambda route: route[3].count(":"),
)


def entity_for(method: str, url_path: str, status: int) -> str | None:
    """The entity a response body must match, `Entity[]` for an array; None when the suite does not know it.

    `url_path` may be a full URL or carry a query string; a trailing `/` is ignored.
    """
    path = urlsplit(url_path).path.rstrip("/") or "/"
    if status >= 400:
        return "Error" if path.startswith(_ERROR_PREFIXES) else None
    if not 200 <= status < 300:
        return None
    method = method.upper()
    entity = next((entity for route_method, pattern, entity, _ in _ROUTES
                   if route_method == method and pattern.fullmatch(path)), None)
    return NO_BODY if entity and status == 204 else entity  # 204 No Content has no body, whatever the route


def entity_for_event(event: str) -> str | None:
    """The entity of a streaming event's payload; None for events whose payload is not an entity."""
    return STREAM_EVENTS.get(event)
