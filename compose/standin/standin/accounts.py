"""Local accounts and users: creation and changes with Mastodon's validations and side effects.

Shared by tootctl, the bulk_accounts runner script and the web (sign-in)."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from . import jobs, oauth
from .config import Config
from .db import get_setting, one

# app/models/account.rb: local usernames are /\A[a-z0-9_]+\z/i, at most 30 characters (USERNAME_LENGTH_LIMIT).
LOCAL_USERNAME_RE = re.compile(r"\A[a-z0-9_]+\Z", re.I)
USERNAME_LIMIT = 30
# Devise.email_regexp (config/initializers/devise.rb default) and EmailAddressValidator (app/validators).
DEVISE_EMAIL_RE = re.compile(r"\A[^@\s]+@[^@\s]+\Z")


class ValidationFailed(Exception):
    """Carries ActiveModel-style errors: [(attribute, type)], printed by tootctl as Failure/Error lines."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{a} {t}" for a, t in errors))
        self.errors = errors


@dataclass
class Created:
    account: dict
    user: dict
    password: str
    messages: list[str] = field(default_factory=list)


def hash_password(password: str) -> str:
    import bcrypt
    # Devise stretches 10 outside test (bcrypt cost); Mastodon keeps Devise's default.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def check_password(password: str, encrypted: str) -> bool:
    import bcrypt
    if not encrypted:
        return False
    try:
        return bcrypt.checkpw(password.encode(), encrypted.encode())
    except ValueError:
        return False


