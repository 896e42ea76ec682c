"""Property validators: ``{name, definition}`` entries on a property definition.

``parse_validators`` checks each entry against the catalogue (``validator_catalogue``): a known,
exposed name, a type it applies to, array-ness it allows, and a definition with only known keys.
A parsed ``Validator`` then checks values on every write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from opencortex import faults
from opencortex.faults import FaultKind
from opencortex.model.problems import Problems, child_path
from opencortex.model.properties.options import REQUIRED, Option

# How a validator sees an array property's value: each element, or the whole list.
Scope = Literal["element", "array", "write"]
Check = Callable[[dict[str, Any], Any, str], None]


@dataclass(frozen=True)
class ValidatorSpec:
    """One catalogue entry: which properties it fits, its definition keys, and its check."""

    name: str
    fault: FaultKind
    check: Check | None = None  # None for validators the write logic applies itself (required...)
    types: frozenset[str] | None = None  # None: every type
    keys: tuple[Option, ...] = ()
    arrays: bool | None = None  # True: arrays only; False: never arrays; None: either
    scope: Scope = "element"


@dataclass(frozen=True)
class Validator:
    spec: ValidatorSpec
    definition: dict[str, Any]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def allows_null(self) -> bool:
        """A validator with an ``allowNull`` key rejects null unless it says otherwise."""
        return bool(self.definition.get("allowNull", True))

    def check(self, value: Any, path: str) -> None:
        if self.spec.check is not None:
            self.spec.check(self.definition, value, path)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.spec.name, "definition": dict(self.definition)}


def parse_validators(
    value: Any, path: str, *, type_name: str, array: bool, problems: Problems
) -> tuple[Validator, ...]:
    # Imported here: the catalogue's checks use the readers and date parsing of sibling modules,
    # and keeping the catalogue separate keeps each module small.
    from opencortex.model.properties.validator_catalogue import CATALOGUE, UNSUPPORTED

    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add(faults.invalid_definition("validators is a list of {name, definition}.", path=path))
        return ()
    parsed: list[Validator] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        entry_path = child_path(path, index)
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.add(faults.invalid_definition("A validator is {name, definition}.", path=entry_path))
            continue
        unknown = set(entry) - {"name", "definition", "_id"}
        if unknown:
            key = sorted(unknown)[0]
            problems.add(
                faults.invalid_definition(f"Unknown validator key {key!r}.", path=f"{entry_path}.{key}")
            )
            continue
        name = entry["name"]
        name_path = f"{entry_path}.name"
        spec = CATALOGUE.get(name)
        if spec is None:
            reason = (
                f"The {name} validator is not supported by this server."
                if name in UNSUPPORTED
                else "Unsupported validator."
            )
            problems.add(faults.invalid_definition(reason, path=name_path))
            continue
        if name in seen:
            problems.add(faults.invalid_definition(f"Duplicate validator {name!r}.", path=name_path))
            continue
        seen.add(name)
        if spec.types is not None and type_name not in spec.types:
            problems.add(faults.invalid_definition("Unsupported type for validator.", path=name_path))
            continue
        if spec.arrays is True and not array:
            problems.add(faults.invalid_definition(f"{name}: Property must be an array.", path=name_path))
            continue
        if spec.arrays is False and array:
            problems.add(faults.invalid_definition(f"{name}: Property cannot be an array.", path=name_path))
            continue
        ok, definition = problems.attempt(
            _read_definition, spec, entry.get("definition"), f"{entry_path}.definition"
        )
        if ok and definition is not None:
            parsed.append(Validator(spec, definition))
    return tuple(parsed)


def _read_definition(spec: ValidatorSpec, value: Any, path: str) -> dict[str, Any]:
    given = {} if value is None else value
    if not isinstance(given, dict):
        raise faults.invalid_definition("A validator definition is an object.", path=path)
    problems = Problems()
    known = {option.key: option for option in spec.keys}
    for key in given:
        if key not in known:
            problems.add(
                faults.invalid_definition(
                    f"Unknown key {key!r} for the {spec.name} validator.", path=f"{path}.{key}"
                )
            )
    definition: dict[str, Any] = {}
    for option in spec.keys:
        if option.key in given:
            ok, cleaned = problems.attempt(option.read, given[option.key], f"{path}.{option.key}")
            if ok:
                definition[option.key] = cleaned
        elif option.default is REQUIRED:
            problems.add(
                faults.invalid_definition(
                    f"The {spec.name} validator needs {option.key}.", path=f"{path}.{option.key}"
                )
            )
        elif option.default is not None:
            definition[option.key] = option.default
    problems.raise_if_any()
    low, high = definition.get("min"), definition.get("max")
    both_numbers = all(isinstance(bound, int | float) for bound in (low, high))
    if (both_numbers or all(isinstance(bound, str) for bound in (low, high))) and low > high:  # type: ignore[operator]
        raise faults.invalid_definition("min must not exceed max.", path=f"{path}.max")
    return definition
