"""ObjectIds and the well-known ids Cortex gives to roles and principals.

An ObjectId is 24 hex digits, timestamp first, so sorting ids sorts by creation time and
keyset paging on ``_id`` pages in creation order.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time

_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_process_bytes = os.urandom(5)
_counter = itertools.count(int.from_bytes(os.urandom(3), "big"))
_lock = threading.Lock()

# Principals and roles that exist in every org (Cortex's constants).
ANONYMOUS = "000000000000000000000001"
PUBLIC = "000000000000000000000003"  # "any account in the org"
SYSTEM = "000000000000000000000002"
ROLE_ADMINISTRATOR = "000000000000000000000004"
ROLE_PROVIDER = "000000000000000000000005"
ROLE_SUPPORT = "000000000000000000000006"
ROLE_DEVELOPER = "000000000000000000000007"

ROLE_IDS = {
    "administrator": ROLE_ADMINISTRATOR,
    "provider": ROLE_PROVIDER,
    "support": ROLE_SUPPORT,
    "developer": ROLE_DEVELOPER,
}
ROLE_NAMES = {role_id: name for name, role_id in ROLE_IDS.items()}

# A role grants itself and the roles it includes.
ROLE_INCLUDES = {
    ROLE_ADMINISTRATOR: (ROLE_DEVELOPER, ROLE_SUPPORT),
    ROLE_PROVIDER: (),
    ROLE_SUPPORT: (),
    ROLE_DEVELOPER: (),
}


def new_object_id(at: float | None = None) -> str:
    """A fresh ObjectId: 4 bytes of seconds, 5 process bytes, a 3-byte counter."""
    seconds = int(time.time() if at is None else at) & 0xFFFFFFFF
    with _lock:
        count = next(_counter) & 0xFFFFFF
    return (seconds.to_bytes(4, "big") + _process_bytes + count.to_bytes(3, "big")).hex()


def is_object_id(value: object) -> bool:
    return isinstance(value, str) and bool(_OBJECT_ID.match(value))


def expand_roles(role_ids: list[str]) -> list[str]:
    """The roles inherited through the given ones, without the given ones themselves."""
    inherited: list[str] = []
    for role_id in role_ids:
        for included in ROLE_INCLUDES.get(role_id, ()):
            if included not in role_ids and included not in inherited:
                inherited.append(included)
    return inherited
