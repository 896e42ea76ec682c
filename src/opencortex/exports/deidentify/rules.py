"""A de-identification profile's settings: its rules, read from a request body and checked against
an object definition. No database here.

A rule names a property path of the exported documents (``c_name``, ``c_name.c_last``,
``c_visits.c_when`` through arrays, ``_id``, ``created``, ``creator``...) and an action:

- ``drop``: the value is removed (a CSV column, a dictionary row, an ODM item: none);
- ``hash``: HMAC-SHA256 under the profile's key, as ``hashLength`` hex digits (a reference's
  ``_id``, so hashed ``_id``s and references to them still join within the profile);
- ``shiftDate``: moved by the instance's offset, a whole number of days in ``dateShift``
  derived from the keyed hash of the instance's ``_id`` (the same for every date of it);
- ``dateToYear``: the year only (``"1984"``);
- ``truncate``: the first ``keep`` characters (postal codes), as text.

A rule may be pinned to an object (``object``): its path must then exist there, with a type its
action fits, when the profile is saved and again when an export uses it. An unpinned rule
applies to every export whose documents have the path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opencortex import faults
from opencortex.ids import is_object_id
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.problems import Problems
from opencortex.model.properties import DocumentProperty, PropertyDefinition

DROP, HASH, SHIFT_DATE, DATE_TO_YEAR, TRUNCATE = "drop", "hash", "shiftDate", "dateToYear", "truncate"
ACTIONS = (DROP, HASH, SHIFT_DATE, DATE_TO_YEAR, TRUNCATE)
MAX_RULES = 200
MAX_NAME = 64
MAX_DESCRIPTION = 255
MAX_PATH = 256
MAX_KEEP = 64
MAX_SHIFT_DAYS = 3650
DEFAULT_SHIFT = (-364, -1)
"""By default every date moves 1 to 364 days back, never zero (REDCap's range)."""
DEFAULT_HASH_LENGTH = 24
"""Hex digits: as long as an ObjectId, so tools that expect ``_id``-shaped keys keep working."""
HASH_LENGTHS = (16, 64)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BODY_KEYS = frozenset({"name", "description", "rules", "dateShift", "hashLength"})
_RULE_KEYS = frozenset({"path", "action", "keep", "object"})
# The system properties of an instance, by the type they are read as.
SYSTEM_TYPES = {"_id": "ObjectId", "created": "Date", "updated": "Date", "creator": "Reference",
                "owner": "Reference", "updater": "Reference", "type": "String"}
# The types each action fits; drop fits everything. "*" is a value inside a property whose
# insides have no definition (a File's facet, an Any, a Geometry): any action goes.
_FITS = {
    HASH: frozenset({"String", "Number", "ObjectId", "Reference", "Date", "Boolean", "*"}),
    SHIFT_DATE: frozenset({"Date", "*"}),
    DATE_TO_YEAR: frozenset({"Date", "*"}),
    TRUNCATE: frozenset({"String", "Number", "*"}),
}


@dataclass(frozen=True)
class Rule:
    path: str
    action: str
    keep: int | None = None
    object: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path, "action": self.action}
        if self.keep is not None:
            body["keep"] = self.keep
        if self.object is not None:
            body["object"] = self.object
        return body


@dataclass(frozen=True)
class ProfileSettings:
    """What a profile does (everything but its name, key and history)."""

    rules: tuple[Rule, ...] = ()
    description: str | None = None
    date_shift: tuple[int, int] = DEFAULT_SHIFT
    hash_length: int = DEFAULT_HASH_LENGTH

    def to_json(self) -> dict[str, Any]:
        """As stored (the ``settings`` column) and shown."""
        return {"rules": [rule.to_json() for rule in self.rules],
                "dateShift": {"minDays": self.date_shift[0], "maxDays": self.date_shift[1]},
                "hashLength": self.hash_length}

    @classmethod
    def from_json(cls, value: Mapping[str, Any], description: str | None = None) -> ProfileSettings:
        """The stored ``settings`` (validated when written)."""
        shift = value.get("dateShift") or {}
        return cls(
            rules=tuple(Rule(rule["path"], rule["action"], rule.get("keep"), rule.get("object"))
                        for rule in value.get("rules") or ()),
            description=description,
            date_shift=(int(shift.get("minDays", DEFAULT_SHIFT[0])), int(shift.get("maxDays", DEFAULT_SHIFT[1]))),
            hash_length=int(value.get("hashLength", DEFAULT_HASH_LENGTH)),
        )

    def rules_for(self, object_name: str) -> tuple[Rule, ...]:
        """The rules an export of ``object_name`` applies: unpinned ones and those pinned to it."""
        return tuple(rule for rule in self.rules if rule.object is None or rule.object == object_name)


