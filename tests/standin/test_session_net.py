"""Session cookies, CSRF tokens and the client address behind the proxy."""
from standin import netutil, session


def test_cookie_roundtrip_and_tamper():
    v = session.dump({"user_id": 1}, "k" * 128)
    assert session.load(v, "k" * 128) == {"user_id": 1}
    assert session.load(v, "other" * 20) is None
    payload, mac = v.rsplit("--", 1)
    assert session.load(payload + "x--" + mac, "k" * 128) is None


def test_masked_tokens_differ_but_verify():
    secret = session.new_csrf_secret()
    a, b = session.masked_token(secret), session.masked_token(secret)
    assert a != b and len(a) == 86  # 64 bytes, urlsafe base64 without padding (as in Rails)
    assert session.valid_token(a, secret) and session.valid_token(b, secret)
    assert session.valid_token(secret, secret)  # the unmasked global token is accepted too
    assert not session.valid_token(a, session.new_csrf_secret())
    assert not session.valid_token("garbage", secret)
    assert not session.valid_token(None, secret)


def test_remote_ip_like_rails():
    # proxy on a private address forwards the client: the rightmost untrusted address wins
    assert netutil.remote_ip("172.18.0.5", "203.0.113.7") == "203.0.113.7"
    assert netutil.remote_ip("172.18.0.5", "198.51.100.1, 203.0.113.7") == "203.0.113.7"
    # all trusted: the leftmost forwarded address
    assert netutil.remote_ip("172.18.0.5", "127.0.0.1, 10.0.0.2") == "127.0.0.1"
    assert netutil.remote_ip("172.18.0.5", None) == "172.18.0.5"
    # TRUSTED_PROXY_IP replaces the defaults
    assert netutil.remote_ip("172.18.0.5", "10.0.0.9", trusted=("172.18.0.0/16",)) == "10.0.0.9"


def test_ipv6_throttle_key_is_a_64():
    assert netutil.throttle_key_ip("2001:db8::1") == netutil.throttle_key_ip("2001:db8::ffff")
    assert netutil.throttle_key_ip("203.0.113.7") == "203.0.113.7"
