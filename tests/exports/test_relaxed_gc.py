"""``relaxed_gc``: raised thresholds while any export runs, the old ones back after the last."""

from __future__ import annotations

import gc

import pytest

from opencortex.exports.relaxed_gc import EXPORT_THRESHOLDS, relaxed_gc


def test_thresholds_raised_while_exports_run_and_restored_after_the_last():
    before = gc.get_threshold()
    assert before != EXPORT_THRESHOLDS
    with relaxed_gc():
        assert gc.get_threshold() == EXPORT_THRESHOLDS
        with relaxed_gc():  # a second, overlapping export
            assert gc.get_threshold() == EXPORT_THRESHOLDS
        assert gc.get_threshold() == EXPORT_THRESHOLDS  # the first still runs
    assert gc.get_threshold() == before


def test_restored_when_an_export_fails():
    before = gc.get_threshold()
    with pytest.raises(ValueError), relaxed_gc():
        raise ValueError("boom")
    assert gc.get_threshold() == before
