"""Validate a response body against the contract of one entity, for one server version.

The schemas in schemas/ describe the newest server; every property added later than `version` (its
`x-added`) stops being required, and enum values added later (`x-enum-added`) are dropped, so an older
server is held to what it could send. `Status[]` means an array of Status.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .versions import ServerVersion

SCHEMAS = Path(__file__).resolve().parent / "schemas"
_MESSAGE_LIMIT = 240


class ContractViolation(AssertionError):
    """A response body that breaks the contract; `errors` lists each break with its JSON path."""

    def __init__(self, entity: str, version: ServerVersion, errors: list[str]):
        self.entity, self.version, self.errors = entity, version, errors
        super().__init__(f"not a valid {entity} for Mastodon {version}:\n  " + "\n  ".join(errors))


def entities() -> list[str]:
    """The names of every entity with a schema (the file names under schemas/)."""
    return sorted(p.stem for p in SCHEMAS.glob("*.json"))


@functools.cache
def _raw(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def schema_for(entity: str, version: ServerVersion | str) -> dict:
    """One entity's schema as it applies to a server of `version` (its $refs left as they are)."""
    return _for_version(_raw(entity), _as_version(version))


def _for_version(node: Any, version: ServerVersion) -> Any:
    if isinstance(node, list):
        return [_for_version(item, version) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _for_version(value, version) for key, value in node.items()}
    properties = out.get("properties")
    if isinstance(properties, dict) and isinstance(out.get("required"), list):
        out["required"] = [name for name in out["required"] if _present_on(properties.get(name), version)]
    added = out.get("x-enum-added")
    if isinstance(added, dict) and isinstance(out.get("enum"), list):
        out["enum"] = [value for value in out["enum"] if value not in added or version >= added[value]]
    return out


def _present_on(prop: Any, version: ServerVersion) -> bool:
    return not (isinstance(prop, dict) and "x-added" in prop and version < prop["x-added"])


def _as_version(version: ServerVersion | str) -> ServerVersion:
    return version if isinstance(version, ServerVersion) else ServerVersion.parse(version)


@functools.cache
def _registry(version: ServerVersion) -> Registry:
    # Each file is registered under its own name, so `"$ref": "Account.json"` works from any file.
    resources = [(f"{name}.json", Resource.from_contents(schema_for(name, version), default_specification=DRAFT202012))
                 for name in entities()]
    return Registry().with_resources(resources)


def _format_checker() -> FormatChecker:
    # jsonschema checks date-time only with an optional package installed; check it here, as RFC 3339.
    checker = FormatChecker()
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    checker.checks("date", raises=ValueError)(_is_date)
    return checker


_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE_TIME.fullmatch(value)) and bool(datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00")))


def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE.fullmatch(value)) and bool(date.fromisoformat(value))


@functools.cache
def validator_for(entity: str, version: ServerVersion | str) -> Draft202012Validator:
    """A validator of `entity` (or `Entity[]`, an array of it) for a server of `version`."""
    version = _as_version(version)
    name, many = (entity[:-2], True) if entity.endswith("[]") else (entity, False)
    if not (SCHEMAS / f"{name}.json").is_file():
        raise KeyError(f"no schema for {entity!r}; known: {', '.join(entities())}")
    ref = {"$ref": f"{name}.json"}
    schema = {"type": "array", "items": ref} if many else ref
    return Draft202012Validator(schema, registry=_registry(version), format_checker=_format_checker())


def validate(entity: str, body: Any, version: ServerVersion | str) -> list[str]:
    """Readable contract breaks of `body` (`$.path: what is wrong`), empty when it is valid."""
    errors = validator_for(entity, version).iter_errors(body)
    described = (_describe(error) for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]))
    # One break, one line: a keyword an entity and its allOf part both hold (Status and StatusBase both say
    # "type": "object") fails in each, with the same message for the same place.
    return list(dict.fromkeys(described))


def assert_valid(entity: str, body: Any, version: ServerVersion | str) -> None:
    """Raise ContractViolation (an AssertionError) listing every break of the contract."""
    errors = validate(entity, body, version)
    if errors:
        raise ContractViolation(entity, _as_version(version), errors)


def _describe(error: ValidationError) -> str:
    # A nullable reference (anyOf [X, null]) fails as a whole: name the break inside X instead.
    if error.context:
        error = best_match([error])
    message = error.message
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + "…"
    return f"{error.json_path}: {message}"
