"""A small bot: it greets once, and answers every mention with an echo of what it was told."""

from __future__ import annotations

import html
import re

from mastodon import Mastodon


class EchoBot:
    def __init__(self, api: Mastodon):
        self.api = api
        self.me = api.account_verify_credentials()

    def greet(self) -> dict:
        return self.api.status_post("Hello! Mention me and I echo what you say.", visibility="unlisted")

    def answer(self, notification: dict) -> dict | None:
        """Reply to a mention, in its thread and with its visibility; anything else is ignored."""
        if notification["type"] != "mention":
            return None
        status = notification["status"]
        text = html.unescape(re.sub(r"<[^>]+>", "", status["content"]))
        said = re.sub(rf"@{self.me['username']}\S*\s*", "", text).strip()
        return self.api.status_post(f"@{status['account']['acct']} echo: {said}", in_reply_to_id=status["id"],
                                    visibility=status["visibility"])
