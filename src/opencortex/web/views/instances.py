"""Instances as rows of the console's read-only browser: one cell per property, and the whole
document as the read API returns it (already filtered by the viewer's access)."""

from __future__ import annotations

from typing import Any

from opencortex.model.definitions import ObjectDefinition
from opencortex.web.views.formatting import compact_json, moment, pretty_json

CELL_CHARACTERS = 60


def columns(definition: ObjectDefinition) -> list[str]:
    """The object's own properties that a document can hold (Lists are read through their own route)."""
    return [name for name, prop in definition.properties.items() if not prop.virtual]


def instance_row(document: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {
        "id": document.get("_id"),
        "created": moment(document.get("created")),
        "cells": ["" if name not in document else compact_json(document[name], CELL_CHARACTERS) for name in names],
        "json": pretty_json(document),
    }
