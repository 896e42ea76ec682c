"""Naming rules for objects and properties.

Custom names carry the ``c_`` prefix; namespaced names (``ns__name``, seen in real orgs) are
accepted too. Object names are lower-cased (Cortex lower-cases ``sourceObject`` and object names);
property names keep their case, because real orgs use camelCase (``c_dateOfBirth``).
"""

from __future__ import annotations

import re

NAME_MAX = 40
PLURAL_MAX = 64  # the width of object_definitions.plural_name

_OBJECT_NAME = re.compile(r"^(c_|[a-z][a-z0-9]{0,15}__)[a-z0-9_]+$")
_PROPERTY_NAME = re.compile(r"^(c_|[a-z][a-z0-9]{0,15}__)[A-Za-z0-9_]+$")

# Names the server itself gives meaning to on every instance; a property can never use them,
# even with a prefix-less spelling, and saying "reserved" is clearer than "needs a c_ prefix".
RESERVED_PROPERTY_NAMES = frozenset(
    {
        "_id",
        "object",
        "type",
        "created",
        "updated",
        "owner",
        "creator",
        "updater",
        "acl",
        "access",
        "accessRoles",
        "aclv",
        "sequence",
        "ETag",
        "hasETag",
        "favorite",
        "connections",
        "posts",
        "audit",
        "shared",
        "idx",
        "did",
        "org",
        "locales",
        "facets",
    }
)

# Standard objects that exist in every org; a Reference may point at them.
STANDARD_OBJECTS = frozenset(
    {
        "account",
        "org",
        "connection",
        "notification",
        "object",
        "export",
        "log",
        "stat",
        "event",
        "room",
        "script",
        "view",
        "deployment",
        "serviceaccount",
    }
)


def object_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a custom object, or None when it can."""
    if len(name) > NAME_MAX:
        return f"Object names are at most {NAME_MAX} characters."
    if not _OBJECT_NAME.match(name):
        return (
            "Custom object names start with c_ (or a namespace and __), then lowercase letters, digits and _."
        )
    return None


def plural_name_problem(name: str) -> str | None:
    if len(name) > PLURAL_MAX:
        return f"Plural names are at most {PLURAL_MAX} characters."
    if not _OBJECT_NAME.match(name):
        return "Plural names start with c_ (or a namespace and __), then lowercase letters, digits and _."
    return None


def property_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a custom property, or None when it can."""
    if name in RESERVED_PROPERTY_NAMES:
        return f"{name!r} is a reserved property name."
    if len(name) > NAME_MAX:
        return f"Property names are at most {NAME_MAX} characters."
    if not _PROPERTY_NAME.match(name):
        return "Custom property names start with c_ (or a namespace and __), then letters, digits and _."
    return None


def default_plural(name: str) -> str:
    """English plural of an object name, as the route segment (``c_study`` -> ``c_studies``)."""
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou_":
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "z", "ch", "sh")):
        return name + "es"
    return name + "s"