@dataclass
class ProfileBody:
    """A create or replace body, read; a part that failed is left at its default."""

    problems: Problems = field(default_factory=Problems)
    name: str | None = None
    settings: ProfileSettings = field(default_factory=ProfileSettings)


def read_profile_body(body: Any, *, creating: bool) -> ProfileBody:
    """Shapes and ranges of a ``POST`` (``creating``) or ``PUT`` body; every bad path is a child fault.
    The name is given at create and cannot change."""
    if not isinstance(body, dict):
        raise faults.invalid_argument("A JSON object is expected.", path="body")
    read = ProfileBody()
    problems = read.problems
    for key in body:
        if key not in _BODY_KEYS:
            problems.add(faults.invalid_argument(f"{key!r} is not a de-identification profile property.", path=key))
    if creating:
        read.name = _name(body.get("name"), problems)
    elif "name" in body:
        problems.add(faults.creatable_only("A profile's name is set when it is created (exports name it).",
                                           path="name"))
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        problems.add(faults.invalid_string(f"description is at most {MAX_DESCRIPTION} characters.",
                                           path="description"))
        description = None
    rules = _rules(body.get("rules"), problems)
    shift = _date_shift(body.get("dateShift"), problems)
    length = _hash_length(body.get("hashLength", DEFAULT_HASH_LENGTH), problems)
    read.settings = ProfileSettings(rules, description or None, shift, length)
    return read


def check_rules(rules: tuple[Rule, ...], definition: ObjectDefinition, problems: Problems, path: str = "rules",
                positions: Mapping[Rule, int] | None = None, pinned_only: bool = False) -> None:
    """Each rule against ``definition``: a pinned rule's path must exist there; any rule whose
    path exists must name a type its action fits. Faults at ``<path>[i].path``."""
    for index, rule in enumerate(rules):
        if rule.object is not None and rule.object != definition.name:
            continue
        if pinned_only and rule.object is None:
            continue
        at = f"{path}[{positions[rule] if positions is not None else index}].path"
        kind = property_type(definition, rule.parts)
        if kind is None:
            if rule.object is not None:
                problems.add(faults.property_not_found(f"{definition.name} has no property {rule.path!r}.", path=at))
            continue
        if rule.action != DROP and kind not in _FITS[rule.action]:
            problems.add(faults.invalid_argument(
                f"{rule.action} does not fit {rule.path!r}, a {kind} property of {definition.name}.", path=at))


def property_type(definition: ObjectDefinition, parts: tuple[str, ...]) -> str | None:
    """The type at a dotted path (``*`` inside a property without defined insides); None: no such path."""
    if len(parts) == 1 and parts[0] in SYSTEM_TYPES:
        return SYSTEM_TYPES[parts[0]]
    level: Mapping[str, PropertyDefinition] = _all_properties(definition)
    found: PropertyDefinition | None = None
    for depth, part in enumerate(parts):
        if found is not None and not isinstance(found, DocumentProperty):
            return "*"  # below a File, Any, Geometry or (expanded) Reference
        if found is not None and part == "_id" and found.array and depth == len(parts) - 1:
            return "ObjectId"  # a document array element's _id
        found = level.get(part)
        if found is None:
            return None
        level = found.properties if isinstance(found, DocumentProperty) else {}
    return None if found is None else found.type_name


def _all_properties(definition: ObjectDefinition) -> dict[str, PropertyDefinition]:
    properties = dict(definition.properties)
    for object_type in definition.object_types.values():
        for key, prop in object_type.properties.items():
            properties.setdefault(key, prop)
    return properties


def _name(value: Any, problems: Problems) -> str | None:
    if value is None:
        problems.add(faults.required("name names the profile (exports use it as deidentify).", path="name"))
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME or not NAME.match(value) or is_object_id(value):
        problems.add(faults.invalid_string(f"name is 1-{MAX_NAME} letters, digits, '_', '-' or '.', starting with a "
                                           "letter or digit, and not shaped like an _id.", path="name"))
        return None
    return value


