"""The HTML pages carry the same forms and field names as Mastodon's (compare f4 of the live corpus)."""
from html.parser import HTMLParser

from standin import pages


class Forms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms, self.inputs = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method"), "fields": {}})
        elif tag == "input":
            self.inputs.append(a)
            if self.forms and a.get("name"):
                self.forms[-1]["fields"][a["name"]] = a.get("value")


def parse(text):
    p = Forms()
    p.feed(text)
    return p


def test_sign_in_form():
    p = parse(pages.sign_in("localhost", "TOKEN"))
    [f] = p.forms
    assert f["action"] == "/auth/sign_in" and f["method"] == "post"
    assert set(f["fields"]) == {"authenticity_token", "user[email]", "user[password]"}
    assert f["fields"]["authenticity_token"] == "TOKEN"


def test_sign_in_error_flash_keeps_email():
    t = pages.sign_in("localhost", "T", email="alice@example.test", alert="Invalid e-mail address or password.")
    assert '<div class="flash-message alert">' in t and "Invalid e-mail address or password." in t
    assert parse(t).forms[0]["fields"]["user[email]"] == "alice@example.test"


def test_authorize_page_has_allow_and_deny_forms():
    params = {"client_id": "cid", "redirect_uri": "urn:ietf:wg:oauth:2.0:oob", "code_challenge": "cc",
              "code_challenge_method": "S256", "state": "st", "response_type": "code", "scope": "read write"}
    p = parse(pages.authorize("alice@localhost", "probe", params, ["read", "write"], "T1", "T2"))
    allow, deny = p.forms
    expected = {"authenticity_token", "client_id", "redirect_uri", "code_challenge", "code_challenge_method",
                "state", "response_type", "scope"}
    assert set(allow["fields"]) == expected
    assert set(deny["fields"]) == expected | {"_method"}
    assert deny["fields"]["_method"] == "delete"
    assert allow["action"] == deny["action"] == "/oauth/authorize"
    assert allow["fields"]["scope"] == "read write" and allow["fields"]["state"] == "st"


def test_native_code_page():
    p = parse(pages.native("alice@localhost", "CODE123", "T"))
    codes = [i for i in p.inputs if "oauth-code" in (i.get("class") or "")]
    assert codes and codes[0]["value"] == "CODE123"


def test_values_are_escaped():
    t = pages.sign_in("localhost", "T", email='"><script>')
    assert "<script>" not in t
