"""Account validations and their order, as `tootctl accounts create` reports them (no database: a fake
connection answers the uniqueness queries)."""
from standin import accounts, config


class FakeConn:
    def __init__(self, taken_emails=(), taken_usernames=()):
        self.emails = {e.lower() for e in taken_emails}
        self.usernames = {u.lower() for u in taken_usernames}

    def execute(self, sql, params=None):
        hit = False
        if "FROM users WHERE lower(email)" in sql:
            hit = params[0].lower() in self.emails
        elif "FROM accounts WHERE lower(username)" in sql:
            hit = params[0].lower() in self.usernames
        return _Rows([{"x": 1}] if hit else [])


class _Rows:
    def __init__(self, rows):
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None


CFG = config.load({"EMAIL_DOMAIN_ALLOWLIST": "example.test|sandbox.test"})


def errors(email, username="dave", confirmed=False, conn=None, cfg=CFG):
    conn = conn or FakeConn()
    return accounts.email_errors(cfg, conn, email, confirmed=confirmed,
                                 username_errs=accounts.username_errors(conn, username))


def test_bad_email_as_recorded():
    # f2 "create bad email": invalid, invalid, blocked
    assert errors("not-an-email") == [("email", "invalid"), ("email", "invalid"), ("email", "blocked")]


def test_duplicate_username_as_recorded():
    # f2 "create duplicate": only account.username taken
    assert errors("alice2@example.test", "alice", conn=FakeConn(taken_usernames=["alice"])) == [
        ("account.username", "taken")]


def test_local_usernames_allow_only_letters_digits_underscore():
    assert accounts.username_errors(FakeConn(), "pool-01") == [("account.username", "invalid")]
    assert accounts.username_errors(FakeConn(), "pool_01") == []
    assert accounts.username_errors(FakeConn(), "a" * 31) == [("account.username", "too_long")]


def test_domain_outside_allowlist():
    # v4.6.5 app/models/user.rb: `validates :email, email_mx:` is declared before `validates_with
    # UserEmailValidator`, so unreachable (offline, nothing resolves) comes before blocked.
    assert errors("dave@other.test") == [("email", "unreachable"), ("email", "blocked")]
    # v4.3.23 declares UserEmailValidator first.
    cfg43 = config.load({"EMAIL_DOMAIN_ALLOWLIST": "example.test|sandbox.test", "STANDIN_VERSION": "4.3.24"})
    assert errors("dave@other.test", cfg=cfg43) == [("email", "blocked"), ("email", "unreachable")]
    # confirmed (tootctl --confirmed): UserEmailValidator is skipped, the MX check still runs
    assert errors("dave@other.test", confirmed=True) == [("email", "unreachable")]


def test_the_allowlist_is_matched_as_mastodon_matches_it():
    # UserEmailValidator#not_allowed_through_configuration?: /@(.+\.)?(example\.test|sandbox\.test)$/i lets a
    # subdomain through; EmailMxValidator#on_allowlist? is `allowlist.include?(domain)`, which a subdomain is
    # not, so a subdomain is resolved (and, offline, unreachable).
    assert errors("dave@sub.example.test") == [("email", "unreachable")]
    assert errors("dave@EXAMPLE.test") == []
    assert errors("dave@example.test.evil") == [("email", "unreachable"), ("email", "blocked")]


def test_taken_email_is_case_insensitive():
    assert errors("ALICE@example.test", conn=FakeConn(taken_emails=["alice@example.test"])) == [("email", "taken")]


def test_functional_errors_in_base_controller_order():
    base = {"confirmed_at": None, "approved": False, "disabled": True}
    assert accounts.functional_error(base) == "Your login is missing a confirmed e-mail address"
    assert accounts.functional_error({**base, "confirmed_at": 1}) == "Your login is currently pending approval"
    assert accounts.functional_error({**base, "confirmed_at": 1, "approved": True}) == \
        "Your login is currently disabled"
    assert accounts.functional_error({"confirmed_at": 1, "approved": True, "disabled": False}) is None


def test_the_bulk_runner_checks_devises_password_length():
    """config/initializers/devise.rb: `config.password_length = 8..72`, checked by Devise's :validatable on save
    (the shipped bulk script saves a User; real 4.6.5 and 4.3.23 refused 5 and 73 characters and a blank one
    with these errors)."""
    from standin import runner

    assert runner.password_errors("") == [("password", "blank")]
    assert runner.password_errors("x" * 7) == [("password", "too_short")]
    assert runner.password_errors("x" * 8) == [] and runner.password_errors("x" * 72) == []
    assert runner.password_errors("x" * 73) == [("password", "too_long")]
