"""Doorkeeper rules as Mastodon configures them: scopes, PKCE, redirect URIs."""
import base64
import hashlib

from standin import oauth


def test_pkce_s256_matches_rfc7636_example():
    # RFC 7636 appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert oauth.pkce_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert oauth.pkce_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", verifier)
    assert not oauth.pkce_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", "x" * 43)
    assert not oauth.pkce_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", None)


def test_a_verifier_must_match_the_grant_either_way():
    # Doorkeeper 5.9.2 lib/doorkeeper/oauth/authorization_code_request.rb#validate_code_verifier:
    # `return grant.code_challenge.blank? if code_verifier.blank?`, then the method must be S256 or plain.
    assert oauth.pkce_ok(None, None, None)
    assert not oauth.pkce_ok(None, None, "a" * 43)  # a verifier for a grant made without a challenge
    assert not oauth.pkce_ok("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", "")


def test_s256_only_on_every_version():
    # v4.6.5 config/initializers/doorkeeper.rb: pkce_code_challenge_methods ['S256']; v4.3.23 refuses
    # plain in app/lib/oauth_pre_authorization_extension.rb (seen live: 400 on real 4.3.23)
    assert oauth.CHALLENGE_METHODS == ["S256"]
    assert not oauth.pkce_ok("x" * 43, "plain", "x" * 43)


def test_scopes_must_be_listed_literally_on_the_app():
    assert oauth.scopes_allowed(["read"], ["read", "write"])
    assert not oauth.scopes_allowed(["read:statuses"], ["read"])      # granular scope not on the app
    assert not oauth.scopes_allowed(["read", "admin:read"], ["read", "write", "follow", "push"])
    assert not oauth.scopes_allowed(["bogus:scope"], ["bogus:scope"])  # unknown to the server
    assert not oauth.scopes_allowed([], ["read"])


def test_server_scopes_include_4_6_additions():
    assert {"profile", "read:collections", "write:collections", "admin:write:canonical_email_blocks"} <= set(
        oauth.ALL_SCOPES)
    assert "read:me" not in oauth.ALL_SCOPES
    assert len(oauth.ALL_SCOPES) == len(set(oauth.ALL_SCOPES)) == 47


def test_same_scopes_ignores_order():
    assert oauth.same_scopes("read write", "write read")
    assert not oauth.same_scopes("read", "read write")


def test_redirect_uris_match_as_doorkeeper_matches_them():
    # Doorkeeper 5.9.2 lib/doorkeeper/oauth/helpers/uri_checker.rb: matches? and valid_for_authorization?
    app_uri = "urn:ietf:wg:oauth:2.0:oob\nhttp://127.0.0.1:8765/cb"
    assert oauth.redirect_uri_allowed("http://127.0.0.1:8765/cb", app_uri)
    assert oauth.redirect_uri_allowed(oauth.OOB, app_uri)
    assert not oauth.redirect_uri_allowed("http://127.0.0.1:8765/other", app_uri)
    # RFC 8252 section 7.3: a loopback address matches on any port; the request's own query is ignored
    assert oauth.redirect_uri_allowed("http://127.0.0.1:50123/cb", app_uri)
    assert oauth.redirect_uri_allowed("http://127.0.0.1:8765/cb?state=x", app_uri)
    assert oauth.redirect_uri_allowed("HTTP://127.0.0.1:8765/cb", app_uri)  # URI#== normalises the scheme
    assert not oauth.redirect_uri_allowed("http://localhost:8765/cb", app_uri)  # a name is not an address
    assert not oauth.redirect_uri_allowed("https://app.test:444/cb", "https://app.test/cb")  # ports count elsewhere
    # a query on the registered URI must be matched, in any order
    assert oauth.redirect_uri_allowed("https://app.test/cb?b=2&a=1", "https://app.test/cb?a=1&b=2")
    assert not oauth.redirect_uri_allowed("https://app.test/cb?a=1", "https://app.test/cb?a=1&b=2")


def test_redirect_uri_validation_words_errors_as_doorkeeper():
    # Doorkeeper::RedirectUriValidator with Mastodon's forbid_redirect_uri (config/initializers/doorkeeper.rb)
    assert oauth.redirect_uri_errors("javascript:alert(1)") == ["is forbidden by the server.", "must specify a scheme."]
    assert oauth.redirect_uri_errors("relative/path") == ["must be an absolute URI."]
    assert oauth.redirect_uri_errors("com.example.app:/callback") == []
    assert oauth.redirect_uri_errors("mailto:someone") == ["must specify a scheme."]  # opaque
    assert oauth.redirect_uri_errors("https://app.test/cb#frag") == ["cannot contain a fragment."]
    assert oauth.redirect_uri_errors("http:///cb") == ["must be a valid URI."]
    assert oauth.redirect_uri_errors("https://app.test/a https://app.test/<b>") == ["must be a valid URI."]


def test_secrets_look_like_doorkeeper_tokens():
    s = oauth.new_secret()
    assert len(s) == 43 and "=" not in s
    base64.urlsafe_b64decode(s + "=")
    assert hashlib  # keep import used
