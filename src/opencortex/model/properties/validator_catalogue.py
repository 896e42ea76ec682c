"""The validators this server implements, with their definition keys and checks.

Names, keys and defaults follow Cortex's catalogue. Each check raises the validator's own fault
kind with a reason a person can act on; ``path`` is the value's path (an element's, for arrays).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from opencortex import faults
from opencortex.ids import is_object_id
from opencortex.model.names import property_name_problem
from opencortex.model.properties import options as read
from opencortex.model.properties.dates import comparable, format_instant, parse_date_only, parse_instant
from opencortex.model.properties.options import REQUIRED, Option
from opencortex.model.properties.validators import ValidatorSpec

MAX_PATTERN = 512  # Python's re has no timeout, so keep client-supplied patterns short
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_DOT_PATH = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")
_JS_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "g": 0, "u": 0, "y": 0}


def _date(value: Any, path: str) -> str:
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError:
            pass
    raise faults.invalid_definition("An ISO 8601 date is expected.", path=path)


def _object_id(value: Any, path: str) -> str:
    if not isinstance(value, str) or not is_object_id(value.lower()):
        raise faults.invalid_definition("A 24-digit hex ObjectId is expected.", path=path)
    return value.lower()


@lru_cache(maxsize=512)
def compile_pattern(source: str) -> re.Pattern[str]:
    """A JavaScript-style ``/regex/flags`` literal as a Python pattern; ValueError when invalid."""
    if len(source) > MAX_PATTERN:
        raise ValueError(f"patterns are at most {MAX_PATTERN} characters")
    match = re.fullmatch(r"/(.*)/([a-z]*)", source, re.DOTALL)
    if not match:
        raise ValueError("a pattern is written /regex/flags")
    flags = 0
    for flag in match.group(2):
        if flag not in _JS_FLAGS:
            raise ValueError(f"unknown flag {flag!r}")
        flags |= _JS_FLAGS[flag]
    try:
        return re.compile(match.group(1), flags)
    except re.error as error:
        raise ValueError(str(error)) from None


def _pattern(value: Any, path: str) -> str:
    try:
        compile_pattern(read.text(1, MAX_PATTERN)(value, path))
    except ValueError as error:
        raise faults.invalid_definition(f"Invalid pattern: {error}.", path=path) from None
    return str(value)


def _option_entry(value: Any, path: str) -> dict[str, Any]:
    entry = read.json_object(("label", "value"))(value, path)
    read.text(1, 100)(entry.get("label"), f"{path}.label")
    if "value" not in entry or (isinstance(entry["value"], str) and len(entry["value"]) > 100):
        raise faults.invalid_definition(
            "An option needs a value (strings at most 100 characters).", path=f"{path}.value"
        )
    return entry


# Checks: (definition, value, path) -> None.


def _check_string(definition: dict[str, Any], value: str, path: str) -> None:
    low, high = definition["min"], definition["max"]
    if not low <= len(value) <= high:
        raise faults.invalid_string(f"Enter text between {low} and {high} characters in length.", path=path)


def _check_printable(definition: dict[str, Any], value: str, path: str) -> None:
    _check_string(definition, value, path)
    if not value.isprintable():
        raise faults.invalid_string("Only printable characters are allowed.", path=path)
    if value and not definition["anyFirstLetter"]:
        first = value[0]
        if not (first.isalpha() or (definition["allowNumberAsFirstLetter"] and first.isdigit())):
            raise faults.invalid_string("The first character must be a letter.", path=path)


def _check_pattern(definition: dict[str, Any], value: str, path: str) -> None:
    if value == "" and definition["allowEmpty"]:
        return
    if not compile_pattern(definition["pattern"]).search(value):
        raise faults.string_pattern(f"The value must match {definition['pattern']}.", path=path)


def _check_email(definition: dict[str, Any], value: str, path: str) -> None:
    if not _EMAIL.match(value) or len(value) > 254:
        raise faults.email_format("A valid email address is expected.", path=path)


def _check_url(definition: dict[str, Any], value: str, path: str) -> None:
    if value == "" and definition["allowEmpty"]:
        return
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if not scheme or len(value) > 2048 or any(char.isspace() for char in value):
        raise faults.invalid_url("A URL is expected.", path=path)
    secure = definition.get("webSecure")
    allowed = {"https"} if secure is True else {"http"} if secure is False else {"http", "https"}
    if (definition["webOnly"] or secure is not None) and (scheme not in allowed or "://" not in value):
        raise faults.invalid_url(
            "The URL must start with " + " or ".join(f"{s}://" for s in sorted(allowed)) + ".", path=path
        )


def _check_in() -> Any:
    def check(definition: dict[str, Any], value: Any, path: str) -> None:
        if value not in definition["values"]:
            shown = ", ".join(map(str, definition["values"][:20]))
            raise faults.enum_value(f"One of: {shown}", path=path)

    return check


def _check_options(definition: dict[str, Any], value: Any, path: str) -> None:
    if value not in [entry["value"] for entry in definition["values"]]:
        raise faults.enum_value("Select an option from the list.", path=path)


def _check_number(definition: dict[str, Any], value: int | float, path: str) -> None:
    low, high = definition.get("min"), definition.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise faults.number_expected(f"Number out of range ({low} to {high}).", path=path)
    if not definition["allowDecimal"] and not float(value).is_integer():
        raise faults.number_expected("A whole number is expected.", path=path)


def _check_allow_level(definition: dict[str, Any], value: int | float, path: str) -> None:
    low = 0 if definition["includeNoAllow"] else 1
    if not float(value).is_integer() or not low <= value <= 8:
        raise faults.allow_level(f"An access level from {low} to 8 is expected.", path=path)


def _check_coordinate(definition: dict[str, Any], value: list[Any], path: str) -> None:
    if len(value) != 2:
        raise faults.invalid_coordinate("Must be a valid 2 element coordinate array.", path=path)
    for axis, number in enumerate(value):
        low, high = definition.get(f"min{axis}"), definition.get(f"max{axis}")
        decimal = definition[f"allowDecimal{axis}"]
        if (
            (low is not None and number < low)
            or (high is not None and number > high)
            or (not decimal and not float(number).is_integer())
        ):
            raise faults.invalid_coordinate(f"Coordinate {axis} is out of range.", path=f"{path}[{axis}]")


def _check_date(definition: dict[str, Any], value: str, path: str) -> None:
    low, high = definition.get("min"), definition.get("max")
    moment = comparable(value)
    if (low is not None and moment < low) or (high is not None and moment > high):
        raise faults.invalid_date(f"The date must be between {low or 'any'} and {high or 'any'}.", path=path)


def _check_date_enum(definition: dict[str, Any], value: str, path: str) -> None:
    if comparable(value) not in definition["values"]:
        raise faults.enum_value("Date not found in list.", path=path)


def _check_date_of_birth(definition: dict[str, Any], value: str, path: str) -> None:
    try:
        moment = comparable(parse_date_only(value)) if len(value) == 10 else parse_instant(value)
    except ValueError:
        raise faults.date_of_birth("A valid date of birth is expected.", path=path) from None
    if moment > format_instant(datetime.now(UTC)):
        raise faults.date_of_birth("A date of birth cannot be in the future.", path=path)


def _check_time_zone(definition: dict[str, Any], value: str, path: str) -> None:
    if value not in _time_zones():
        raise faults.time_zone("An IANA time zone name such as Europe/Paris is expected.", path=path)


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_custom_name(definition: dict[str, Any], value: str, path: str) -> None:
    problem = property_name_problem(value)
    if problem:
        raise faults.custom_name(problem, path=path)


def _check_dot_path(definition: dict[str, Any], value: str, path: str) -> None:
    if not _DOT_PATH.match(value):
        raise faults.dot_path("A dotted path of names is expected.", path=path)


def _check_ip(definition: dict[str, Any], value: str, path: str) -> None:
    try:
        ipaddress.IPv4Network(value, strict=False)
    except ValueError:
        raise faults.ip_address("An IPv4 address or CIDR range is expected.", path=path) from None


ALLOW_NULL_FALSE = Option("allowNull", read.boolean, False)
_STRING = frozenset({"String"})
_NUMBER = frozenset({"Number"})
_DATE = frozenset({"Date"})


def _spec(
    name: str, fault: Any, check: Any, types: frozenset[str] | None, *keys: Option, **extra: Any
) -> ValidatorSpec:
    return ValidatorSpec(name, fault, check, types, tuple(keys), **extra)


CATALOGUE: dict[str, ValidatorSpec] = {
    spec.name: spec
    for spec in (
        _spec("required", faults.required, None, None, scope="write"),
        _spec(
            "writeOnce",
            faults.write_once,
            None,
            frozenset({"Date", "Binary", "Boolean", "String", "Number", "ObjectId"}),
            arrays=False,
            scope="write",
        ),
        _spec(
            "uniqueInArray",
            faults.unique_in_array,
            None,
            frozenset({"Date", "String", "Number", "ObjectId", "Reference", "Binary"}),
            arrays=True,
            scope="array",
        ),
        _spec(
            "string",
            faults.invalid_string,
            _check_string,
            _STRING,
            Option("min", read.integer(0), 0),
            Option("max", read.integer(0), REQUIRED),
            ALLOW_NULL_FALSE,
        ),
        _spec(
            "printableString",
            faults.invalid_string,
            _check_printable,
            _STRING,
            Option("min", read.integer(0), REQUIRED),
            Option("max", read.integer(0), REQUIRED),
            Option("anyFirstLetter", read.boolean, True),
            Option("allowNumberAsFirstLetter", read.boolean, True),
        ),
        _spec(
            "pattern",
            faults.string_pattern,
            _check_pattern,
            _STRING,
            Option("pattern", _pattern, REQUIRED),
            ALLOW_NULL_FALSE,
            Option("allowEmpty", read.boolean, False),
        ),
        _spec("email", faults.email_format, _check_email, _STRING, Option("allowNull", read.boolean, True)),
        _spec(
            "url",
            faults.invalid_url,
            _check_url,
            _STRING,
            ALLOW_NULL_FALSE,
            Option("allowEmpty", read.boolean, False),
            Option("webOnly", read.boolean, True),
            Option("webSecure", read.boolean, None),
        ),
        _spec(
            "stringEnum",
            faults.enum_value,
            _check_in(),
            _STRING,
            Option("values", read.sized_list(1, 100, read.text(0, 1024)), REQUIRED),
        ),
        _spec("timeZone", faults.time_zone, _check_time_zone, _STRING),
        _spec("customName", faults.custom_name, _check_custom_name, _STRING),
        _spec("dotPath", faults.dot_path, _check_dot_path, _STRING),
        _spec("IPv4AddrOrCidr", faults.ip_address, _check_ip, _STRING),
        _spec(
            "number",
            faults.number_expected,
            _check_number,
            _NUMBER,
            ALLOW_NULL_FALSE,
            Option("min", read.number, None),
            Option("max", read.number, None),
            Option("allowDecimal", read.boolean, True),
        ),
        _spec(
            "numberEnum",
            faults.enum_value,
            _check_in(),
            _NUMBER,
            Option("values", read.sized_list(1, 100, read.number), REQUIRED),
        ),
        _spec(
            "allowLevel",
            faults.allow_level,
            _check_allow_level,
            _NUMBER,
            Option("includeNoAllow", read.boolean, False),
            Option("defaultValue", read.level, None),
        ),
        _spec(
            "coordinate",
            faults.invalid_coordinate,
            _check_coordinate,
            _NUMBER,
            *(Option(f"{bound}{axis}", read.number, None) for axis in (0, 1) for bound in ("min", "max")),
            Option("allowDecimal0", read.boolean, True),
            Option("allowDecimal1", read.boolean, True),
            arrays=True,
            scope="array",
        ),
        _spec(
            "date",
            faults.invalid_date,
            _check_date,
            _DATE,
            ALLOW_NULL_FALSE,
            Option("min", _date, None),
            Option("max", _date, None),
        ),
        _spec(
            "dateEnum",
            faults.enum_value,
            _check_date_enum,
            _DATE,
            Option("values", read.sized_list(1, 100, _date), REQUIRED),
        ),
        _spec("dateOfBirth", faults.date_of_birth, _check_date_of_birth, frozenset({"String", "Date"})),
        _spec(
            "idEnum",
            faults.enum_value,
            _check_in(),
            frozenset({"ObjectId"}),
            Option("values", read.sized_list(1, 100, _object_id), REQUIRED),
        ),
        _spec(
            "options",
            faults.enum_value,
            _check_options,
            frozenset({"Date", "String", "Number", "ObjectId"}),
            Option("values", read.sized_list(1, 100, _option_entry), REQUIRED),
        ),
    )
}

# Cortex validators this server does not implement yet: named so the fault says so plainly.
UNSUPPORTED = frozenset(
    {
        "phoneNumber",
        "locale",
        "passwordStrength",
        "authScope",
        "json",
        "jsonSchema",
        "expression",
        "script",
    }
)
