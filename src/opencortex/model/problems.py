"""Collecting every bad path of one write (or one definition) into a single fault.

Cortex answers a bad write with one ``validation_failed`` fault whose children each name one bad
path, so a client can mark every field at once. Code below raises ordinary ``Fault``s (or a
``validation_failed`` carrying several children); ``Problems`` flattens them into one list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from opencortex import faults
from opencortex.faults import Fault

T = TypeVar("T")


class Problems:
    """An accumulator of child faults; ``raise_if_any`` turns them into one fault."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def __bool__(self) -> bool:
        return bool(self.faults)

    def add(self, fault: Fault) -> None:
        if fault.kind is faults.validation_failed and fault.faults:
            self.faults.extend(fault.faults)
        else:
            self.faults.append(fault)

    def attempt(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[bool, T | None]:
        """Run ``action``; on a fault, record it and report failure instead of raising."""
        try:
            return True, action(*args, **kwargs)
        except Fault as fault:
            self.add(fault)
            return False, None

    def raise_if_any(self, reason: str | None = None) -> None:
        if self.faults:
            raise faults.validation_failed(reason, faults=list(self.faults))


def child_path(parent: str, key: str | int) -> str:
    """``parent.key`` for names, ``parent[3]`` for positions; a bare key at the root."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key
