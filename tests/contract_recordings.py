"""What the contract unit tests (tests/unit/test_contract_*.py) share: the exchanges of a recordings folder
(tests/recordings/<folder>/<sandbox>.jsonl, one a line, as the folder's record.py writes them), the check of
every recorded body against its entity's schema for the recording server's version, and the mutations of an
example body that its schema must reject (as helpers, and as the tests each file of examples gets)."""

from __future__ import annotations

import copy
import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mastodon_sandbox.contract.endpoints import entity_for
from mastodon_sandbox.contract.quirks import Exchange, quirk_for
from mastodon_sandbox.contract.validate import schema_for, validate
from mastodon_sandbox.contract.versions import ServerVersion

RECORDINGS = Path(__file__).resolve().parent / "recordings"
V46, V43 = "4.6.5", "4.3.23"
# The files of a folder recorded from the two sandboxes, and the version of each one's server.
BOTH = {"default.jsonl": V46, "fed-b.jsonl": V43}

Recorded = tuple[str, dict, ServerVersion]  # (where: "<file>:<line> <label>", the exchange, the server's version)


class Recordings:
    """The exchanges of one folder of tests/recordings/, each file from the server version `files` gives it."""

    def __init__(self, folder: str, files: dict[str, str] = BOTH):
        self.folder = RECORDINGS / folder
        self.files = files

    def lines(self, name: str) -> list[dict]:
        return [json.loads(line) for line in (self.folder / name).read_text(encoding="utf-8").splitlines() if line.strip()]

    @functools.cache
    def recorded(self) -> tuple[Recorded, ...]:
        """(where, the exchange, version) of every recorded exchange, file by file, in order."""
        return tuple((f"{name}:{n + 1} {rec['label']}", rec, ServerVersion.parse(version))
                     for name, version in self.files.items() for n, rec in enumerate(self.lines(name)))

    def exchange(self, label: str, version: str) -> dict:
        """The first exchange of the version's file recorded under `label`."""
        return next(rec for where, rec, v in self.recorded() if where.endswith(f" {label}") and v == version)

    def by_label(self, label: str, version: str) -> Any:
        return self.exchange(label, version)["response"]["json"]

    def status_of(self, label: str, version: str) -> int:
        return self.exchange(label, version)["response"]["status"]

    def headers(self, label: str, version: str) -> dict[str, str]:
        """The response headers the recording kept, their names in lower case."""
        return {k.lower(): v for k, v in self.exchange(label, version)["response"]["headers"].items()}

    def header(self, label: str, version: str, name: str) -> str | None:
        return self.headers(label, version).get(name.lower())

    def labels(self, version: str) -> set[str]:
        return {rec["label"] for _, rec, v in self.recorded() if v == version}


def recorded_status() -> dict:
    """A whole Status as 4.6.5 sent it: the first of the contract folder's grouped notifications' statuses."""
    return next(json.loads(line)["response"]["json"]["statuses"][0]
                for line in (RECORDINGS / "mastodon-4.6.5-4.3.23-contract" / "default.jsonl").read_text(encoding="utf-8").splitlines()
                if json.loads(line)["label"] == "grouped notifications")


# --- every recorded body against its schema ------------------------------------------------------------------

def table_entity(rec: dict) -> str | None:
    """The entity the endpoint table names for a recorded exchange."""
    return entity_for(rec["request"]["method"], rec["request"]["url"], rec["response"]["status"])


@dataclass
class Checked:
    failures: list[str] = field(default_factory=list)  # one line a body that breaks its schema
    seen: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # version: entities checked
    quirks: list[tuple[str, str]] = field(default_factory=list)  # (where, quirk) of a break a known quirk explains

    @property
    def seen_anywhere(self) -> set[str]:
        return set().union(*self.seen.values())


def check_bodies(recorded: Iterable[Recorded], skip: Callable[[str | None, Any], bool], *,
                 entity_of: Callable[[dict], str | None] = table_entity, seen_if: Callable[[Any], bool] = lambda body: True,
                 quirks: bool = False) -> Checked:
    """Validate each recorded body but those `skip(entity, body)` passes over, for its server's version; an
    entity counts as seen (its "[]" dropped) where `seen_if(body)`. With `quirks`, a break a known server quirk
    explains (quirks.py) is set aside as that quirk, neither a failure nor seen."""
    out = Checked()
    for where, rec, version in recorded:
        method, url, status, body = rec["request"]["method"], rec["request"]["url"], rec["response"]["status"], rec["response"]["json"]
        entity = entity_of(rec)
        if skip(entity, body):
            continue
        errors = validate(entity, body, version)
        if errors and quirks:
            quirk = quirk_for(version, Exchange(method, url, status, rec["response"]["headers"].get("Content-Type", ""), body))
            if quirk:
                out.quirks.append((where, quirk.name))
                continue
        if seen_if(body):
            out.seen[str(version)].add(entity.removesuffix("[]"))
        if errors:
            out.failures.append(f"{where} {method} {urlsplit(url).path} {status} as {entity} for {version}: {errors[:5]}")
    return out


