"""Unit tests (no Docker) of the streaming server's request rules, after Mastodon's streaming/index.js."""
import pytest
from standin import streaming as s


def test_token_sources_in_upstream_order():
    q = {"access_token": ["from-query"]}
    assert s.token_from({"Authorization": "Bearer from-header"}, q) == "from-header"
    assert s.token_from({"Sec-WebSocket-Protocol": "from-protocol"}, q) == "from-query"
    assert s.token_from({"Sec-WebSocket-Protocol": "from-protocol"}, {}) == "from-protocol"
    # Only a literal "Bearer " prefix is stripped; anything else is taken whole (and then fails the lookup).
    assert s.token_from({"Authorization": "Basic abc"}, {}) == "Basic abc"
    assert s.token_from({"Authorization": ""}, {"access_token": ["q"]}) == "q"


@pytest.mark.parametrize("headers,query", [({}, {}), ({"Authorization": ""}, {"access_token": [""]})])
def test_missing_token_is_a_401(headers, query):
    with pytest.raises(s.StreamingError) as e:
        s.token_from(headers, query)
    assert (e.value.status, e.value.message) == (401, "Missing access token")


@pytest.mark.parametrize("path,query,channel", [
    ("/api/v1/streaming/user", {}, "user"),
    ("/api/v1/streaming/user/notification", {}, "user:notification"),
    ("/api/v1/streaming/public", {"only_media": ["true"]}, "public:media"),
    ("/api/v1/streaming/public", {"only_media": ["false"]}, "public"),
    ("/api/v1/streaming/public/local", {}, "public:local"),
    ("/api/v1/streaming/hashtag/local", {}, "hashtag:local"),
    ("/api/v1/streaming/list", {}, "list"),
    ("/api/v1/streaming", {}, None),
    ("/api/v1/streaming/user/", {}, None),
    ("/api/v1/streaming/nope", {}, None),
])
def test_channel_names(path, query, channel):
    assert s.channel_name(path, query) == channel


def test_scopes():
    s.check_scopes("public", [])  # public channels need no scope
    s.check_scopes("user", ["read:statuses"])
    s.check_scopes("user:notification", ["read:notifications"])
    for channel, scopes in (("user", ["write"]), ("user:notification", ["read:statuses"]), ("direct", ["push"])):
        with pytest.raises(s.StreamingError) as e:
            s.check_scopes(channel, scopes)
        assert (e.value.status, e.value.message) == (401, "Access token does not have the required scopes")


def test_missing_parameters():
    with pytest.raises(s.StreamingError) as e:
        s.check_params("hashtag", {})
    assert (e.value.status, e.value.message) == (400, "Missing tag name parameter")
    s.check_params("hashtag", {"tag": ["x"]})


def test_upgrade_detection():
    assert s.is_upgrade({"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"})
    assert not s.is_upgrade({"Connection": "keep-alive"})
    assert not s.is_upgrade({"Connection": "upgrade"})
