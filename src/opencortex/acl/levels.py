"""Cortex's access levels."""

from __future__ import annotations

from enum import IntEnum


class Access(IntEnum):
    NONE = 0
    PUBLIC = 1
    CONNECTED = 2
    RESERVED = 3
    READ = 4
    SHARE = 5
    UPDATE = 6
    DELETE = 7
    SCRIPT = 8


# The least access that makes an instance visible at all. With Public access a caller sees an
# instance's identity and whatever properties have readAccess 1; custom properties default to
# readAccess 4 (Read).
VISIBLE = Access.PUBLIC

LEVEL_NAMES = {level.name.lower(): level for level in Access if level is not Access.NONE}
