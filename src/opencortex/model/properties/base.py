"""``PropertyDefinition``: one property of an object, validated from its JSON definition.

Each Cortex type is a subclass that declares its own options and implements ``coerce_value`` (a
client's value -> the stored JSON value) and, when reads differ from storage,
``serialise_element``. Everything common lives here: the base options, array handling (items,
uniqueness, ``maxShift``), ``null``, validators and default values.

Definition paths name the option (``properties[2].min``); value paths name the instance path
(``c_doc.c_tags[1]``). Options that do not fit the type are faults, never silently dropped.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from opencortex import faults
from opencortex.ids import is_object_id, new_object_id
from opencortex.model.names import property_name_problem
from opencortex.model.problems import Problems, child_path
from opencortex.model.properties import options as read
from opencortex.model.properties.options import REQUIRED, Option
from opencortex.model.properties.validators import Validator, parse_validators


class _Missing:
    """The absence of a value (``None`` is a value: JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class WriteContext:
    """What a write knows beyond the body: values for ``env`` defaults such as ``ac.principal``."""

    env: Mapping[str, Any] = field(default_factory=dict)


COMMON_OPTIONS: tuple[Option, ...] = (
    Option("label", read.text(1, 128), REQUIRED),
    Option("description", read.text(0, 1024), ""),
    Option("array", read.boolean, False),
    Option("optional", read.boolean, False),
    Option("indexed", read.boolean, False),
    Option("unique", read.boolean, False),
    Option("readable", read.boolean, True),
    Option("writable", read.boolean, True),
    Option("creatable", read.boolean, False),
    Option("removable", read.boolean, False),
    Option("readAccess", read.level, 4),
    Option("writeAccess", read.level, 6),
    Option("acl", read.acl("property"), []),
    Option("aclOverride", read.boolean, False),
    Option("public", read.boolean, True),
    Option("auditable", read.boolean, False),
    Option("history", read.boolean, False),
    Option("dependencies", read.string_list(20), []),
    Option("include", read.string_list(20), []),
)
ARRAY_OPTIONS: tuple[Option, ...] = (
    Option("uniqueValues", read.boolean, False, array_only=True),
    Option("minItems", read.integer(0, 1000), 0, array_only=True),
    Option("maxItems", read.integer(0, 1000), 100, array_only=True),
    Option("maxShift", read.boolean, False, array_only=True),
    Option("canPush", read.boolean, True, array_only=True),
    Option("canPull", read.boolean, True, array_only=True),
    Option("writeOnCreate", read.boolean, True, array_only=True),
)
_SPECIAL_KEYS = frozenset({"_id", "name", "type", "defaultValue", "validators"})


class PropertyDefinition:
    """A property of some type; subclasses set the class attributes and value handling."""

    type_name: ClassVar[str] = ""
    type_options: ClassVar[tuple[Option, ...]] = ()
    extra_keys: ClassVar[frozenset[str]] = frozenset()  # keys a subclass reads in parse_extra
    indexable: ClassVar[bool] = True
    arrayable: ClassVar[bool] = True
    virtual: ClassVar[bool] = False  # never stored, never written (List)
    static_defaults: ClassVar[bool] = True
    env_defaults: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, id: str, name: str, options: dict[str, Any]) -> None:
        self.id = id
        self.name = name
        self.options = options
        self.validators: tuple[Validator, ...] = ()
        self.default: dict[str, Any] | None = None

    # The options the write and read paths consult, by name.
    @property
    def label(self) -> str:
        return str(self.options["label"])

    @property
    def array(self) -> bool:
        return bool(self.options["array"])

    @property
    def indexed(self) -> bool:
        return bool(self.options["indexed"])

    @property
    def unique(self) -> bool:
        return bool(self.options["unique"])

    @property
    def readable(self) -> bool:
        return bool(self.options["readable"])

    @property
    def writable(self) -> bool:
        return bool(self.options["writable"])

    @property
    def creatable(self) -> bool:
        return bool(self.options["creatable"])

    @property
    def removable(self) -> bool:
        return bool(self.options["removable"])

    @property
    def optional(self) -> bool:
        return bool(self.options["optional"])

    @property
    def required(self) -> bool:
        return self.validator("required") is not None

    def option(self, key: str) -> Any:
        return self.options.get(key)

    def validator(self, name: str) -> Validator | None:
        return next((entry for entry in self.validators if entry.name == name), None)

    # Parsing a definition.
    @classmethod
    def parse(cls, data: Mapping[str, Any], path: str, problems: Problems) -> PropertyDefinition | None:
        """The property described by ``data``, or None after recording every problem in it."""
        local = Problems()
        all_options = COMMON_OPTIONS + ARRAY_OPTIONS + cls.type_options
        known = _SPECIAL_KEYS | cls.extra_keys | {option.key for option in all_options}
        for key in data:
            if key not in known:
                local.add(
                    faults.invalid_definition(
                        f"{key!r} is not an option of {cls.type_name} properties.", path=f"{path}.{key}"
                    )
                )
        prop_id = data.get("_id") or new_object_id()
        if not is_object_id(prop_id):
            local.add(
                faults.invalid_definition("A property _id is a 24-digit hex ObjectId.", path=f"{path}._id")
            )
        name = data.get("name")
        if not isinstance(name, str):
            local.add(faults.required("A property needs a name.", path=f"{path}.name"))
        elif problem := property_name_problem(name):
            local.add(faults.invalid_definition(problem, path=f"{path}.name"))
        values: dict[str, Any] = {}
        for option in all_options:
            option_path = f"{path}.{option.key}"
            if option.key not in data:
                if option.default is REQUIRED:
                    local.add(faults.required(f"A property needs a {option.key}.", path=option_path))
                elif option.default is not None:
                    values[option.key] = copy.deepcopy(option.default)
                continue
            ok, cleaned = local.attempt(option.read, data[option.key], option_path)
            if ok:
                values[option.key] = cleaned
        prop = cls(str(prop_id), name if isinstance(name, str) else "", values)
        # The checks between options need every base option; a bad one was already reported.
        if all(option.key in values for option in COMMON_OPTIONS[1:] + ARRAY_OPTIONS):
            prop._check_common(data, path, local)
            prop.validators = parse_validators(
                data.get("validators"),
                f"{path}.validators",
                type_name=cls.type_name,
                array=prop.array,
                problems=local,
            )
            prop.check_options(path, local)
            prop.parse_extra(data, path, local)
            if "defaultValue" in data and not local:
                prop.default = prop._parse_default(data["defaultValue"], f"{path}.defaultValue", local)
        if local:
            problems.absorb(local)
            return None
        return prop

    def _check_common(self, data: Mapping[str, Any], path: str, problems: Problems) -> None:
        type_name = self.type_name
        if self.array and not self.arrayable:
            problems.add(
                faults.invalid_definition(f"{type_name} properties cannot be arrays.", path=f"{path}.array")
            )
        for key in ("indexed", "unique"):
            if self.options[key] and not self.indexable:
                problems.add(
                    faults.invalid_definition(
                        f"{type_name} properties cannot be {key}.", path=f"{path}.{key}"
                    )
                )
        if self.unique and not self.indexed and self.indexable:
            problems.add(
                faults.invalid_definition("Unique properties must also be indexed.", path=f"{path}.unique")
            )
        if not self.array:
            for option in ARRAY_OPTIONS:
                if option.key in data and self.options.get(option.key) != option.default:
                    problems.add(
                        faults.invalid_definition(
                            f"{option.key} applies only to array properties.", path=f"{path}.{option.key}"
                        )
                    )
        elif self.options["minItems"] > self.options["maxItems"]:
            problems.add(
                faults.invalid_definition("maxItems must be at least minItems.", path=f"{path}.maxItems")
            )
        if self.options["uniqueValues"] and type_name in ("Document", "Any", "Binary", "List"):
            problems.add(
                faults.invalid_definition(
                    f"{type_name} properties cannot have uniqueValues.", path=f"{path}.uniqueValues"
                )
            )

    def check_options(self, path: str, problems: Problems) -> None:
        """Type-specific rules between options; subclasses add theirs."""

    def parse_extra(self, data: Mapping[str, Any], path: str, problems: Problems) -> None:
        """Read keys listed in ``extra_keys`` (a Document's nested properties)."""

    def _parse_default(self, value: Any, path: str, problems: Problems) -> dict[str, Any] | None:
        # Cortex stores defaultValue as a set of at most one {type, value} entry; accept both forms.
        if isinstance(value, list):
            if len(value) > 1:
                problems.add(faults.invalid_definition("defaultValue holds at most one entry.", path=path))
                return None
            if not value:
                return None
            value, path = value[0], f"{path}[0]"
        if not isinstance(value, dict) or set(value) - {"type", "value"} or "value" not in value:
            problems.add(
                faults.invalid_definition("A defaultValue is {type: 'static'|'env', value}.", path=path)
            )
            return None
        kind, given = value.get("type", "static"), value["value"]
        if kind == "static" and self.static_defaults and not self.virtual:
            ok, _ = problems.attempt(self.coerce, given, f"{path}.value")
            return {"type": "static", "value": given} if ok else None
        if kind == "env" and given in self.env_defaults:
            return {"type": "env", "value": given}
        if kind in ("static", "env"):
            allowed = ", ".join(sorted(self.env_defaults)) or "none"
            reason = (
                f"{self.type_name} properties take no static default; env defaults: {allowed}."
                if kind == "static"
                else f"Unknown env default for {self.type_name}; allowed: {allowed}."
            )
            problems.add(faults.invalid_definition(reason, path=f"{path}.value"))
        else:
            problems.add(
                faults.invalid_definition(
                    "defaultValue type is 'static' or 'env' (expressions are not supported).",
                    path=f"{path}.type",
                )
            )
        return None

    # Writing values.
    def coerce(self, value: Any, path: str, ctx: WriteContext | None = None, previous: Any = MISSING) -> Any:
        """A client's value as the stored JSON value, or a fault naming every bad path."""
        ctx = ctx or WriteContext()
        if value is None:
            for entry in self.validators:
                if not entry.allows_null:
                    raise entry.spec.fault("A value is required (null is not allowed).", path=path)
            return None
        if self.array:
            return self._coerce_array(value, path, ctx, previous)
        cleaned = self.coerce_value(value, path, ctx, previous)
        for entry in self.validators:
            if entry.spec.scope == "element":
                entry.check(cleaned, path)
        return cleaned

    def _coerce_array(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> list[Any]:
        if not isinstance(value, list):
            raise faults.invalid_value("An array is expected.", path=path)
        if len(value) > self.options["maxItems"] and not self.options["maxShift"]:
            # Refused whatever its elements hold: checking (and reporting) each of a huge array
            # would only make the answer slow and long.
            raise faults.max_allowed(f"At most {self.options['maxItems']} items are allowed.", path=path)
        problems = Problems()
        cleaned: list[Any] = []
        for index, item in enumerate(value):
            item_path = child_path(path, index)
            if item is None:
                problems.add(faults.invalid_value("Array elements cannot be null.", path=item_path))
                continue
            ok, result = problems.attempt(
                self._coerce_item, item, item_path, ctx, self.previous_element(item, previous)
            )
            if ok:
                cleaned.append(result)
        problems.raise_if_any()
        if len(cleaned) > self.options["maxItems"]:  # only with maxShift (see above)
            cleaned = cleaned[len(cleaned) - self.options["maxItems"] :]  # drop the oldest
        if len(cleaned) < self.options["minItems"]:
            raise faults.min_items(f"At least {self.options['minItems']} items are required.", path=path)
        if self.options["uniqueValues"] or self.validator("uniqueInArray"):
            seen: set[bytes] = set()
            for index, item in enumerate(cleaned):
                key = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
                if key in seen:
                    raise faults.unique_in_array("Array values must be unique.", path=child_path(path, index))
                seen.add(key)
        for entry in self.validators:
            if entry.spec.scope == "array":
                entry.check(cleaned, path)
        return cleaned

    def _coerce_item(self, item: Any, path: str, ctx: WriteContext, previous: Any) -> Any:
        cleaned = self.coerce_value(item, path, ctx, previous)
        for entry in self.validators:
            if entry.spec.scope == "element":
                entry.check(cleaned, path)
        return cleaned

    def previous_element(self, item: Any, previous: Any) -> Any:
        """The stored element an incoming array element updates (Documents match by ``_id``)."""
        return MISSING

    def coerce_value(self, value: Any, path: str, ctx: WriteContext, previous: Any) -> Any:
        raise NotImplementedError(self.type_name)

    def resolve_default(self, ctx: WriteContext | None = None) -> Any:
        """The default for a new instance, or MISSING when there is none (or env lacks it)."""
        if self.default is None:
            return MISSING
        ctx = ctx or WriteContext()
        if self.default["type"] == "static":
            return self.coerce(copy.deepcopy(self.default["value"]), self.name, ctx)
        value = self.env_default(self.default["value"], ctx)
        if value is MISSING or not self.array or isinstance(value, list):
            return value
        return [value]

    def env_default(self, name: str, ctx: WriteContext) -> Any:
        """A named runtime default; types with built-in names (``now``, ``auto``) override."""
        return ctx.env.get(name, MISSING)

    # Reading values.
    def serialise(self, stored: Any) -> Any:
        """The stored value as the API shows it."""
        if stored is None:
            return None
        if self.array and isinstance(stored, list):
            return [self.serialise_element(item) for item in stored]
        return self.serialise_element(stored)

    def serialise_element(self, stored: Any) -> Any:
        return stored

    def to_json(self) -> dict[str, Any]:
        """The definition as the API shows it: every option, defaults filled in."""
        out: dict[str, Any] = {"_id": self.id, "name": self.name, "type": self.type_name}
        for option in COMMON_OPTIONS + (ARRAY_OPTIONS if self.array else ()) + self.type_options:
            if option.key in self.options:
                out[option.key] = copy.deepcopy(self.options[option.key])
        out["defaultValue"] = [dict(self.default)] if self.default else []
        out["validators"] = [entry.to_json() for entry in self.validators]
        return out
