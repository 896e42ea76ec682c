"""``python -m bench.sharded_export`` runs end to end on a tiny data set (the sharding threshold
lowered), checks that both archives hold the same data entry, and reports every figure.

No timing is asserted: only that every export was sharded, measured and projected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.sharded_export import project

ROOT = Path(__file__).resolve().parents[2]


def test_the_sharded_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    # Enough documents that the worker cannot read them all before its shard process starts
    # (the benchmark fails when it did: there would be nothing to measure).
    command = [sys.executable, "-m", "bench.sharded_export", "--docs", "50000", "--db", "sqlite", "--threshold", "1000",
               "--only", "ndjson", "--processes", "2", "--workdir", str(tmp_path / "work")]
    child = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    rows = {row["key"]: row for row in result["rows"]}
    assert set(rows) == {"ndjson"}
    for row in rows.values():
        assert row["docs"] == 50_000 and row["speedup"] > 0 and row["join_docs_per_cpu_s"] > 0
        assert row["projected_16_docs_per_s"] > 0 and row["worker_peak_rss_mib"] > 0
    assert "| NDJSON |" in child.stdout
    assert "split at range" in child.stderr  # the run's own figures, per export
    assert not (tmp_path / "work").exists()  # the data set is removed unless --keep


def test_the_projection_overlaps_the_join_except_for_csv() -> None:
    row = {"own_docs_per_cpu_s": 100_000.0, "shard_docs_per_cpu_s": 100_000.0, "startup_seconds": 0.0,
           "join_docs_per_cpu_s": 1_000_000.0, "fixed_cpu_seconds": 0.0}
    ndjson = project({**row, "key": "ndjson"}, 1_000_000, 16)
    csv = project({**row, "key": "csv"}, 1_000_000, 16)
    # Joining a million documents takes the worker 1 s; fifteen shard processes read them in
    # 0.67 s. Overlapped the join bounds the export; after a barrier the two add up.
    assert 1.0 <= ndjson < 1.05
    assert csv > ndjson + 0.5
