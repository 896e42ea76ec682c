"""Who reads which range of a sharded export (``exports.shard_pool.RangeClaims``): the worker a
prefix, in order; the shard processes upward from a split placed where the worker's reading plus
its join of the rest matches their reading of the rest, then downward until they meet."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from opencortex.exports.shard_pool import JOIN_SHARE, RangeClaims


def worker_takes(claims: RangeClaims, count: int) -> list[int]:
    return [index for _ in range(count) if (index := claims.next_for_worker()) is not None]


def test_two_processes_split_about_half_and_shards_go_upward() -> None:
    claims = RangeClaims([100] * 16, shard_processes=1)
    assert worker_takes(claims, 2) == [0, 1]
    # The worker has 50 documents of range 1 left when the shard process asks.
    first = claims.next_for_shard(worker_unread=50)
    # Split at 8: the worker reads 50 + 600 and joins 800 (as 96), against 800 read by the shard
    # process (at 9: 834 against 700).
    assert claims.split == first == 8
    assert [claims.next_for_shard() for _ in range(7)] == [9, 10, 11, 12, 13, 14, 15]
    assert worker_takes(claims, 20) == [2, 3, 4, 5, 6, 7]
    assert claims.next_for_shard() is None
    assert list(claims.after_worker()) == list(range(8, 16))


def test_many_processes_leave_the_worker_joining() -> None:
    # With 15 shard processes the join of their output outweighs any reading of the worker's.
    assert JOIN_SHARE > 1 / 15
    claims = RangeClaims([10] * 128, shard_processes=15)
    assert worker_takes(claims, 1) == [0]
    assert claims.next_for_shard(worker_unread=5) == 1
    assert claims.next_for_worker() is None
    assert list(claims.after_worker()) == list(range(1, 128))


def test_shards_that_run_ahead_take_ranges_below_the_split_downward() -> None:
    claims = RangeClaims([100] * 8, shard_processes=1)
    assert worker_takes(claims, 1) == [0]
    assert claims.next_for_shard(worker_unread=100) == 4
    assert [claims.next_for_shard() for _ in range(5)] == [5, 6, 7, 3, 2]
    assert worker_takes(claims, 8) == [1]  # then range 2 is a shard process's
    assert claims.next_for_shard() is None
    assert list(claims.after_worker()) == [2, 3, 4, 5, 6, 7]


def test_a_worker_that_read_everything_leaves_nothing() -> None:
    claims = RangeClaims([5, 5, 5], shard_processes=2)
    assert worker_takes(claims, 5) == [0, 1, 2]
    assert claims.next_for_shard() is None and claims.split is None
    assert list(claims.after_worker()) == []


def test_a_split_for_fewer_readers_than_planned() -> None:
    # Three shard processes planned, one stale: the split is placed for the two that can read,
    # so the worker reads more.
    two = RangeClaims([100] * 24, shard_processes=3)
    three = RangeClaims([100] * 24, shard_processes=3)
    assert two.next_for_shard(readers=2) == 7 and three.next_for_shard() == 4


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=40),
       st.lists(st.sampled_from(["worker", "shard"]), max_size=120),
       st.integers(min_value=1, max_value=16), st.integers(min_value=0, max_value=100))
def test_every_range_is_read_once_and_the_worker_reads_a_prefix(documents: list[int], turns: list[str],
                                                                  shards: int, unread: int) -> None:
    claims = RangeClaims(documents, shard_processes=shards)
    worker: list[int] = []
    shard: list[int] = []
    for turn in turns:
        if turn == "worker":
            if (index := claims.next_for_worker()) is not None:
                worker.append(index)
        elif (index := claims.next_for_shard(worker_unread=unread)) is not None:
            shard.append(index)
    # Then each goes on until it is told there is nothing left (the worker first, as it does).
    while (index := claims.next_for_worker()) is not None:
        worker.append(index)
    while (index := claims.next_for_shard()) is not None:
        shard.append(index)
    assert worker == list(range(len(worker)))
    assert sorted(worker + shard) == list(range(len(documents)))
    assert list(claims.after_worker()) == sorted(shard)
    if claims.split is not None:
        upward = [index for index in shard if index >= claims.split]
        assert shard[:len(upward)] == upward == sorted(upward)  # upward first, in order
        below = shard[len(upward):]
        assert below == sorted(below, reverse=True)


def test_without_a_join_to_overlap_the_split_only_balances_the_reading() -> None:
    claims = RangeClaims([100] * 32, shard_processes=1, join_share=0.0)
    assert claims.next_for_shard() == 16
