"""Raw deflate and CRC-32 for the zip writer: ISA-L when installed, the standard zlib otherwise.

ISA-L (``isal.isal_zlib``) offers levels 0-3; at level 1 it deflates JSON about 2.4 times faster
than zlib's level 1 to the same size. zlib offers 0-9; its level 6 makes JSON archives a quarter
smaller at about 6 times ISA-L level 1's cost. Measured figures are in ``docs/exports.md``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Protocol

_isal: ModuleType | None
try:
    from isal import isal_zlib as _isal
except ImportError:  # isal is optional: the standard zlib is always there
    _isal = None

DEFAULT_LEVEL = 1
BACKENDS = ("auto", "isal", "zlib")

crc32: Callable[[bytes, int], int] = _isal.crc32 if _isal is not None else zlib.crc32


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


def isal_available() -> bool:
    return _isal is not None


def compressor_factory(level: int, backend: str = "auto") -> tuple[str, Callable[[], Compressor]]:
    """``(backend used, factory of raw-deflate compressors)``. ``auto`` picks ISA-L when it is
    importable and ``level`` is one of its levels (0-3), else zlib."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown deflate backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "isal" and _isal is None:
        raise ValueError("the isal package is not installed")
    isal = _isal
    if isal is not None and (backend == "isal" or (backend == "auto" and 0 <= level <= 3)):
        if not 0 <= level <= 3:
            raise ValueError(f"ISA-L deflate levels are 0-3, not {level}")
        # wbits -15: raw deflate, no zlib header or trailer, which is what a zip entry holds.
        return "isal", lambda: isal.compressobj(level, isal.DEFLATED, -15)
    if not 0 <= level <= 9:
        raise ValueError(f"zlib deflate levels are 0-9, not {level}")
    return "zlib", lambda: zlib.compressobj(level, zlib.DEFLATED, -15)
