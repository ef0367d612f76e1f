"""PKCE (RFC 7636, S256) generation."""

from __future__ import annotations

import base64
import hashlib
import re

from mastodon_sandbox.provision.oauth import make_pkce, pkce_challenge


def test_rfc7636_appendix_b_vector():
    # RFC 7636 Appendix B: the published verifier and its S256 challenge.
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pairs_are_fresh_well_formed_and_consistent():
    pairs = {make_pkce() for _ in range(50)}
    assert len(pairs) == 50
    for verifier, challenge in pairs:
        # 43..128 unreserved characters (RFC 7636 section 4.1); no padding.
        assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        assert challenge == expected and "=" not in challenge