def _rules(value: Any, problems: Problems) -> tuple[Rule, ...]:
    if value is None:
        problems.add(faults.required("rules is the list of what the profile does to which paths.", path="rules"))
        return ()
    if not isinstance(value, list) or len(value) > MAX_RULES:
        problems.add(faults.invalid_value(f"rules is a list of at most {MAX_RULES} rules.", path="rules"))
        return ()
    rules: list[tuple[int, Rule]] = []
    for index, entry in enumerate(value):
        rule = _rule(entry, f"rules[{index}]", problems)
        if rule is not None:
            rules.append((index, rule))
    for position, (index, rule) in enumerate(rules):
        for other_index, other in rules[:position]:
            if (rule.object is None or other.object is None or rule.object == other.object) and _overlap(rule, other):
                problems.add(faults.invalid_argument(
                    f"{rule.path!r} overlaps {other.path!r} of rules[{other_index}]: one rule per value.",
                    path=f"rules[{index}].path"))
                break
    return tuple(rule for _, rule in rules)


def _rule(entry: Any, at: str, problems: Problems) -> Rule | None:
    if not isinstance(entry, dict):
        problems.add(faults.invalid_value("A rule is {path, action[, keep][, object]}.", path=at))
        return None
    before = problems.total
    for key in entry:
        if key not in _RULE_KEYS:
            problems.add(faults.invalid_argument(f"{key!r} is not a rule property.", path=f"{at}.{key}"))
    path = entry.get("path")
    if not isinstance(path, str) or not 0 < len(path) <= MAX_PATH or not all(
            _SEGMENT.match(part) for part in path.split(".")):
        problems.add(faults.dot_path("path is a dotted property path (c_name, c_visits.c_when, _id).",
                                     path=f"{at}.path"))
    action = entry.get("action")
    if action not in ACTIONS:
        problems.add(faults.enum_value(f"action is one of {', '.join(ACTIONS)}.", path=f"{at}.action"))
    keep = entry.get("keep")
    if action == TRUNCATE:
        if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= MAX_KEEP:
            problems.add(faults.invalid_value(f"keep is how many characters truncate keeps: 1-{MAX_KEEP}.",
                                              path=f"{at}.keep"))
    elif keep is not None:
        problems.add(faults.invalid_argument("keep belongs to truncate rules only.", path=f"{at}.keep"))
    pinned = entry.get("object")
    if pinned is not None and (not isinstance(pinned, str) or not _SEGMENT.match(pinned)):
        problems.add(faults.invalid_value("object is the name of the object the rule is pinned to.",
                                          path=f"{at}.object"))
    if problems.total != before or not isinstance(path, str) or not isinstance(action, str):
        return None
    return Rule(path, action, keep, pinned)


def _overlap(rule: Rule, other: Rule) -> bool:
    short, long = sorted((rule.parts, other.parts), key=len)
    return long[: len(short)] == short


def _date_shift(value: Any, problems: Problems) -> tuple[int, int]:
    if value is None:
        return DEFAULT_SHIFT
    if not isinstance(value, dict) or set(value) - {"minDays", "maxDays"}:
        problems.add(faults.invalid_value("dateShift is {minDays, maxDays}: whole days, negative for earlier.",
                                          path="dateShift"))
        return DEFAULT_SHIFT
    low, high = value.get("minDays", DEFAULT_SHIFT[0]), value.get("maxDays", DEFAULT_SHIFT[1])
    for name, days in (("minDays", low), ("maxDays", high)):
        if isinstance(days, bool) or not isinstance(days, int) or not -MAX_SHIFT_DAYS <= days <= MAX_SHIFT_DAYS:
            problems.add(faults.invalid_value(f"dateShift.{name} is a whole number of days, at most {MAX_SHIFT_DAYS} "
                                              "either way.", path=f"dateShift.{name}"))
            return DEFAULT_SHIFT
    if low > high:
        problems.add(faults.invalid_value("dateShift.minDays is at most dateShift.maxDays.", path="dateShift.minDays"))
        return DEFAULT_SHIFT
    return low, high


def _hash_length(value: Any, problems: Problems) -> int:
    low, high = HASH_LENGTHS
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.add(faults.invalid_value(f"hashLength is {low}-{high} hex digits.", path="hashLength"))
        return DEFAULT_HASH_LENGTH
    return value
