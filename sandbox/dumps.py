"""What a snapshot file's Redis and database dumps may hold, checked in Python before either reaches a store
(sandbox/stores.py loads them; sandbox/data/verify.py checks a whole file).

redis.resp  Redis' own protocol as `Redis.dump` writes it: one `RESTORE key ttl payload REPLACE` per key.
            It is parsed whole and written anew for `redis-cli --pipe`, so nothing else a file carries (a
            FLUSHALL, a CONFIG SET, a SELECT of another database) ever reaches Redis.
database    pg_dump's custom format; its table of contents (`pg_restore --list --verbose`) may name only
            what a dump of one Mastodon database holds (`check_toc`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Iterable, NamedTuple


class DumpRefused(ValueError):
    """A dump holds what an export never writes; str() is one line, naming the part's fault."""


class Restore(NamedTuple):
    key: bytes
    ttl: int  # milliseconds; 0: none
    payload: bytes


MAX_TTL_MS = 10**15  # ~30,000 years: a PTTL beyond is not one Redis gave
MAX_ARGS = 64  # an array longer than any command an export could hold is not parsed further


def encode_restores(entries: Iterable[Restore]) -> bytes:
    out = []
    for e in entries:
        parts = (b"RESTORE", e.key, b"%d" % e.ttl, e.payload, b"REPLACE")
        out.append(b"*5\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
    return b"".join(out)


def _shown(raw: bytes) -> str:
    """A name from a file, shown safely in one line."""
    return repr(raw[:40].decode("utf-8", "replace"))


def _number(data: bytes, pos: int, lead: bytes, what: str) -> tuple[int, int]:
    """`lead` + decimal digits + CRLF at `pos`; returns (number, position after)."""
    end = data.find(b"\r\n", pos, pos + 24)
    digits = data[pos + 1:end] if end > pos else b""
    if data[pos:pos + 1] != lead or not digits.isdigit():
        if end < 0 and len(data) - pos < 24:
            raise DumpRefused(f"ends in the middle of a command (byte {pos})")
        raise DumpRefused(f"is not in Redis' protocol at byte {pos} (expected {what})")
    return int(digits), end + 2


def _command(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """One RESP array of bulk strings at `pos` (what redis-cli --pipe sends a server)."""
    count, pos = _number(data, pos, b"*", "an array of arguments")
    if not 1 <= count <= MAX_ARGS:
        raise DumpRefused(f"holds a command of {count} arguments at byte {pos}")
    args = []
    for _ in range(count):
        size, pos = _number(data, pos, b"$", "a bulk string")
        if pos + size + 2 > len(data):
            raise DumpRefused(f"ends in the middle of a command (byte {pos})")
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise DumpRefused(f"is not in Redis' protocol at byte {pos + size} (a bulk string's length is wrong)")
        args.append(data[pos:pos + size])
        pos += size + 2
    return args, pos


def parse_restores(data: bytes) -> list[Restore]:
    """Every command of a redis.resp, each `RESTORE key ttl payload REPLACE` with a distinct key; anything
    else is refused (DumpRefused), naming the first command that is not one."""
    out: list[Restore] = []
    seen: set[bytes] = set()
    pos = 0
    while pos < len(data):
        start = pos
        args, pos = _command(data, pos)
        if args[0] != b"RESTORE":
            raise DumpRefused(f"holds a {_shown(args[0])} command (byte {start}): an export writes only RESTORE commands")
        if len(args) != 5 or args[4] != b"REPLACE":
            raise DumpRefused(f"holds a RESTORE of another form than `RESTORE key ttl payload REPLACE` (byte {start})")
        key, ttl, payload = args[1], args[2], args[3]
        if not ttl.isdigit() or int(ttl) > MAX_TTL_MS:
            raise DumpRefused(f"holds a RESTORE of key {_shown(key)} with a bad time to live {_shown(ttl)}")
        if key in seen:
            raise DumpRefused(f"restores key {_shown(key)} twice")
        seen.add(key)
        out.append(Restore(key, int(ttl), payload))
    return out


def keys_digest(entries: Iterable[Restore]) -> str:
    """A digest of the keys (sorted, each length-prefixed: binary keys cannot run together)."""
    return hashlib.sha256(b"".join(b"%d:%s\n" % (len(k), k) for k in sorted(e.key for e in entries))).hexdigest()


# The table of contents of a dump of one Mastodon database. The rule: pg_dump of one database (no --create)
# writes its tables with their data, sequences, defaults, constraints and indexes, the functions of
# db/schema.rb (timestamp_id, in plpgsql or SQL), views and materialized views, comments, types (Rails'
# enums) and ACLs (which pg_restore skips: --no-privileges) — each in the public schema, the only one
# Mastodon uses. Beside those, pg_dump always writes the database's own entries (its DATABASE, its
# properties and comment: pg_restore runs none of them without --create) and the session settings
# (ENCODING, STDSTRINGS, SEARCHPATH). The only extension Mastodon enables is plpgsql, and the only schema
# entry a dump may carry is public's. Anything else — roles (pg_dump never writes one), another
# database's entries, other extensions, schemas, triggers, rules, policies, event triggers, publications,
# subscriptions, foreign servers, large objects, casts, languages — is refused. A TOC names each entry's
# kind, not the SQL it runs; that SQL runs under an unprivileged role (stores.Postgres.load).
PUBLIC_KINDS = ("TABLE", "TABLE DATA", "SEQUENCE", "SEQUENCE OWNED BY", "SEQUENCE SET", "DEFAULT", "CONSTRAINT",
                "FK CONSTRAINT", "CHECK CONSTRAINT", "INDEX", "VIEW", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA",
                "FUNCTION", "COMMENT", "TYPE", "ACL")
SESSION_KINDS = ("ENCODING", "STDSTRINGS", "SEARCHPATH")
DATABASE_KINDS = ("DATABASE", "DATABASE PROPERTIES")
# (kind, tag) of the entries outside the public schema a Mastodon database's dump may hold
OTHER_ENTRIES = {("EXTENSION", "plpgsql"), ("COMMENT", "EXTENSION plpgsql"), ("SCHEMA", "public"),
                 ("COMMENT", "SCHEMA public"), ("ACL", "SCHEMA public")}
# kinds of several words that begin like an allowed one, named whole in a refusal
REFUSED_KINDS = ("DEFAULT ACL", "TABLE ATTACH", "INDEX ATTACH", "TYPE SHELL", "SHELL TYPE", "FOREIGN TABLE", "EVENT TRIGGER")
_KINDS = sorted({*PUBLIC_KINDS, *SESSION_KINDS, *DATABASE_KINDS, *REFUSED_KINDS, "EXTENSION", "SCHEMA"}, key=len, reverse=True)
_ENTRY = re.compile(r"(\d+); (\d+) (\d+) (.*)")


def _entry_kind(rest: str) -> tuple[str, str, str] | None:
    """(kind, namespace, tag and owner) of a listed entry's text after its ids; None for a kind not known."""
    for kind in _KINDS:
        if rest.startswith(kind + " "):
            namespace, _, tail = rest[len(kind) + 1:].partition(" ")
            return kind, namespace, tail
    return None


def _tag_is(tail: str, tag: str) -> bool:
    """Whether an entry's tag (its text before the owner) is `tag`."""
    return tail == tag or tail.startswith(tag + " ")


def check_toc(listing: str) -> int:
    """`pg_restore --list --verbose` of a dump, checked by the rule above; returns how many entries it has."""
    header = dict(re.findall(r"^;\s+(dbname|Format): (.*)$", listing, re.M))
    if header.get("Format", "").strip() != "CUSTOM" or not header.get("dbname"):
        raise DumpRefused("is not a dump of one database in pg_dump's custom format")
    dbname = header["dbname"].strip()
    count = 0
    for line in listing.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        found = _ENTRY.fullmatch(line.rstrip("\r"))
        entry = _entry_kind(found.group(4)) if found else None
        if entry is None:
            raise DumpRefused(f"holds an entry no dump of a Mastodon database has: {line[:100]!r}")
        kind, namespace, tail = entry
        allowed = ((kind in PUBLIC_KINDS and namespace == "public") or (kind in SESSION_KINDS and namespace == "-")
                   or (kind in DATABASE_KINDS and namespace == "-" and _tag_is(tail, dbname))
                   or (kind == "COMMENT" and namespace == "-" and _tag_is(tail, f"DATABASE {dbname}"))
                   or any(kind == k and namespace == "-" and _tag_is(tail, t) for k, t in OTHER_ENTRIES))
        if not allowed:
            raise DumpRefused(f"holds {kind} {namespace} {tail[:60]!r}, which a dump of one Mastodon database never "
                              "does (roles, other databases, schemas or extensions, triggers and the like are refused)")
        count += 1
    return count
