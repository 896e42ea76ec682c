"""The benchmark runs end to end on a tiny data set (SQLite, one run) and writes its report.

No timing is asserted: only that every pipeline ran, exported what it should and was reported.
"""

from __future__ import annotations

import json
import struct

from bench.chart import Bar, Panel, bar_chart
from bench.run import main


def test_the_benchmark_runs_end_to_end_and_writes_its_report(tmp_path):
    out = tmp_path / "docs"
    messages: list[str] = []
    result = main(["--docs", "200", "--runs", "1", "--db", "sqlite", "--out", str(out),
                   "--workdir", str(tmp_path / "work")], log=messages.append)

    rows = {row["key"]: row for row in result["rows"]}
    assert set(rows) == {"ndjson", "json", "csv", "expand", "where", "principal", "passthrough", "reencode",
                         "sqlite3"}
    for key in ("ndjson", "json", "csv", "expand", "passthrough", "reencode"):
        assert rows[key]["docs"] == 200 and rows[key]["docs_per_s"] > 0, rows[key]
    assert rows["principal"]["docs"] == 100  # the monitor is granted every other patient
    assert 0 < rows["where"]["docs"] < 200
    for key in ("ndjson", "csv", "principal"):
        assert rows[key]["peak_rss_mib"] > 0 and rows[key]["archive_mb"] > 0
    assert rows["reencode"]["vs_reencode"] == 1.0
    assert result["import"]["docs_per_s"] > 0

    page = (out / "benchmarks.md").read_text()
    assert "### SQLite, 200 documents" in page and "**export NDJSON**" in page and "re-encode limit" in page
    stored = json.loads((out / "benchmarks.json").read_text())
    assert [(item["db"], item["docs"]) for item in stored] == [("sqlite", 200)]
    png = (out / "benchmarks.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert width > 400 and height > 100
    assert not (tmp_path / "work").exists()  # the data set is removed unless --keep


def test_a_rerun_keeps_the_hand_written_text_and_other_result_sets(tmp_path):
    from bench.report import END, START, save_results

    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nMethod by hand.\n\n{START}\nold figures\n{END}\n\n## Profile\n\nBy hand too.\n")
    row = {"key": "reencode", "label": "re-encode limit", "kind": "reference", "docs": 10, "runs": [1.0],
           "seconds": 1.0, "docs_per_s": 10.0, "mb_per_s": 1.0, "data_mb": 1.0, "archive_mb": 0.5,
           "cpu_seconds": 1.0, "cpu_docs_per_s": 10.0, "peak_rss_mib": None, "rss_growth_mib": None, "note": "",
           "vs_reencode": 1.0}
    base = {"runs": 1, "when": "today", "machine": {"cpu": "x", "nproc": 2, "memory_gib": 1.0, "kernel": "k",
                                                     "python": "3", "sqlite": "3"},
            "load_before": [1.0], "load_after": [1.0],
            "import": {"seconds": 1.0, "docs_per_s": 10.0, "cpu_docs_per_s": 10.0}, "rows": [row]}
    save_results(tmp_path, {**base, "db": "postgres", "docs": 10})
    save_results(tmp_path, {**base, "db": "sqlite", "docs": 10})
    text = page.read_text()
    assert "Method by hand." in text and "## Profile\n\nBy hand too." in text and "old figures" not in text
    assert text.index("### SQLite, 10 documents") < text.index("### PostgreSQL, 10 documents")


def test_the_chart_is_a_valid_png(tmp_path):
    path = tmp_path / "chart.png"
    bar_chart([Panel("SQLite, 10 docs", [Bar("NDJSON", 10.0, "10", (0, 0, 255)), Bar("Zero", 0.0, "0", (0, 0, 0))])],
              path, title="Title: docs/s")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
