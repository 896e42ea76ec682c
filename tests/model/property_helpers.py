"""Helpers shared by the property tests: build one property, and catch a fault's child paths."""

from __future__ import annotations

from typing import Any

from opencortex.faults import Fault
from opencortex.model.problems import Problems
from opencortex.model.properties import PropertyDefinition, parse_property


def make(type_name: str, name: str = "c_value", **options: Any) -> PropertyDefinition:
    problems = Problems()
    prop = parse_property(
        {"name": name, "label": "Value", "type": type_name, **options}, "properties[0]", problems
    )
    problems.raise_if_any()
    assert prop is not None
    return prop


def definition_faults(type_name: str | None, **options: Any) -> list[tuple[str | None, str]]:
    """(path, errCode) of every problem in a one-property definition."""
    data: dict[str, Any] = {"name": "c_value", "label": "Value", **options}
    if type_name is not None:
        data["type"] = type_name
    problems = Problems()
    parse_property(data, "properties[0]", problems)
    return [(fault.path, fault.err_code) for fault in problems.faults]


def leaves(fault: Fault) -> list[tuple[str | None, str]]:
    """(path, errCode) of a fault's children, or of the fault itself when it has none."""
    if fault.faults:
        return [pair for child in fault.faults for pair in leaves(child)]
    return [(fault.path, fault.err_code)]
