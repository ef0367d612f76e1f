"""What a snapshot file's Redis and database dumps may hold (sandbox/dumps.py), on their own: the RESP
parser's round trip and the table-of-contents rule on pg_restore listings (a real one, from pg_dump 15 of a
database shaped like Mastodon's, and that one with one entry added)."""

from __future__ import annotations

import pytest

from mastodon_sandbox import dumps

# `pg_restore --list --verbose` of a dump of a small Mastodon-like database (a plpgsql function, tables with
# data, sequences, a view and a materialized view, constraints, indexes, comments, database properties)
LISTING = """;
; Archive created at 2026-12-05 11:34:13 UTC
;     dbname: src
;     TOC Entries: 30
;     Compression: -1
;     Dump Version: 1.14-0
;     Format: CUSTOM
;     Integer: 4 bytes
;     Offset: 8 bytes
;     Dumped from database version: 15.18 (Debian 15.18-0+deb12u1)
;     Dumped by pg_dump version: 15.18 (Debian 15.18-0+deb12u1)
;
;
; Selected TOC Entries:
;
3377; 0 0 ENCODING - ENCODING 
3378; 0 0 STDSTRINGS - STDSTRINGS 
3379; 0 0 SEARCHPATH - SEARCHPATH 
3380; 1262 16384 DATABASE - src postgres
3381; 0 0 COMMENT - DATABASE src postgres
;	depends on: 3380
3382; 0 0 DATABASE PROPERTIES - src postgres
221; 1255 16408 FUNCTION public timestamp_id(text) postgres
214; 1259 16385 TABLE public accounts postgres
3383; 0 0 COMMENT public TABLE accounts postgres
;	depends on: 214
218; 1259 16409 MATERIALIZED VIEW public account_summaries postgres
;	depends on: 214 214
215; 1259 16392 SEQUENCE public accounts_id_seq postgres
;	depends on: 214
3384; 0 0 SEQUENCE OWNED BY public accounts_id_seq postgres
;	depends on: 215
220; 1259 16420 TABLE public ar_internal_metadata postgres
217; 1259 16394 TABLE public statuses postgres
216; 1259 16393 SEQUENCE public statuses_id_seq postgres
;	depends on: 217
3385; 0 0 SEQUENCE OWNED BY public statuses_id_seq postgres
;	depends on: 216
219; 1259 16416 VIEW public user_ips postgres
;	depends on: 214
3215; 2604 16397 DEFAULT public statuses id postgres
;	depends on: 217 216 217
3369; 0 16385 TABLE DATA public accounts postgres
;	depends on: 214
3374; 0 16420 TABLE DATA public ar_internal_metadata postgres
;	depends on: 220
3372; 0 16394 TABLE DATA public statuses postgres
;	depends on: 217
3386; 0 0 SEQUENCE SET public accounts_id_seq postgres
;	depends on: 215
3387; 0 0 SEQUENCE SET public statuses_id_seq postgres
;	depends on: 216
3217; 2606 16391 CONSTRAINT public accounts accounts_pkey postgres
;	depends on: 214
3223; 2606 16426 CONSTRAINT public ar_internal_metadata ar_internal_metadata_pkey postgres
;	depends on: 220
3220; 2606 16401 CONSTRAINT public statuses statuses_pkey postgres
;	depends on: 217
3221; 1259 16415 INDEX public account_summaries_id_idx postgres
;	depends on: 218
3218; 1259 16407 INDEX public index_statuses_on_account_id postgres
;	depends on: 217
3224; 2606 16402 FK CONSTRAINT public statuses statuses_account_id_fkey postgres
;	depends on: 217 214 3217
3373; 0 16409 MATERIALIZED VIEW DATA public account_summaries postgres
;	depends on: 218 3376
"""


def test_a_dump_of_one_mastodon_like_database_passes():
    assert dumps.check_toc(LISTING) == 30


@pytest.mark.parametrize("line, message", [
    ("9001; 0 0 ROLE - evil postgres", "holds an entry no dump of a Mastodon database has: '9001; 0 0 ROLE - evil postgres'"),
    ("9001; 1262 16999 DATABASE - other postgres", "holds DATABASE - 'other postgres'"),
    ("9001; 0 0 DATABASE PROPERTIES - template1 postgres", "holds DATABASE PROPERTIES - 'template1 postgres'"),
    ("9001; 0 0 COMMENT - DATABASE other postgres", "holds COMMENT - 'DATABASE other postgres'"),
    ("9001; 3079 16500 EXTENSION - dblink ", "holds EXTENSION - 'dblink '"),
    ("9001; 3079 16500 EXTENSION - adminpack ", "holds EXTENSION -"),
    ("9001; 2615 16500 SCHEMA - evil postgres", "holds SCHEMA - 'evil postgres'"),
    ("9001; 1259 16500 TABLE evil t postgres", "holds TABLE evil 't postgres'"),
    ("9001; 1255 16500 FUNCTION pg_catalog now() postgres", "holds FUNCTION pg_catalog"),
    ("9001; 2620 16500 TRIGGER public accounts evil postgres", "holds an entry no dump"),
    ("9001; 3466 16500 EVENT TRIGGER - evil postgres", "holds EVENT TRIGGER -"),
    ("9001; 6104 16500 PUBLICATION - p postgres", "holds an entry no dump"),
    ("9001; 2613 16500 BLOB - 16500 postgres", "holds an entry no dump"),
    ("9001; 0 0 DEFAULT ACL - DEFAULT PRIVILEGES FOR TABLES postgres", "holds DEFAULT ACL - 'DEFAULT PRIVILEGES"),
    ("9001; 0 0 DEFAULT ACL public DEFAULT PRIVILEGES FOR TABLES postgres", "holds DEFAULT ACL public"),
    ("9001; 0 0 TABLE ATTACH public p1 postgres", "holds TABLE ATTACH public"),
    ("9001; 3466 16500 EVENT TRIGGER public evil postgres", "holds EVENT TRIGGER public"),
    ("garbage", "holds an entry no dump of a Mastodon database has: 'garbage'"),
])
def test_an_entry_a_mastodon_database_never_has_is_refused(line, message):
    with pytest.raises(dumps.DumpRefused) as e:
        dumps.check_toc(LISTING + line + "\n")
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("line", [
    "9001; 3079 13000 EXTENSION - plpgsql ",
    "9002; 0 0 COMMENT - EXTENSION plpgsql ",
    "9003; 2615 2200 SCHEMA - public pg_database_owner",
    "9004; 0 0 ACL - SCHEMA public pg_database_owner",
    "9005; 1247 16600 TYPE public status_visibility postgres",
    "9006; 0 0 ACL public TABLE accounts postgres",
])
def test_the_entries_mastodon_s_schema_may_bring_pass(line):
    assert dumps.check_toc(LISTING + line + "\n") == 31


@pytest.mark.parametrize("change", [
    lambda t: t.replace("Format: CUSTOM", "Format: TAR"),
    lambda t: t.replace(";     dbname: src\n", ""),
])
def test_a_listing_not_of_one_database_in_custom_format_is_refused(change):
    with pytest.raises(dumps.DumpRefused, match="is not a dump of one database in pg_dump's custom format"):
        dumps.check_toc(change(LISTING))
