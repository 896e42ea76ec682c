"""Writing a set of named properties: an instance body, or one Document value inside it.

The same rules hold at every level: unknown names, virtual and read-only properties, creatable
properties after creation, ``writeOnce``, defaults and ``required``. A level is "new" when
nothing was stored for it before; that is what makes ``creatable`` properties writable and
defaults apply, exactly as for a new document-array element in Cortex.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opencortex import faults
from opencortex.model.problems import Problems, child_path
from opencortex.model.properties.base import MISSING, PropertyDefinition, WriteContext


def write_fields(
    properties: Mapping[str, PropertyDefinition],
    body: Mapping[str, Any],
    previous: Any,
    prefix: str,
    ctx: WriteContext,
    problems: Problems,
) -> dict[str, Any]:
    """``previous`` merged with ``body``; every bad path is added to ``problems``."""
    creating = not isinstance(previous, Mapping)
    result: dict[str, Any] = {} if creating else dict(previous)
    failed: set[str] = set()  # keys already reported: "required" on top would only repeat it

    def write(key: str, prop: PropertyDefinition, value: Any) -> None:
        path = child_path(prefix, key)
        denial = _write_denial(prop, creating, result.get(key))
        if denial is not None:
            problems.add(denial(path))
            failed.add(key)
            return
        ok, cleaned = problems.attempt(prop.coerce, value, path, ctx, result.get(key, MISSING))
        if ok:
            result[key] = cleaned
        else:
            failed.add(key)

    seen: list[str] = []
    for position, (key, value) in enumerate(body.items()):
        prop = properties.get(key)
        if prop is not None:
            seen.append(key)
            write(key, prop, value)
        elif not problems.full:
            problems.add(faults.property_not_found(f"{key} is not a property here.", path=child_path(prefix, key)))
        else:
            # Past the fault cap (a body of 740,000 unknown keys...): count the unknown keys left
            # without a fault (or even a look) each, and still check the known ones, whose
            # faults are only counted.
            known = [name for name in properties if name in body and name not in seen]
            problems.count(faults.property_not_found, len(body) - position - len(known))
            for name in known:
                write(name, properties[name], body[name])
            break
    if creating:
        for key, prop in properties.items():
            if key not in result and not prop.virtual:
                ok, default = problems.attempt(prop.resolve_default, ctx)
                if ok and default is not MISSING:
                    result[key] = default
    for key, prop in properties.items():
        # On update only what this write touches is checked: older data may predate the rule.
        if prop.required and key not in failed and (creating or key in body) and _is_empty(result.get(key)):
            problems.add(faults.required("Required property.", path=child_path(prefix, key)))
    return result


def _write_denial(prop: PropertyDefinition, creating: bool, stored: Any) -> Any:
    """A fault factory when this write may not touch ``prop``, else None."""
    if prop.virtual:
        return lambda path: faults.property_update_denied(
            f"{prop.type_name} properties cannot be written.", path=path
        )
    if not prop.writable:
        return lambda path: faults.property_update_denied("This property is not writable.", path=path)
    if not creating and prop.creatable:
        return lambda path: faults.creatable_only("This property can only be set on create.", path=path)
    if creating and prop.array and not prop.options["writeOnCreate"]:
        return lambda path: faults.property_update_denied(
            "This array cannot be written on create.", path=path
        )
    if not creating and prop.validator("writeOnce") and stored is not None:
        return lambda path: faults.write_once("Value can only be set once.", path=path)
    return None


def _is_empty(value: Any) -> bool:
    return value is None or value == [] or value == ""
