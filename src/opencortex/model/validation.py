"""Validating instance writes against an object definition.

``validate_create`` and ``validate_update`` return the body to store (JSON-safe: dates are ISO
strings, references and ids hex strings, so it goes into ``documents.body`` as is). Every
problem of one write is collected into one ``validation_failed`` fault with a child per path.

System properties are not writable through a body and are rejected with a path (Cortex keeps
them read-only; a silent drop would hide client mistakes). ``type`` is the exception: it picks
the object type on create and must be left alone (or repeated unchanged) on update.

Creates go through a compiled plan first (``properties.compiled``: per object type, everything
that does not depend on the value is decided once), which only ever succeeds with the body the
reference path (``validate_create_reference``: ``write_fields`` and each property's ``coerce``)
would store. Any body it does not accept whole goes to the reference path, so every fault is the
reference's own.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

from opencortex import faults
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.names import RESERVED_PROPERTY_NAMES
from opencortex.model.problems import Problems
from opencortex.model.properties import MISSING, PropertyDefinition, WriteContext, write_fields
from opencortex.model.properties.compiled import LevelWriter, SlowPath, compile_level

SYSTEM_PROPERTIES = RESERVED_PROPERTY_NAMES - {"type"}


def validate_create(
    definition: ObjectDefinition,
    body: Any,
    *,
    type_name: str | None = None,
    env: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of a new instance: values coerced, defaults applied, required ones present.

    ``type_name`` (or ``type`` in the body) selects the object type; it is required when the
    object has types. ``env`` supplies runtime defaults such as ``ac.principal``.
    """
    try:
        return compiled_create(definition, body, type_name, WriteContext(env or {}))
    except Exception:  # noqa: BLE001, S110 (a fault or anything unusual: the reference decides, and reports)
        pass
    return validate_create_reference(definition, body, type_name=type_name, env=env)


def compiled_create(definition: ObjectDefinition, body: Any, type_name: str | None,
                    ctx: WriteContext) -> dict[str, Any]:
    """``validate_create`` by the compiled plan alone: the same stored body, or ``SlowPath`` (or a
    fault, or any other error) when the body needs the reference path. Never mutates ``body``."""
    if type(body) is not dict:
        raise SlowPath("body")
    given_type = body.get("type", MISSING)
    if given_type is not MISSING and type_name is not None and given_type != type_name:
        raise SlowPath("type")
    chosen = type_name if type_name is not None else (None if given_type is MISSING else given_type)
    return create_plan(definition, chosen)(body, "", ctx, {})


def create_plan(definition: ObjectDefinition, type_name: Any = None) -> LevelWriter:
    """The compiled top level of a create of ``type_name`` (None: an object without types);
    ``SlowPath`` when that type is missing or wrong (the reference reports it). Compiled once
    per definition (and type) and kept while the definition lives."""
    if definition.object_types:
        if type(type_name) is not str or type_name not in definition.object_types:
            raise SlowPath("type")
    elif type_name is not None:
        raise SlowPath("type")
    key = id(definition)
    cached = _PLANS.get(key)
    if cached is None or cached[0] is not definition.properties or cached[1] is not definition.object_types:
        cached = (definition.properties, definition.object_types, {})
        if key not in _PLANS:
            weakref.finalize(definition, _PLANS.pop, key, None)
        _PLANS[key] = cached
    plans = cached[2]
    plan = plans.get(type_name)
    if plan is None:
        properties = definition.properties_for(type_name) if type_name is not None else definition.properties
        plan = plans[type_name] = compile_level(properties, skip="type", exclude=SYSTEM_PROPERTIES)
    return plan


# id(definition) -> (its properties, its object types, {type name: compiled plan}); an entry goes
# when its definition is collected, and is rebuilt if the definition's property maps are replaced.
_PLANS: dict[int, tuple[Any, Any, dict[Any, LevelWriter]]] = {}


