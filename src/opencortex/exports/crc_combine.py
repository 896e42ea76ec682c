"""CRC-32 of a concatenation from the CRC-32s of its pieces: ``crc32_combine``.

A sharded export (``exports.sharding``) deflates each shard in its own process and joins the
pieces into one zip entry; the entry's CRC-32 is then combined from the pieces' instead of being
computed again over gigabytes. Python's ``zlib`` does not expose zlib's ``crc32_combine``, so it
is computed here.

The method: the CRC register is a vector over GF(2), and feeding it one zero bit is a linear map
(shift right; if the bit shifted out was 1, xor in the polynomial). Feeding ``n`` zero bytes is
that map raised to the power ``8n``, found by repeated squaring. Because CRC-32 is affine in its
input, ``crc(A + B) = shift(crc(A), len(B)) ^ crc(B)``, where ``shift`` feeds ``len(B)`` zero
bytes; the pre- and post-inversion of CRC-32 cancel out in that identity.

An operator is a tuple of 32 ints: column ``i`` is the image of the register with only bit ``i``
set, so applying it to a register is an xor of the columns of its set bits.
"""

from __future__ import annotations

from functools import lru_cache

_POLYNOMIAL = 0xEDB88320
"""CRC-32 (ISO-HDLC, the zip and gzip one), bit-reversed as the register shifts right."""

Operator = tuple[int, ...]


def _apply(operator: Operator, register: int) -> int:
    """``operator`` times ``register`` over GF(2)."""
    result = 0
    column = 0
    while register:
        if register & 1:
            result ^= operator[column]
        register >>= 1
        column += 1
    return result


def _square(operator: Operator) -> Operator:
    """``operator`` applied twice, as one operator."""
    return tuple(_apply(operator, column) for column in operator)


def _one_zero_bit() -> Operator:
    # Bit 0 shifted out brings the polynomial in; every other bit i moves to bit i - 1.
    return (_POLYNOMIAL, *(1 << bit for bit in range(31)))


@lru_cache(maxsize=64)
def _zero_bytes(power: int) -> Operator:
    """The operator that feeds ``2 ** power`` zero bytes."""
    if power == 0:
        return _square(_square(_square(_one_zero_bit())))  # 8 bits
    return _square(_zero_bytes(power - 1))


def crc32_shift(crc: int, length: int) -> int:
    """``crc`` as the register stands after ``length`` more zero bytes (the part of the combined
    CRC that comes from the first piece)."""
    if length < 0:
        raise ValueError(f"a length is not negative, got {length}")
    crc &= 0xFFFFFFFF
    power = 0
    while length:
        if length & 1:
            crc = _apply(_zero_bytes(power), crc)
        length >>= 1
        power += 1
    return crc


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of ``A + B``, given ``crc1 = crc32(A)``, ``crc2 = crc32(B)`` and ``length2 = len(B)``."""
    return crc32_shift(crc1, length2) ^ (crc2 & 0xFFFFFFFF)
