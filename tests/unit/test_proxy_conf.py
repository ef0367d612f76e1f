"""The TLS proxy's configuration (compose/proxy/sandbox.conf), read as nginx reads it: media is served on the
sandbox's own origin, so every location that serves it carries the headers upstream's dist/nginx.conf gives
/system/ (no Docker; tests/integration/test_media_headers.py checks the running proxy)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "compose" / "proxy" / "sandbox.conf"
NOSNIFF = ["add_header", "X-Content-Type-Options", "nosniff", "always"]
CSP = ["add_header", "Content-Security-Policy", "default-src 'none'; form-action 'none'", "always"]


def parse(text: str) -> list:
    """nginx's syntax as nested lists: a directive is [words...], a block is [words..., [children]]."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{};]|[^\s{};"\']+', re.sub(r"(?m)#.*$", "", text))
    stack: list[list] = [[]]
    words: list = []
    for token in tokens:
        if token == ";":
            stack[-1].append(words)
            words = []
        elif token == "{":
            block: list = []
            stack[-1].append([*words, block])
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token[1:-1] if token[0] in "\"'" else token)
    return stack[0]


def locations(tree: list) -> dict[str, list]:
    """Every location block, nested ones included, by its path."""
    found = {}
    for item in tree:
        if item and isinstance(item[-1], list):
            if item[0] == "location":
                found[item[-2]] = item[-1]
            found.update(locations(item[-1]))
    return found


@pytest.mark.parametrize("path", ["/s3-media/", "/system/"])
def test_media_locations_are_never_sniffed_and_never_run_script(path):
    location = locations(parse(CONF.read_text()))[path]
    assert NOSNIFF in location and CSP in location
    # The backend's own copies are hidden, so that each header is sent once.
    for header in ("Content-Security-Policy", "X-Content-Type-Options"):
        assert ["proxy_hide_header", header] in location
    assert any(d[0] == "proxy_pass" for d in location)  # nested: proxy_pass is not inherited


def test_the_parser_reads_quoted_semicolons_and_nesting():
    tree = parse('server { location / { a "x; y" always; location ^~ /n/ { b; } } }')
    assert locations(tree) == {"/": [["a", "x; y", "always"], ["location", "^~", "/n/", [["b"]]]], "/n/": [["b"]]}