def email_errors(cfg: Config, conn, email: str, user_id: int | None = None, confirmed: bool = False,
                 username_errs: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """User validations on email, in the order Rails runs them (app/models/user.rb): Devise :validatable
    (uniqueness, format), the account's own validations (autosaved association), EmailAddressValidator,
    then EmailMxValidator and UserEmailValidator — in that order on 4.6.5 (`validates :email, email_mx:` comes
    first), the other way round on 4.3.23 (`validates_with UserEmailValidator` is declared before
    `validates_with EmailMxValidator` there)."""
    errs: list[tuple[str, str]] = []
    if not email:
        return [("email", "blank"), ("email", "blank")] + (username_errs or [])
    if one(conn, "SELECT 1 AS x FROM users WHERE lower(email) = lower(%s) AND id IS DISTINCT FROM %s",
           (email, user_id)):
        errs.append(("email", "taken"))                 # Devise :validatable (emails are downcased)
    if not DEVISE_EMAIL_RE.match(email):
        errs.append(("email", "invalid"))               # Devise :validatable format
    errs += username_errs or []
    if not address_parses(email):
        errs.append(("email", "invalid"))               # EmailAddressValidator (Mail::Address)
    allowlist = "|".join(cfg.email_allowlist)  # EMAIL_DOMAIN_ALLOWLIST as Rails reads it
    # EmailMxValidator#get_domain: all after the first `@`, normalised (lower case, no trailing dot).
    domain = email.split("@", 1)[1].lower().rstrip(".") if "@" in email else ""
    mx: list[tuple[str, str]] = []
    if not domain or ".." in domain:
        mx.append(("email", "invalid"))                 # EmailMxValidator: no domain to resolve
    elif not (allowlist and domain in allowlist):
        # EmailMxValidator#on_allowlist? is `allowlist.include?(domain)`, a substring test: a subdomain of an
        # allowed domain is not on it. Off the list production resolves MX/A records; offline none resolve.
        mx.append(("email", "unreachable"))
    blocked: list[tuple[str, str]] = []
    allowed_pattern = rf"@(.+\.)?({allowlist.replace('.', chr(92) + '.')})$"
    if not confirmed and allowlist and not re.search(allowed_pattern, email, re.IGNORECASE):
        # UserEmailValidator#not_allowed_through_configuration?: /@(.+\.)?(allowlist)$/i, subdomains allowed
        blocked.append(("email", "blocked"))
    return errs + (blocked + mx if cfg.is_43 else mx + blocked)


def address_parses(email: str) -> bool:
    """EmailAddressValidator (app/validators/email_address_validator.rb): Mail::Address must give the
    address back unchanged, with no `%`, `,` or `"`. A bare local part such as `not-an-email` parses;
    spaces, a second `@` or an empty side do not."""
    value = email.strip()
    if any(ch in value for ch in '%,"') or any(ch.isspace() for ch in value):
        return False
    local, at, domain = value.partition("@")
    return bool(local) and (not at or (bool(domain) and "@" not in domain))


def username_errors(conn, username: str) -> list[tuple[str, str]]:
    if not username:
        return [("account.username", "blank")]
    errs = []
    if not LOCAL_USERNAME_RE.match(username):
        errs.append(("account.username", "invalid"))
    if len(username) > USERNAME_LIMIT:
        errs.append(("account.username", "too_long"))
    # UniqueUsernameValidator: case-insensitive among local accounts.
    if one(conn, "SELECT 1 AS x FROM accounts WHERE lower(username) = lower(%s) AND domain IS NULL", (username,)):
        errs.append(("account.username", "taken"))
    return errs


def registrations_mode(conn) -> str:
    return get_setting(conn, "registrations_mode", "none") or "none"  # config/settings.yml default


def reason_required(conn) -> bool:
    """REST::InstanceSerializer#registrations: approval mode and Setting.require_invite_text (default false)."""
    return registrations_mode(conn) == "approved" and get_setting(conn, "require_invite_text", "false") in (True, "true")


def role_by_name(conn, name: str) -> dict | None:
    # UserRole.find_by(name:) is case-sensitive.
    return one(conn, "SELECT * FROM user_roles WHERE name = %s", (name,))


def find_local(conn, username: str) -> dict | None:
    """Account.find_local: case-insensitive, local only; joined with its user."""
    return one(conn, "SELECT a.*, u.id AS user_id FROM accounts a LEFT JOIN users u ON u.account_id = a.id "
                     "WHERE lower(a.username) = lower(%s) AND a.domain IS NULL", (username,))


def user_by_id(conn, user_id: int) -> dict | None:
    return one(conn, "SELECT * FROM users WHERE id = %s", (user_id,))


def create_local(cfg: Config, conn, username: str, email: str, password: str | None = None,
                 confirmed: bool = False, approve: bool = False, role_id: int | None = None,
                 password_digest: str | None = None, reattach_account_id: int | None = None,
                 extra_errors: list[tuple[str, str]] | None = None) -> Created:
    """lib/mastodon/cli/accounts.rb#create: User.new(..., confirmed_at:, bypass_invite_request_check: true),
    save, then mark_email_as_confirmed! and approve! as asked."""
    # A reattached account keeps its username, so Account's username validations do not run for it.
    u_errs = [] if reattach_account_id else username_errors(conn, username)
    errors = email_errors(cfg, conn, email, confirmed=confirmed, username_errs=u_errs) + (extra_errors or [])
    if errors:
        raise ValidationFailed(errors)
    password = password or secrets.token_hex(16)  # SecureRandom.hex: 32 hex characters
    # User#set_approved (before_create): open registrations approve at once; closed/approved modes leave
    # the user pending until tootctl's `approve!`, which comes after the confirmation (accounts.rb create).
    approved_at_create = registrations_mode(conn) == "open"
    approved = approved_at_create or approve
    with conn.transaction():
        if reattach_account_id:
            account = conn.execute("UPDATE accounts SET suspended_at = NULL, updated_at = now() WHERE id = %s "
                                   "RETURNING *", (reattach_account_id,)).fetchone()
        else:
            account = conn.execute(
                "INSERT INTO accounts (username, created_at, updated_at) VALUES (%s, now(), now()) RETURNING *",
                (username,)).fetchone()
        user = conn.execute(
            "INSERT INTO users (email, encrypted_password, account_id, approved, role_id, confirmed_at, "
            "confirmation_token, confirmation_sent_at, locale, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'en', now(), now()) RETURNING *",
            (email, password_digest or hash_password(password), account["id"], approved, role_id,
             None, None if confirmed else secrets.token_urlsafe(15), None)).fetchone()
        if confirmed:
            user = conn.execute("UPDATE users SET confirmed_at = now() WHERE id = %s RETURNING *",
                                (user["id"],)).fetchone()
    if not confirmed:
        # Devise confirmable: confirmation instructions go out after commit, through Sidekiq (deliver_later).
        conn.execute("UPDATE users SET confirmation_sent_at = now() WHERE id = %s", (user["id"],))
        jobs.deliver_later(cfg, "UserMailer", "confirmation_instructions", user["id"],
                           args=(user["confirmation_token"],))
    if confirmed and approved_at_create:
        # User#after_confirmation_tasks -> prepare_new_user!: welcome mail an hour later, through the schedule set.
        jobs.deliver_later(cfg, "UserMailer", "welcome", user["id"], wait=3600)
    elif confirmed:
        # mark_email_as_confirmed! while still pending: staff are told (seen on real v4.6.5 for every
        # `--confirmed --approve` account while registrations are closed), then approve! welcomes the user.
        notify_staff_about_pending_account(cfg, conn, user["id"])
        if approve:
            jobs.deliver_later(cfg, "UserMailer", "welcome", user["id"], wait=3600)
    return Created(account=account, user=user, password=password)


def notify_staff_about_pending_account(cfg: Config, conn, user_id: int) -> None:
    """User#notify_staff_about_pending_account!: AdminMailer#new_pending_account to every user whose role can
    manage_users (Moderator, Admin, Owner as seeded)."""
    from .db import FLAGS
    staff = conn.execute(
        "SELECT u.account_id FROM users u JOIN user_roles r ON r.id = u.role_id WHERE (r.permissions & %s) <> 0",
        (FLAGS["manage_users"] | FLAGS["administrator"],)).fetchall()
    for row in staff:
        jobs.deliver_later(cfg, "AdminMailer", "new_pending_account", user_id, recipient_account_id=row["account_id"])


def change_password(cfg: Config, conn, user_id: int, password: str) -> None:
    """User#change_password!: new password, drop web sessions, then revoke_access! (every token and grant).
    Devise's send_password_change_notification mails the user through Sidekiq."""
    with conn.transaction():
        conn.execute("UPDATE users SET encrypted_password = %s, updated_at = now() WHERE id = %s",
                     (hash_password(password), user_id))
        conn.execute("DELETE FROM session_activations WHERE user_id = %s", (user_id,))
    oauth.revoke_user_access(conn, user_id)
    jobs.deliver_later(cfg, "UserMailer", "password_change", user_id)


def approve(cfg: Config, conn, user_id: int) -> None:
    """User#approve!: approved = true; a confirmed user then gets prepare_new_user! (welcome mail)."""
    row = one(conn, "UPDATE users SET approved = true, updated_at = now() WHERE id = %s AND NOT approved "
                    "RETURNING confirmed_at", (user_id,))
    if row and row["confirmed_at"] is not None:
        jobs.deliver_later(cfg, "UserMailer", "welcome", user_id, wait=3600)


def request_email_change(cfg: Config, conn, user_id: int, email: str) -> None:
    """`user.email = E; save` with Devise's reconfirmable (config/initializers/devise.rb): the new address waits
    in unconfirmed_email and gets confirmation instructions; `--confirm` (Devise #confirm) then swaps it in."""
    token = secrets.token_urlsafe(15)
    conn.execute("UPDATE users SET unconfirmed_email = %s, confirmation_token = %s, confirmation_sent_at = now(), "
                 "updated_at = now() WHERE id = %s", (email, token, user_id))
    jobs.deliver_later(cfg, "UserMailer", "confirmation_instructions", user_id, args=(token,), kwargs={"to": email})


def confirm(cfg: Config, conn, user_id: int) -> None:
    """Devise #confirm (wrapped by User#wrap_email_confirmation); a pending e-mail change is applied, and
    Devise's after_update hook sends the e-mail-changed notice (config.send_email_changed_notification)."""
    old = one(conn, "SELECT email FROM users WHERE id = %s AND unconfirmed_email IS NOT NULL", (user_id,))
    conn.execute("UPDATE users SET email = unconfirmed_email, unconfirmed_email = NULL, confirmation_token = NULL, "
                 "updated_at = now() WHERE id = %s AND unconfirmed_email IS NOT NULL", (user_id,))
    if old:
        # DatabaseAuthenticatable#send_email_changed_notification: to: the address before the change.
        jobs.deliver_later(cfg, "UserMailer", "email_changed", user_id, kwargs={"to": old["email"]})
    row = one(conn, "UPDATE users SET confirmed_at = now(), confirmation_token = NULL, updated_at = now(), "
                    "approved = approved OR %s WHERE id = %s AND confirmed_at IS NULL RETURNING approved",
              (registrations_mode(conn) == "open", user_id))
    if row and row["approved"]:
        jobs.deliver_later(cfg, "UserMailer", "welcome", user_id, wait=3600)
    elif row:
        notify_staff_about_pending_account(cfg, conn, user_id)


def delete_local(conn, account_id: int, reserve_username: bool = True) -> None:
    """DeleteAccountService (app/services/delete_account_service.rb) as tootctl calls it (reserve_email: false):
    the user row goes; the account row stays, suspended and emptied, so the username remains taken, unless
    reserve_username is false or the user was unconfirmed or pending (then both rows go)."""
    user = one(conn, "SELECT confirmed_at, approved FROM users WHERE account_id = %s", (account_id,))
    if user is not None and (user["confirmed_at"] is None or not user["approved"]):
        reserve_username = False
    with conn.transaction():
        conn.execute("DELETE FROM users WHERE account_id = %s", (account_id,))
        if reserve_username:
            conn.execute("UPDATE accounts SET suspended_at = COALESCE(suspended_at, now()), silenced_at = NULL, "
                         "locked = false, memorial = false, discoverable = false, display_name = '', note = '', "
                         "fields = '[]'::jsonb, updated_at = now() WHERE id = %s", (account_id,))
        else:
            conn.execute("DELETE FROM accounts WHERE id = %s", (account_id,))


def functional_error(user: dict) -> str | None:
    """Api::BaseController#require_user!: the 403 message for a user that cannot use the API, or None."""
    if user["confirmed_at"] is None:
        return "Your login is missing a confirmed e-mail address"
    if not user["approved"]:
        return "Your login is currently pending approval"
    if user["disabled"]:
        return "Your login is currently disabled"
    return None