def validate_create_reference(
    definition: ObjectDefinition,
    body: Any,
    *,
    type_name: str | None = None,
    env: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``validate_create`` the long way, problem by problem: the reference for every fault."""
    problems = Problems()
    body = _as_object(body)
    given_type = body.pop("type", MISSING)
    if given_type is not MISSING and type_name is not None and given_type != type_name:
        problems.add(faults.invalid_value("type does not match the requested type.", path="type"))
    chosen = type_name if type_name is not None else (None if given_type is MISSING else given_type)
    before = problems.total
    properties = _properties(definition, chosen, problems)
    type_failed = problems.total > before
    fields = _without_system(
        body, problems, ignore=_type_names(definition, properties) if type_failed else frozenset()
    )
    result = write_fields(properties, fields, MISSING, "", WriteContext(env or {}), problems)
    problems.raise_if_any()
    return result


def validate_update(
    definition: ObjectDefinition,
    stored: Mapping[str, Any],
    body: Any,
    *,
    type_name: str | None = None,
    env: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stored body with ``body``'s changes applied; ``type_name`` is the instance's type."""
    problems = Problems()
    body = _as_object(body)
    given_type = body.pop("type", MISSING)
    if given_type is not MISSING and given_type != type_name:
        problems.add(faults.property_update_denied("An instance's type cannot change.", path="type"))
    properties = _properties(definition, type_name, problems)
    fields = _without_system(body, problems, ignore=frozenset())
    result = write_fields(properties, fields, dict(stored), "", WriteContext(env or {}), problems)
    problems.raise_if_any()
    return result


def serialise_body(
    definition: ObjectDefinition, stored: Mapping[str, Any], *, type_name: str | None = None
) -> dict[str, Any]:
    """Stored values as reads show them, for every readable property. ACLs, ``optional`` and
    ``paths``/``include`` are the read layer's business; this only converts values."""
    properties = (
        definition.properties_for(type_name)
        if type_name in definition.object_types
        else definition.properties
    )
    out: dict[str, Any] = {}
    for key, value in stored.items():
        prop = properties.get(key)
        if prop is not None and prop.readable and not prop.virtual:
            out[key] = prop.serialise(value)
    return out


def _as_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise faults.validation_failed(faults=[faults.invalid_value("The body must be a JSON object.")])
    return dict(body)


def _properties(
    definition: ObjectDefinition, type_name: Any, problems: Problems
) -> dict[str, PropertyDefinition]:
    """The properties of the chosen type; the base ones when the type is missing or wrong
    (after recording why), so the rest of the body is still checked in the same answer."""
    if definition.object_types:
        if type_name is None:
            problems.add(
                faults.required(
                    "type is required: one of " + ", ".join(definition.object_types) + ".", path="type"
                )
            )
        elif not isinstance(type_name, str) or type_name not in definition.object_types:
            problems.add(faults.enum_value("One of: " + ", ".join(definition.object_types), path="type"))
        else:
            return definition.properties_for(type_name)
    elif type_name is not None:
        problems.add(faults.invalid_value(f"{definition.name} has no object types.", path="type"))
    return dict(definition.properties)


def _type_names(definition: ObjectDefinition, chosen: Mapping[str, PropertyDefinition]) -> frozenset[str]:
    """Names that belong to some object type but not to the properties in use: when the type is
    missing or wrong, those keys are not reported as unknown on top of the type fault."""
    names = {name for object_type in definition.object_types.values() for name in object_type.properties}
    return frozenset(names - set(chosen))


def _without_system(body: dict[str, Any], problems: Problems, ignore: frozenset[str]) -> dict[str, Any]:
    """``body`` (a private copy) without system properties, each refused, nor ``ignore``d keys."""
    if not any(key in body for key in SYSTEM_PROPERTIES) and not any(key in body for key in ignore):
        return body  # the common case, and a huge body is not walked in Python
    fields: dict[str, Any] = {}
    for key, value in body.items():
        if key in SYSTEM_PROPERTIES:
            problems.add(faults.property_update_denied(f"{key} is a read-only system property.", path=key))
        elif key not in ignore:
            fields[key] = value
    return fields
