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
    """An accumulator of child faults; ``raise_if_any`` turns them into one fault.

    It keeps the first ``MAX_CHILD_FAULTS`` and only counts the rest (the fault lists no more),
    and says so through ``full``, so that callers facing many bad paths can count them cheaply
    (``count``) instead of building a fault for each.
    """

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.omitted = 0
        self.omitted_kind: faults.FaultKind | None = None

    def __bool__(self) -> bool:
        return bool(self.faults) or self.omitted > 0

    @property
    def total(self) -> int:
        return len(self.faults) + self.omitted

    @property
    def full(self) -> bool:
        return len(self.faults) >= faults.MAX_CHILD_FAULTS

    def add(self, fault: Fault) -> None:
        if fault.kind is faults.validation_failed and (fault.faults or fault.omitted):
            for child in fault.faults:
                self._keep(child)
            self.count(fault.omitted_kind or fault.kind, fault.omitted)
        else:
            self._keep(fault)

    def absorb(self, other: Problems) -> None:
        """Everything ``other`` holds, kept or counted."""
        for fault in other.faults:
            self._keep(fault)
        self.count(other.omitted_kind or faults.validation_failed, other.omitted)

    def count(self, kind: faults.FaultKind, number: int = 1) -> None:
        """Note ``number`` faults of ``kind`` that will not be listed."""
        if number and self.omitted_kind is None:
            self.omitted_kind = kind
        self.omitted += number

    def _keep(self, fault: Fault) -> None:
        if self.full:
            self.count(fault.kind)
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
        if self:
            raise faults.validation_failed(
                reason, faults=list(self.faults), omitted=self.omitted, omitted_kind=self.omitted_kind
            )


def child_path(parent: str, key: str | int) -> str:
    """``parent.key`` for names, ``parent[3]`` for positions; a bare key at the root."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key