# --- mutations of an example that its schema must reject ----------------------------------------------------

def top_level_required(entity: str, version: str | ServerVersion) -> list[str]:
    """What the entity's schema itself requires (not its allOf parts)."""
    return list(schema_for(entity, version).get("required", []))


def _required_present(entity: str, body: dict, version, shape: str | None, required: Callable) -> list[str]:
    names = [n for n in required(shape or entity, version) if n in body]
    assert names, f"{entity}: the example has none of its required fields"
    return names


def assert_removing_required_fields_is_rejected(entity: str, body: dict, version: str | ServerVersion, *,
                                                shape: str | None = None, required: Callable = top_level_required) -> None:
    """Without the required fields it has (those of `shape` when another entity's apply), the example is
    refused, each missing field reported on its own (all at once: one validation keeps a test fast)."""
    names = _required_present(entity, body, version, shape, required)
    errors = validate(entity, {k: v for k, v in body.items() if k not in names}, version)
    assert errors
    unreported = [n for n in names if f"$: '{n}' is a required property" not in errors]
    assert not unreported, (unreported, errors)


def assert_changing_field_types_is_rejected(entity: str, body: dict, version: str | ServerVersion, *,
                                            shape: str | None = None, required: Callable = top_level_required) -> None:
    """With a float (which fits no top-level field) in each required field it has, the example is refused at
    each of those fields."""
    names = _required_present(entity, body, version, shape, required)
    errors = validate(entity, {**body, **dict.fromkeys(names, 0.5)}, version)
    assert errors
    unreported = [n for n in names if not any(e.startswith((f"$.{n}:", f"$['{n}']:")) for e in errors)]
    assert not unreported, (unreported, errors)


def assert_invented_enum_value_is_rejected(entity: str, body: Any, version: str | ServerVersion, path: tuple) -> None:
    """The string at `path` (keys and indexes) of the example, changed to a value no enum has, is refused."""
    mutated = copy.deepcopy(body)
    *parents, last = path
    target = mutated
    for key in parents:
        target = target[key]
    assert isinstance(target[last], str), (entity, target[last])
    target[last] = "invented-by-the-test"
    errors = validate(entity, mutated, version)
    assert any("'invented-by-the-test' is not one of" in e for e in errors), errors


def assert_added_later_binds_only_the_newer(entity: str, old: dict, new: dict, added: str,
                                            old_version: str = V43, new_version: str = V46) -> None:
    """A field the older server's body lacks and the newer one's has is required of the newer version only."""
    assert added not in old and added in new
    assert validate(entity, old, old_version) == []
    assert f"$: '{added}' is a required property" in validate(entity, old, new_version)


Examples = Callable[[], dict[str, tuple[Any, str]]]  # entity: (an example body, the version it is valid for)


def example_tests(examples: Examples, entities: list[str], mutable: list[str] | None = None) -> tuple[Callable, ...]:
    """The three tests of a module's examples, to be bound to their names in it (pytest collects them there):
    each of `entities`' example is valid; each of `mutable`'s (by default the same) is refused without its
    required fields, and with a float in each of them."""

    @pytest.mark.parametrize("entity", entities)
    def test_the_example_is_valid(entity):
        body, version = examples()[entity]
        assert validate(entity, body, version) == []

    @pytest.mark.parametrize("entity", entities if mutable is None else mutable)
    def test_removing_a_required_field_is_rejected(entity):
        assert_removing_required_fields_is_rejected(entity, *examples()[entity])

    @pytest.mark.parametrize("entity", entities if mutable is None else mutable)
    def test_changing_a_fields_type_is_rejected(entity):
        assert_changing_field_types_is_rejected(entity, *examples()[entity])

    return test_the_example_is_valid, test_removing_a_required_field_is_rejected, test_changing_a_fields_type_is_rejected


def invented_enum_test(examples: Examples, cases: list[tuple[str, tuple]]) -> Callable:
    """The test that each (entity, path) of `cases` is refused with an invented value at that path of its
    example, to be bound to its name in the module."""

    @pytest.mark.parametrize("entity, path", cases)
    def test_an_invented_enum_value_is_rejected(entity, path):
        assert_invented_enum_value_is_rejected(entity, *examples()[entity], path)

    return test_an_invented_enum_value_is_rejected
