"""Media on the sandbox's own origin is served as upstream's dist/nginx.conf serves /system/: never sniffed,
never a document that runs script (X-Content-Type-Options: nosniff and a CSP of default-src 'none'), from the
bucket (/s3-media/) and from local disk (/system/) alike."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import cli, upload_picture

pytestmark = pytest.mark.docker


def assert_media_headers(response: requests.Response) -> None:
    assert response.headers.get("X-Content-Type-Options") == "nosniff", response.headers
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "form-action 'none'" in csp, response.headers
    assert response.raw.headers.getlist("Content-Security-Policy") == [csp]  # sent once, not doubled


@pytest.mark.parametrize("path", ["/s3-media/media/none.html", "/system/media_attachments/none.html"])
def test_every_media_answer_carries_the_headers_even_an_error(mastodon_sandbox, path):
    assert_media_headers(mastodon_sandbox.get(path))


@pytest.mark.needs_mastodon
def test_an_uploaded_picture_is_served_with_the_headers(mastodon_sandbox):
    token = cli("token", "alice", "--name", mastodon_sandbox.name)
    assert token.returncode == 0, token.stderr
    media = upload_picture(mastodon_sandbox, token.stdout.strip())
    assert media["url"].startswith(mastodon_sandbox.url + "/")  # the sandbox's own origin
    got = requests.get(media["url"], verify=str(mastodon_sandbox.state.ca_file), timeout=30)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/png"
    assert_media_headers(got)
