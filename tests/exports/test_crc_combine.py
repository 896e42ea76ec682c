"""``crc32_combine``: the CRC-32 of a concatenation from its pieces' CRC-32s, as zlib computes it."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opencortex.exports.crc_combine import crc32_combine, crc32_shift


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_two_pieces_combine_to_the_crc_of_their_concatenation(first: bytes, second: bytes) -> None:
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=700), max_size=12))
def test_any_number_of_pieces_fold_left(pieces: list[bytes]) -> None:
    combined = 0  # the CRC-32 of nothing
    for piece in pieces:
        combined = crc32_combine(combined, zlib.crc32(piece), len(piece))
    assert combined == zlib.crc32(b"".join(pieces))


@pytest.mark.parametrize("length", [1, 255, 4096, 65_537, 3_000_001])
def test_long_runs_use_every_power_of_the_shift(length: int) -> None:
    # A long second piece exercises the squared operators up to 2**21 bytes and their mix.
    first, second = b"opencortex shard ", bytes(range(256)) * (length // 256) + b"z" * (length % 256)
    assert len(second) == length
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), length) == zlib.crc32(first + second)


def test_an_empty_second_piece_changes_nothing() -> None:
    assert crc32_combine(0xDEADBEEF, 0, 0) == 0xDEADBEEF
    assert crc32_shift(0x12345678, 0) == 0x12345678


def test_a_negative_length_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        crc32_shift(1, -1)
