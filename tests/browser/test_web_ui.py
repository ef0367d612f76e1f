"""Mastodon's own web front end on the sandbox, clicked through in Debian's Chromium (driven by Playwright, the
system browser, the sandbox's CA imported into the browser's certificate store as a user would import it; no
certificate error is ever ignored): sign in on the web page, the home timeline shows a follow's post, a post
written in the compose box appears in the timeline and through the API, an image shows in the media gallery, a
notification arrives live over the browser's streaming connection. A screenshot of each step goes to
artifacts/web-ui/ (SANDBOX_ARTIFACTS), where CI lists them."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from mastodon_sandbox.testing.fixtures import _endpoint, _mastodon_py

pytestmark = [pytest.mark.docker, pytest.mark.needs_mastodon, pytest.mark.needs_web_ui]

ROOT = Path(__file__).resolve().parents[2]
PICTURE = ROOT / "fixtures" / "media" / "picture-stripes.png"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STEP = 30_000  # ms: a step of the web app, its first page load included


@pytest.fixture
def shots():
    folder = Path(os.environ.get("SANDBOX_ARTIFACTS") or ROOT / "artifacts") / "web-ui"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture
def browser(mastodon_sandbox, tmp_path):
    """Chromium with a home of its own whose certificate store trusts the sandbox's CA (NSS: certutil)."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM, "Debian's chromium is not installed (apt-get install chromium libnss3-tools)"
    assert shutil.which("certutil"), "certutil is not installed (apt-get install libnss3-tools)"
    home = tmp_path / "home"
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
    subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "mastodon-sandbox",
                    "-i", str(mastodon_sandbox.state.ca_file)], check=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, env={**os.environ, "HOME": str(home)},
                                     args=["--no-sandbox"])  # root in CI; the OS sandbox, not TLS
        try:
            yield launched
        finally:
            launched.close()


def test_a_user_signs_in_reads_posts_writes_one_sees_an_image_and_a_live_notification(
        mastodon_sandbox, mastodon_accounts, mastodon_settle, browser, shots):
    me, friend = mastodon_accounts(2)
    endpoint = _endpoint(mastodon_sandbox)
    mine, theirs = _mastodon_py(endpoint, me.token), _mastodon_py(endpoint, friend.token)
    mine.account_follow(theirs.account_verify_credentials()["id"])
    hello = f"hello from a friend {uuid.uuid4().hex[:8]}"
    theirs.status_post(hello)
    picture = theirs.media_post(str(PICTURE), description="stripes")
    theirs.status_post(f"a picture {uuid.uuid4().hex[:8]}", media_ids=[picture["id"]])
    mastodon_settle()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(STEP)
    # 1. sign in on Mastodon's own page
    page.goto(f"{mastodon_sandbox.url}/auth/sign_in")
    assert me.password, "a leased account signs in with its password"
    page.fill("#user_email", me.email)
    page.fill("#user_password", me.password)
    page.screenshot(path=shots / "1-sign-in.png")
    # the web app opens its streaming connection as it starts: the one step 5's notification must come through
    with page.expect_websocket(lambda ws: "/api/v1/streaming" in ws.url) as streaming:
        page.click("button[type=submit]")
    page.wait_for_url("**/home")

    # 2. the home timeline shows the follow's posts (the web app rendered them from the API)
    page.get_by_text(hello).wait_for()
    page.screenshot(path=shots / "2-home-timeline.png")

    # 3. the image shows in the media gallery: loaded from the sandbox's S3 through its proxy
    image = page.locator(".media-gallery__item-thumbnail img").first
    image.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.get_attribute("src").startswith(mastodon_sandbox.url + "/")
    page.screenshot(path=shots / "3-media-gallery.png")

    # 4. a post written in the compose box appears in the timeline and through the API
    written = f"written in the browser {uuid.uuid4().hex[:8]}"
    page.fill(".compose-form textarea", written)
    page.click(".compose-form__submit button[type=submit]")
    page.locator(".status__content", has_text=written).first.wait_for()
    page.screenshot(path=shots / "4-posted.png")
    mine_now = mine.account_statuses(mine.account_verify_credentials()["id"], limit=5)
    assert any(written in s["content"] for s in mine_now), [s["content"] for s in mine_now]

    # 5. a notification arrives live: the app moves to its notifications column without reloading, and the
    # streaming connection it opened at sign-in brings the mention (shown as its status, `notification-ungrouped`;
    # app/javascript/mastodon/features/notifications_v2/components/notification_with_status.tsx)
    page.locator("a[href='/notifications']").first.click()
    page.wait_for_url("**/notifications")
    page.locator(".notification-group, .notification-ungrouped, .empty-column-indicator").first.wait_for()
    mention = f"a live mention {uuid.uuid4().hex[:8]}"
    theirs.status_post(f"@{me.username} {mention}")
    page.locator(".notification-ungrouped", has_text=mention).first.wait_for()
    assert not streaming.value.is_closed()  # the same connection since sign-in: nothing was reloaded
    page.screenshot(path=shots / "5-live-notification.png")
