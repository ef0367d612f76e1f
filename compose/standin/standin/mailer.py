"""Mail rendering and delivery for the sidekiq process (ActionMailer delivery methods: file, test, smtp)."""
from __future__ import annotations

import os
import secrets
import smtplib
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone

from .config import Config

# Subjects from Mastodon's config/locales/devise.en.yml and en.yml (user_mailer.*).
SUBJECTS = {
    "confirmation_instructions": "Mastodon: Confirmation instructions for {instance}",
    "password_change": "Mastodon: Password changed",
    "reset_password_instructions": "Mastodon: Reset password instructions",
    "reconfirmation_instructions": "Mastodon: Confirm email for {instance}",
    "email_changed": "Mastodon: Email changed",
    "welcome": "Welcome to Mastodon",
    "new_pending_account": "New account up for review on {instance} ({subject_user})",
}
BODIES = {
    "confirmation_instructions": "To confirm your e-mail address for {instance}, open:\n{base}/auth/confirmation?"
                                 "confirmation_token={token}\n",
    "password_change": "The password for your account on {instance} has been changed.\n",
    "reset_password_instructions": "A password change was requested for your account on {instance}.\n",
    "reconfirmation_instructions": "Confirm the new address to change your email:\n{base}/auth/confirmation?"
                                   "confirmation_token={token}\n",
    "email_changed": "The email address for your account on {instance} is being changed.\n",
    "welcome": "Welcome aboard, {username}! Your account on {instance} is ready.\n",
    "new_pending_account": "The details of the new account {subject_user} are below. You can approve or reject "
                           "this application.\n{base}/admin/accounts\n",
}
FOOTER = "\n-- \nSent by the mastodon-sandbox offline stand-in (not Mastodon).\n"


def render(cfg: Config, action: str, to: str, username: str, extra: dict | None = None) -> bytes:
    extra = extra or {}
    # @instance = Rails.configuration.x.local_domain (app/mailers/user_mailer.rb, admin_mailer.rb): the port too.
    fmt = {"instance": cfg.local_domain, "base": cfg.base_url, "username": username, "token": extra.get("token", ""),
           "subject_user": extra.get("subject_user", username)}
    if action == "confirmation_instructions" and extra.get("reconfirmation"):
        action = "reconfirmation_instructions"  # UserMailer#confirmation_instructions when pending_reconfirmation?
    subject = SUBJECTS.get(action, f"Mastodon: {action.replace('_', ' ')}").format(**fmt)
    body = BODIES.get(action, f"{action}\n").format(**fmt) + FOOTER
    domain = cfg.smtp_from.rsplit("@", 1)[-1] or cfg.host_only
    headers = [
        ("Date", format_datetime(datetime.now(timezone.utc))),
        ("From", cfg.smtp_from),
        ("To", to),
        ("Message-ID", make_msgid(idstring=secrets.token_hex(4), domain=domain)),
        ("Subject", subject),
        ("Mime-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "7bit"),
    ]
    text = "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n" + body.replace("\n", "\r\n")
    return text.encode("utf-8")


def deliver(cfg: Config, to: str, message: bytes) -> str:
    """Returns where the message went. Raises on failure so Sidekiq retries."""
    method = cfg.smtp_delivery_method
    if method == "file":
        # Mail::FileDelivery: one file per recipient under tmp/mails, messages appended, then "\r\n\r\n".
        folder = os.path.join(cfg.tmp_dir, "mails")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, os.path.basename(to))
        with open(path, "ab") as f:
            f.write(message + b"\r\n\r\n")
        return path
    if method == "test":
        return "test (discarded)"
    host = os.environ.get("SMTP_SERVER", "localhost")
    port = int(os.environ.get("SMTP_PORT", "25"))
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.sendmail(cfg.smtp_from, [to], message)
    return f"smtp://{host}:{port}"
