"""Server version strings (sandbox/contract/versions.py): what Mastodon and its forks report, what other
servers that claim the API report, and the version in real instance bodies."""

from __future__ import annotations

import pytest

from mastodon_sandbox.contract.versions import (
    NotMastodonCompatible,
    ServerVersion,
    is_mastodon,
    parse_version,
    version_from_instance,
)
from tests.corpus import exchange


@pytest.mark.parametrize("raw, parts, prerelease, build", [
    ("4.6.5", (4, 6, 5), (), ""),
    ("4.6.5+standin", (4, 6, 5), (), "standin"),
    ("4.5.2+glitch", (4, 5, 2), (), "glitch"),
    ("4.7.0-alpha.2+pr-12345", (4, 7, 0), ("alpha", "2"), "pr-12345"),
    ("4.7.0-alpha.2+pr-39999-68e5caf", (4, 7, 0), ("alpha", "2"), "pr-39999-68e5caf"),
    ("4.6.0-nightly.2026-04-09", (4, 6, 0), ("nightly", "2026-04-09"), ""),
    ("4.3.23", (4, 3, 23), (), ""),
    (" 4.3.23\n", (4, 3, 23), (), ""),
])
def test_mastodon_versions_parse(raw, parts, prerelease, build):
    v = parse_version(raw)
    assert (v.major, v.minor, v.patch) == parts
    assert v.prerelease == prerelease and v.build == build
    assert is_mastodon(raw)
    assert parse_version(str(v)) == v


@pytest.mark.parametrize("lower, higher", [
    ("4.3.23", "4.4.0"),
    ("4.6.4", "4.6.5"),
    ("4.6.0-nightly.2026-04-09", "4.6.0"),  # a pre-release comes before its release
    ("4.5.9", "4.6.0-nightly.2026-04-09"),
    ("4.7.0-alpha.2", "4.7.0-alpha.10"),  # numeric identifiers compare as numbers
    ("4.7.0-alpha.10", "4.7.0-beta.1"),
    ("4.9.0", "4.10.0"),
])
def test_versions_order(lower, higher):
    assert ServerVersion.parse(lower) < ServerVersion.parse(higher)
    assert ServerVersion.parse(higher) > lower  # strings compare too
    assert not ServerVersion.parse(higher) <= lower


def test_build_metadata_does_not_count():
    assert ServerVersion.parse("4.6.5+standin") == ServerVersion.parse("4.6.5") == "4.6.5"
    assert hash(ServerVersion.parse("4.6.5+standin")) == hash(ServerVersion.parse("4.6.5"))


@pytest.mark.parametrize("raw, software, software_version", [
    ("3.0.0 (compatible; Pleroma 2.5.0)", "Pleroma", "2.5.0"),
    ("2.7.2 (compatible; Akkoma 3.10.4)", "Akkoma", "3.10.4"),
    ("3.5.3 (compatible; GoToSocial 0.15.0)", "GoToSocial", "0.15.0"),
])
def test_other_software_claiming_the_api_is_named(raw, software, software_version):
    with pytest.raises(NotMastodonCompatible) as refused:
        parse_version(raw)
    assert refused.value.software == software
    assert refused.value.software_version == software_version
    assert str(refused.value).startswith("not Mastodon-compatible: ")
    assert software in str(refused.value)
    assert not is_mastodon(raw)


@pytest.mark.parametrize("raw", ["garbage", "", "4", "v4.6.5", "4.6.5.1", "4.6.x"])
def test_strings_that_are_no_version_are_refused(raw):
    with pytest.raises(NotMastodonCompatible, match="not Mastodon-compatible") as refused:
        parse_version(raw)
    assert refused.value.software is None
    assert not is_mastodon(raw)


def test_the_version_of_real_instance_bodies():
    v2 = exchange("f1-health-https.jsonl", "instance v2")["response"]["json"]
    v1 = exchange("f1-health-https.jsonl", "instance v1")["response"]["json"]
    assert version_from_instance(v2) == version_from_instance(v1) == "4.6.5"


def test_an_instance_body_without_a_version_is_refused():
    with pytest.raises(NotMastodonCompatible, match="no version"):
        version_from_instance({"domain": "example.test"})


def test_a_streaming_payload_is_decoded_one_way_for_the_plugin_and_the_suite():
    """streaming/index.js sends an entity as a JSON text inside the frame and a deleted status's id bare."""
    from mastodon_sandbox.contract.endpoints import decode_payload

    assert decode_payload("update", '{"id": "1", "content": "<p>hi</p>"}') == {"id": "1", "content": "<p>hi</p>"}
    assert decode_payload("delete", "110001") == "110001" and decode_payload("announcement.delete", "3") == "3"
    assert decode_payload("filters_changed", None) is None


@pytest.mark.parametrize("other", ["garbage", "", "3.0.0 (compatible; Pleroma 2.5.0)", None, 4.6, object()])
def test_a_version_is_never_equal_to_what_is_no_version(other):
    v = ServerVersion.parse("4.6.5")
    assert (v == other) is False and (other == v) is False
    assert (v != other) is True and (other != v) is True
    assert other not in {v} and other not in [v]


@pytest.mark.parametrize("other", ["garbage", "3.0.0 (compatible; Pleroma 2.5.0)", None, 4.6])
def test_ordering_with_what_is_no_version_is_a_type_error(other):
    """Python's rule for rich comparisons: an operand the method cannot compare gets NotImplemented, and
    Python raises TypeError once neither side can (as `1 < "a"` does); one line, naming both types."""
    v = ServerVersion.parse("4.6.5")
    assert v.__lt__(other) is NotImplemented
    for compare in (lambda: v < other, lambda: v <= other, lambda: v > other, lambda: v >= other, lambda: other < v):
        with pytest.raises(TypeError, match=r"not supported between instances of '\w+' and '\w+'"):
            compare()
