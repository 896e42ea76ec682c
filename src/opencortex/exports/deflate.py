"""Raw deflate and CRC-32 for the zip writer: ISA-L when installed, the standard zlib otherwise.

ISA-L (``isal.isal_zlib``) offers levels 0-3; at level 1 it deflates JSON about 2.4 times faster
than zlib's level 1 to the same size. zlib offers 0-9; its level 6 makes JSON archives a quarter
smaller at about 6 times ISA-L level 1's cost. Measured figures are in ``docs/exports.md``.

A deflate stream can also be made in pieces (``end_segment``): each piece deflated by a fresh
compressor and ended on a byte boundary without a final block, so that pieces made apart (the
shards of a sharded export, ``exports.sharding``) joined in order, then a final block, are one
valid stream. ``inflate`` reads such pieces back, with bounded memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
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


SYNC_FLUSH = zlib.Z_SYNC_FLUSH  # the same value in ISA-L
_INFLATE_CHUNK = 256 * 1024  # at most this much inflated at once, whatever the compression ratio


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


class Decompressor(Protocol):
    unconsumed_tail: bytes
    unused_data: bytes
    eof: bool

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


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


def end_segment(compressor: Compressor) -> bytes:
    """What ends a piece of a deflate stream: everything compressed so far, then an empty stored
    block that ends on a byte boundary, and no final block, so another piece can follow. The
    compressor must not be used for the next piece: its window would refer back across the join."""
    return compressor.flush(SYNC_FLUSH)


def inflate(chunks: Iterable[bytes], *, final: bool = False) -> Iterator[bytes]:
    """The bytes a raw deflate piece holds, at most ``_INFLATE_CHUNK`` at a time. ``final``: the
    piece ends the stream (its last block is final); otherwise it must not end it (a final block
    inside a piece would end the joined stream early). ``ValueError`` when the piece is not that."""
    decompressor: Decompressor = (_isal or zlib).decompressobj(-15)
    for chunk in chunks:
        data = chunk
        while data:
            if decompressor.eof:
                raise ValueError("the deflate piece has data after its final block")
            plain = decompressor.decompress(data, _INFLATE_CHUNK)
            data = decompressor.unconsumed_tail
            if plain:
                yield plain
    if decompressor.unused_data:
        raise ValueError("the deflate piece has data after its final block")
    if decompressor.eof != final:
        raise ValueError("the deflate piece ends the stream" if decompressor.eof
                         else "the deflate piece is cut short")
